"""Ad-hoc announcements: the ``announce`` topic's payload, checked, turned into a PlayRequest.

Payload (JSON object, UTF-8)::

    {"id": "say-20261201-0830-ab12",   # optional, letters/digits/_.:- ; made up when absent
     "text": "请车主立即到3号楼车棚",       # required, what to say
     "speakers": ["东门", "south_gate"], # names or ids, or "all"
     "priority": "emergency",          # routine | important (default) | emergency
     "volume": 80,                     # optional percent, else each speaker's own
     "repeat": 2,                      # optional, times the text is said (1-3)
     "grace_s": 120}                   # optional, how long an offline speaker may still play it

The daemon answers on its ``events`` topic with ``announce.accepted`` (subject = id, detail.key)
or ``announce.rejected`` (detail.reason = message id, detail.args), then ``play.*`` per speaker.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime
from typing import Any

from edge.config import GridedgeConfig
from edge.config.base import closest
from edge.i18n import N_
from edge.speakers.const import (
    ANNOUNCE_DEFAULT_GRACE_S,
    ANNOUNCE_ID_PATTERN,
    ANNOUNCE_MAX_GRACE_S,
    ANNOUNCE_MAX_TEXT,
)
from edge.speakers.errors import AnnounceError
from edge.speakers.requests import PlayRequest, Priority

__all__ = ["announce_payload", "parse_announce", "resolve_speakers"]

_FIELDS = ("id", "text", "speakers", "priority", "volume", "repeat", "grace_s")
_MAX_REPEAT = 3
_ID = re.compile(ANNOUNCE_ID_PATTERN)


def resolve_speakers(config: GridedgeConfig, names: list[str] | str) -> tuple[str, ...]:
    """Speaker ids for names or ids (or "all"); an unknown name is refused with a did-you-mean."""
    devices = {sid: s for sid, s in config.speakers.devices.items() if s.enabled}
    if isinstance(names, str):
        names = [n for n in re.split(r"[,，、\s]+", names) if n]
    if names in (["all"], ["全部"]):
        return tuple(devices)
    by_name = {s.name: sid for sid, s in devices.items()}
    out: list[str] = []
    for name in names:
        found = name if name in devices else by_name.get(name)
        if found is None:
            hint = closest(name, [*by_name, *devices])
            if hint:
                raise AnnounceError(N_("there is no speaker '{name}'; did you mean '{hint}'?"),
                                    name=name, hint=hint)
            raise AnnounceError(N_("there is no speaker '{name}'; the speakers are: {known}"),
                                name=name, known="、".join(by_name))
        if found not in out:
            out.append(found)
    if not out:
        raise AnnounceError(N_("name at least one speaker (or 'all')"))
    return tuple(out)


def parse_announce(config: GridedgeConfig, payload: bytes, now: float | None = None,
                   ) -> PlayRequest:
    """Check an ``announce`` payload; raises :class:`AnnounceError` with the first problem."""
    try:
        data: Any = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise AnnounceError(N_("the announcement is not a JSON object in UTF-8")) from None
    if not isinstance(data, dict):
        raise AnnounceError(N_("the announcement is not a JSON object in UTF-8"))
    for key in data:
        if key not in _FIELDS:
            raise AnnounceError(N_("unknown field '{field}'; allowed: {allowed}"), field=key,
                                allowed=", ".join(_FIELDS))
    ident = data.get("id") or f"adhoc-{uuid.uuid4().hex[:12]}"
    if not isinstance(ident, str) or not _ID.match(ident):
        raise AnnounceError(N_("'id' may use letters, digits and _.:- (at most 64)"))
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise AnnounceError(N_("'text' must be the words to say"))
    if len(text) > ANNOUNCE_MAX_TEXT:
        raise AnnounceError(N_("'text' is too long: {count} characters (at most {limit})"),
                            count=len(text), limit=ANNOUNCE_MAX_TEXT)
    speakers = data.get("speakers", [])
    if not (isinstance(speakers, str) or (isinstance(speakers, list)
                                          and all(isinstance(s, str) for s in speakers))):
        raise AnnounceError(N_("'speakers' must be a list of speaker names, or 'all'"))
    priority_text = data.get("priority", Priority.IMPORTANT.value)
    try:
        priority = Priority(priority_text)
    except ValueError:
        raise AnnounceError(N_("'priority' must be one of: {allowed}"),
                            allowed=", ".join(p.value for p in Priority)) from None
    volume = _whole(data, "volume", 0, 100, None)
    repeat = _whole(data, "repeat", 1, _MAX_REPEAT, 1)
    grace = _whole(data, "grace_s", 0, int(ANNOUNCE_MAX_GRACE_S), int(ANNOUNCE_DEFAULT_GRACE_S))
    now = time.time() if now is None else now
    targets = resolve_speakers(config, speakers)
    if priority is not Priority.EMERGENCY and _quiet(config, now):
        quiet = config.site.quiet_hours
        raise AnnounceError(N_("it is quiet hours ({start}-{end}): only emergency announcements "
                               "play now"), start=quiet.start.strftime("%H:%M"),
                            end=quiet.end.strftime("%H:%M"))
    return PlayRequest(key=f"announce:{ident}", announcement=text.strip()[:40],
                       speakers=targets,
                       due=now, grace_s=float(grace or 0),
                       priority=priority, text=text.strip(), volume=volume, repeat=repeat or 1,
                       source="announce")


def _quiet(config: GridedgeConfig, now: float) -> bool:
    quiet = config.site.quiet_hours
    moment = datetime.fromtimestamp(now, config.site.tz).time()
    if quiet.start <= quiet.end:
        return quiet.start <= moment < quiet.end
    return moment >= quiet.start or moment < quiet.end  # over midnight, e.g. 21:30-07:00


def _whole(data: dict[str, Any], key: str, low: int, high: int, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AnnounceError(N_("'{field}' must be a whole number from {low} to {high}"),
                            field=key, low=low, high=high)
    return value


def announce_payload(text: str, speakers: tuple[str, ...], priority: Priority, *,
                     ident: str, volume: int | None = None, repeat: int = 1) -> bytes:
    """The payload ``gridedge say`` publishes."""
    data: dict[str, Any] = {"id": ident, "text": text, "speakers": list(speakers),
                            "priority": priority.value, "repeat": repeat}
    if volume is not None:
        data["volume"] = volume
    return json.dumps(data, ensure_ascii=False).encode()
