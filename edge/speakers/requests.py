"""The contract between whoever wants a clip played (scheduler, `say`, `announce`) and the fleet."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

__all__ = ["PlayRequest", "PlaySink", "Priority"]


class Priority(StrEnum):
    """Announcement priority, spelled as in YAML; ``rank`` orders them."""

    ROUTINE = "routine"
    IMPORTANT = "important"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """0 for routine, 1 important, 2 emergency: a higher rank interrupts a lower one."""
        return ("routine", "important", "emergency").index(self.value)


@dataclass(frozen=True)
class PlayRequest:
    """One announcement to play on some speakers at one moment.

    ``key`` identifies the occurrence (announcement id + slot instant, or a unique id for ad-hoc
    announcements); the fleet persists it before dispatch and never plays the same key twice on
    the same speaker, so a scheduler may safely submit a key again after a restart.
    """

    key: str
    announcement: str            # id (and title) staff gave the announcement
    speakers: tuple[str, ...]    # canonical speaker ids
    due: float                   # epoch seconds of the slot
    grace_s: float               # may play late only until due + grace_s, else "missed"
    priority: Priority
    text: str | None = None      # text to render, or
    clip: Path | None = None     # a recorded clip file staff provided
    volume: int | None = None    # percent; None = the speaker's configured volume
    repeat: int = 1              # times the speech is said within the clip
    source: str = "schedule"     # schedule | say | announce


class PlaySink(Protocol):
    """What the speaker fleet offers (``app.service("speakers")``)."""

    async def prepare(self, request: PlayRequest) -> None:
        """Render the clip(s) of a request ahead of its slot (idempotent, may be called early)."""

    async def submit(self, request: PlayRequest) -> None:
        """Hand over a request at (or after) its due time; queueing and retries are the fleet's."""
