"""Errors of the district commands: a catalogue message id and its values, shown in Chinese."""

from __future__ import annotations

from typing import Any

from edge.errors import GridedgeError
from edge.i18n import _

__all__ = ["DistrictError"]


class DistrictError(GridedgeError):
    """Something staff must fix before a district command can work.

    Args:
        msgid: English message id of the catalogue, with ``{name}`` placeholders.
        **args: the placeholders' values.
    """

    def __init__(self, msgid: str, **args: Any) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.args_ = args

    def __str__(self) -> str:
        return _(self.msgid).format(**self.args_)
