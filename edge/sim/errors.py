"""Exceptions of the simulators.

Hierarchy::

    GridedgeError                       (edge.errors)
     └── SimError                       base of everything a simulator raises on purpose
          ├── SimInputError             bad input from whoever runs it: `gridedge simulate` exits 2
          │    ├── FaultSpecError       a fault to inject is written wrongly (CLI, MQTT, test)
          │    └── UnsupportedProfileError  no simulator speaks a device's profile
          └── SimCommandError           a command sent to a virtual device cannot be read
"""

from __future__ import annotations

from typing import Any

from edge.errors import GridedgeError
from edge.i18n import _

__all__ = ["FaultSpecError", "SimCommandError", "SimError", "SimInputError",
           "UnsupportedProfileError"]


class SimError(GridedgeError):
    """Base class of every error a simulator raises on purpose."""


class SimInputError(SimError, ValueError):
    """Bad input to a simulator; the (translated) message says what to write instead.

    Args:
        message_id: English catalogue id (translated when shown).
        **args: values for its placeholders.
    """

    def __init__(self, message_id: str, **args: Any) -> None:
        self.message_id = message_id
        self.args_ = args
        super().__init__(_(message_id).format(**args))


class SimCommandError(SimError, ValueError):
    """A command to a virtual device that it cannot read (it is counted and logged, not obeyed)."""


class FaultSpecError(SimInputError):
    """A fault to inject is written wrongly, or names a post or port that does not exist."""


class UnsupportedProfileError(SimInputError):
    """A device's profile is one no simulator speaks."""
