"""Cloud speakers: the fleet, per-speaker queues, dispatch through profiles, proof of play."""

from edge.speakers.announce import announce_payload, parse_announce, resolve_speakers
from edge.speakers.const import Confirmation, PlayState
from edge.speakers.errors import AnnounceError, SpeakerError
from edge.speakers.fleet import ClipInfo, Fleet
from edge.speakers.playlog import PlayLog, PlayRecord
from edge.speakers.requests import PlayRequest, PlaySink, Priority

__all__ = [
    "AnnounceError",
    "ClipInfo",
    "Confirmation",
    "Fleet",
    "PlayLog",
    "PlayRecord",
    "PlayRequest",
    "PlaySink",
    "PlayState",
    "Priority",
    "SpeakerError",
    "announce_payload",
    "parse_announce",
    "resolve_speakers",
]
