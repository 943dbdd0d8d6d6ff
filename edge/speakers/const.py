"""Constants of the speaker fleet: timings staff never tune, and the play states."""

from __future__ import annotations

from enum import StrEnum

# --- dispatch timing ---
# A reported-completion speaker must say "playing" (or "done") this long after the command,
# else the command counts as not delivered and is sent again while the grace window lasts.
ACCEPT_TIMEOUT_S = 8.0
# After "playing", "done" may come this long after the clip's duration before we stop waiting.
DONE_MARGIN_S = 10.0
# Inferred completion: the clip's duration plus this (download and decoder start on the device).
INFERRED_MARGIN_S = 1.0
# Wait between two sends of the same command to a speaker that did not answer.
RETRY_DELAY_S = 2.0
# Rendered clips the fleet remembers by their text (most recently used kept); older ones are
# rendered again (from the cache) when needed.
CLIP_MAP_MAX = 512
# Command ids remembered per speaker: a status naming none of them is a play the daemon did not
# send (a security warning). A late report is about one of the last few commands.
REMEMBERED_COMMANDS = 256
# On-device TTS without a clip: Mandarin at about 3.7 characters a second (measurements.md: 60
# characters ≈ 16 s), plus a second of start-up.
TTS_SECONDS_PER_CHAR = 0.27
TTS_START_S = 1.0

# --- ad-hoc announcements (`say`, the `announce` topic) ---
ANNOUNCE_MAX_TEXT = 300            # characters
ANNOUNCE_DEFAULT_GRACE_S = 120.0   # an offline speaker may still play it this long
ANNOUNCE_MAX_GRACE_S = 3600.0
ANNOUNCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
SAY_ACCEPT_TIMEOUT_S = 10.0        # `say` waits this long for the daemon to accept


class PlayState(StrEnum):
    """Where one (occurrence, speaker) stands in the play log."""

    QUEUED = "queued"
    DISPATCHED = "dispatched"
    PLAYED = "played"
    INTERRUPTED = "interrupted"
    MISSED = "missed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """True for the four outcomes every play ends in."""
        return self in (PlayState.PLAYED, PlayState.INTERRUPTED, PlayState.MISSED,
                        PlayState.FAILED)


class Confirmation(StrEnum):
    """How we know a clip was played."""

    CONFIRMED = "confirmed"   # the speaker reported done
    INFERRED = "inferred"     # the clip's duration passed after the command (no completion event)
