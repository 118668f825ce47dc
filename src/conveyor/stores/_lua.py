"""Named Lua files: every script a Redis store runs lives in a .lua file beside it."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def script(package: str, name: str) -> str:
    """The text of ``<package>/scripts/<name>.lua``, read once."""
    return resources.files(package).joinpath("scripts", f"{name}.lua").read_text("utf-8")
