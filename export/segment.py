"""``python -m export.segment``: an alias of the runtime's segment CLI (:mod:`runtime.segment`)."""

from runtime.segment import main

if __name__ == "__main__":
    raise SystemExit(main())
