"""Exceptions that describe bad user input in one line (file and problem), plus the CLI guard."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., int])


class UserInputError(Exception):
    """A problem with what the user gave us (a file, a folder, a flag); shown without traceback."""


class ImageReadError(UserInputError):
    """An image file that is missing, unreadable or in a form we cannot use."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DatasetError(UserInputError):
    """A data folder that is missing or laid out wrongly (e.g. an image without its manual)."""


class ModelFileError(UserInputError):
    """A model file that is missing, corrupt, or not the kind of model we expect."""


#: The distribution name users install (``pip install "drive-vessel-unet[extra]"``).
DISTRIBUTION = "drive-vessel-unet"


class MissingDependencyError(UserInputError):
    """An optional package that this action needs is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f'{module} is not installed; install it with: pip install "{DISTRIBUTION}[{extra}]" '
            f'(from a checkout: pip install -e ".[{extra}]")'
        )


def require(module: str, extra: str) -> None:
    """Fail with one line naming the extra to install when ``module`` cannot be imported.

    Args:
        module: Importable name (``sklearn``, ``tf2onnx``).
        extra: The setup.cfg extra that brings it (``evaluate``, ``export``).

    Raises:
        MissingDependencyError: ``module`` is not installed.
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(module, extra)


def cli_errors(main: F) -> F:
    """Decorate a CLI ``main`` so user errors print one ``error:`` line and exit with status 2.

    Args:
        main: The entry point; it returns the process exit code.

    Returns:
        The wrapped entry point.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return main(*args, **kwargs)
        except UserInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130

    return wrapper  # type: ignore[return-value]
