"""Frozen entry point of the app bundle's ``vessel-segment`` (see ``bundle/vessel.spec``)."""

from runtime.segment import main

if __name__ == "__main__":
    raise SystemExit(main())
