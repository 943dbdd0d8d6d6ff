"""Errors of the speaker fleet.

    GridedgeError
    └── SpeakerError
        └── AnnounceError      an ad-hoc announcement refused (message id + arguments for staff)
"""

from __future__ import annotations

from typing import Any

from edge.errors import GridedgeError

__all__ = ["AnnounceError", "SpeakerError"]


class SpeakerError(GridedgeError):
    """A problem of the speaker fleet."""


class AnnounceError(SpeakerError):
    """An announcement that cannot be accepted; ``msgid`` and ``args`` make the staff message."""

    def __init__(self, msgid: str, **args: Any) -> None:
        super().__init__(msgid.format(**args))
        self.msgid = msgid
        self.args_ = args
