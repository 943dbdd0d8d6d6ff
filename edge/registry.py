"""Loading the modules a registry tuple names (components, commands, simulators, demo parts)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

__all__ = ["load_modules"]


def load_modules(names: Iterable[str]) -> list[ModuleType]:
    """Import every named module, in order; a missing or broken module is an error, not a skip."""
    return [importlib.import_module(name) for name in names]
