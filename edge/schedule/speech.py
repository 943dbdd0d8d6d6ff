"""How long a text takes to speak with the site's voice, before anything is rendered.

Two figures from one measurement: the realistic one (for the length limit staff see, so "about
150 s" means about 150 s) and a faster one for the overlap check, so that two slots are never
called overlapping when in fact they would not be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.schedule.const import (
    DEFAULT_MAX_SPOKEN_S,
    KOKORO_CHARS_PER_S,
    MEASURED_CHARS_PER_S,
    MEASURED_RATE_WPM,
    TEXT_CHARS_PER_S,
)

if TYPE_CHECKING:
    from edge.config import GridedgeConfig

__all__ = ["SpeechEstimate"]


@dataclass(frozen=True)
class SpeechEstimate:
    """The configured voice's speed and the longest text allowed.

    Attributes:
        rate_wpm: the voice's speaking rate (``audio.rate_wpm``).
        gap_s: the pause between repeats of the text (``audio.gap_ms``).
        limit_s: the longest a text may take to speak (``schedules.max_spoken_s``).
    """

    rate_wpm: int = MEASURED_RATE_WPM
    gap_s: float = 1.0
    limit_s: float = DEFAULT_MAX_SPOKEN_S

    @classmethod
    def for_config(cls, config: GridedgeConfig) -> SpeechEstimate:
        """The estimate for the site's voice and limit."""
        audio = config.audio
        rate = audio.rate_wpm
        if audio.engine == "kokoro":
            # The neural voice has a speed, not a rate: expressed as the espeak rate that speaks
            # as many characters a second.
            rate = round(MEASURED_RATE_WPM * KOKORO_CHARS_PER_S * audio.speed
                         / MEASURED_CHARS_PER_S)
        return cls(rate_wpm=rate, gap_s=audio.gap_ms / 1000,
                   limit_s=config.schedules.max_spoken_s)

    @staticmethod
    def chars(text: str) -> int:
        """The characters that are spoken (white space is not)."""
        return sum(1 for ch in text if not ch.isspace())

    def seconds(self, text: str, repeat: int = 1) -> float:
        """About how long the text takes, said ``repeat`` times with the pause between."""
        per_s = MEASURED_CHARS_PER_S * self.rate_wpm / MEASURED_RATE_WPM
        return self.chars(text) / per_s * repeat + self.gap_s * (repeat - 1)

    def overlap_seconds(self, text: str, repeat: int = 1) -> float:
        """A lower estimate, used to find slots that overlap for certain."""
        per_s = TEXT_CHARS_PER_S * self.rate_wpm / MEASURED_RATE_WPM
        return self.chars(text) / per_s * repeat
