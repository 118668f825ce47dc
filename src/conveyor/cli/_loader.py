"""Finding the app a command works on from a ``module:attribute`` string."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from types import ModuleType

from conveyor.app import Conveyor
from conveyor.cli._errors import BadInput, CliError


def load_app(spec: str) -> Conveyor:
    """Import ``module:attribute`` (the attribute may be dotted) and return the app.

    The current directory goes first on ``sys.path``, as it does for
    ``python -m``: the installed ``conveyor`` script would not find the user's
    own modules otherwise. A missing module or attribute is a one-line error;
    an exception raised *inside* the user's module keeps its traceback, since
    that is a bug to fix there.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise BadInput(f"APP must look like module:attribute (e.g. myapp.jobs:app), got {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    module = _import(module_name)
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise BadInput(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(target, Conveyor):
        raise BadInput(f"{spec} is a {type(target).__name__}, not a conveyor.Conveyor app")
    return target


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise BadInput(
                f"cannot import {name!r}: no module named {missing!r} "
                f"(looked in {os.getcwd()} and on sys.path)"
            ) from None
        _print_user_traceback(exc)
        raise CliError(f"importing {name!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        _print_user_traceback(exc)
        raise CliError(f"importing {name!r} failed: {type(exc).__name__}: {exc}") from None


def _print_user_traceback(exc: BaseException) -> None:
    """The traceback from the user's code down, without the import machinery's frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen")
        and frame.filename not in (__file__, importlib.__file__)
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(exc)
    sys.stderr.write("".join(lines))
