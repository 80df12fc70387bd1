"""``python -m desktop``: start the vessel segmentation window."""

from desktop.app import main

if __name__ == "__main__":
    raise SystemExit(main())
