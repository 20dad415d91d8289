"""Lazy package exports: a package's ``__init__`` names what it exports and from which
module, and nothing is imported until a name is first used.

This keeps the package ``__init__`` files light (DESIGN.md): ``import sim.render`` does
not load OpenGL, ``import sim.session`` does not load pybullet, and the viewer-side
packages stay importable in a Python without pybullet. This module itself imports only
the standard library.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` (its ``__name__``) that load each
    name of ``exports`` (name -> module that defines it) on first use and keep it in the
    package, so that the next use is a plain attribute.

    Use: ``__getattr__, __dir__ = lazy_exports(__name__, {"Renderer": "sim.render.renderer"})``.
    """

    def lazy_getattr(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def lazy_dir() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return lazy_getattr, lazy_dir
