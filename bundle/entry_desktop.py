"""Frozen entry point of the app bundle's ``vessel-desktop`` (see ``bundle/vessel.spec``)."""

from desktop.app import main

if __name__ == "__main__":
    raise SystemExit(main())
