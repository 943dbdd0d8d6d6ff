"""The ``gridedge say`` and ``gridedge plays`` commands: an announcement now, and proof of play."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import secrets
import sqlite3
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.config import ConfigError, GridedgeConfig, load_config
from edge.i18n import _
from edge.mqtt import Message, MqttClient, Topics
from edge.profiles import load_registry
from edge.speakers.announce import announce_payload, resolve_speakers
from edge.speakers.const import SAY_ACCEPT_TIMEOUT_S
from edge.speakers.errors import AnnounceError
from edge.speakers.playlog import PlayRecord, _record
from edge.speakers.requests import Priority
from edge.store import DB_NAME

__all__ = ["add_parser"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

_PRIORITY_WORDS = {"routine": "routine", "important": "important", "emergency": "emergency",
                   "常规": "routine", "重要": "important", "紧急": "emergency"}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``say`` and ``plays`` to the ``gridedge`` command."""
    say = subparsers.add_parser("say", help="play an announcement now on some speakers")
    say.add_argument("text", help='what to say, e.g. "请3号楼车棚的车主立即挪车"')
    say.add_argument("--speakers", default="all",
                     help="speaker names or ids, comma separated (default: all), e.g. 东门,南门")
    say.add_argument("--priority", default="important", choices=sorted(_PRIORITY_WORDS),
                     help="routine, important (default) or emergency (plays in quiet hours)")
    say.add_argument("--volume", type=int, help="percent (default: each speaker's own)")
    say.add_argument("--repeat", type=int, default=1, help="times the text is said (1-3)")
    say.add_argument("--timeout", type=float, default=120.0,
                     help="seconds to wait for every speaker's outcome (default 120)")
    say.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    say.set_defaults(func=cmd_say)

    plays = subparsers.add_parser("plays", help="proof of play: what played where, for one day")
    plays.add_argument("--date", type=date.fromisoformat, default=None,
                       help="day in YYYY-MM-DD (default: today, site time)")
    plays.add_argument("--speaker", help="only this speaker (name or id)")
    plays.add_argument("--csv", action="store_true", help="CSV on standard output")
    plays.add_argument("-o", "--output", type=Path, help="write the CSV to this file (UTF-8 with "
                       "BOM, opens in Excel)")
    plays.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    plays.set_defaults(func=cmd_plays)


def _config(path: Path) -> GridedgeConfig | None:
    try:
        return load_config(path, profiles=load_registry())
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


# -- plays -------------------------------------------------------------------------------------

def _state_words() -> dict[str, str]:
    return {"played": _("played"), "interrupted": _("interrupted"), "missed": _("missed"),
            "failed": _("failed"), "queued": _("waiting"), "dispatched": _("playing")}


def _result(record: PlayRecord) -> str:
    words = _state_words()
    text = words.get(record.state.value, record.state.value)
    if record.confirmation == "confirmed":
        text += _(" (confirmed by the speaker)")
    elif record.confirmation == "inferred":
        text += _(" (inferred from the duration)")
    return text


def _read_plays(config: GridedgeConfig, day: date, speaker: str | None) -> list[PlayRecord]:
    path = config.data_dir / DB_NAME
    if not path.exists():
        return []
    start = datetime.combine(day, datetime.min.time(), config.site.tz)
    end = start + timedelta(days=1)
    sql = ("SELECT * FROM plays WHERE due >= ? AND due < ?" + (" AND speaker = ?" if speaker
                                                                else "") + " ORDER BY due, speaker")
    params: tuple[Any, ...] = (start.timestamp(), end.timestamp(), *([speaker] if speaker else []))
    # Read-only: the daemon may be running and writing (WAL allows both).
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # no play log yet (older database)
            return []
    return [_record(r) for r in rows]


def _clock(config: GridedgeConfig, ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, config.site.tz).strftime("%H:%M:%S")


def cmd_plays(args: argparse.Namespace) -> int:
    """``gridedge plays``: print or export one day of the play log."""
    config = _config(args.config)
    if config is None:
        return EXIT_INVALID
    speaker = None
    if args.speaker:
        try:
            speaker = resolve_speakers(config, [args.speaker])[0]
        except AnnounceError as err:
            print(_(err.msgid).format(**err.args_), file=sys.stderr)
            return EXIT_INVALID
    day = args.date or datetime.now(config.site.tz).date()
    records = _read_plays(config, day, speaker)
    names = {sid: s.name for sid, s in config.speakers.devices.items()}
    if args.csv or args.output:
        return _write_csv(config, records, names, args.output)
    print(_("Play log of {site} for {day}").format(site=config.site.name, day=day.isoformat()))
    if not records:
        print(_("Nothing was scheduled to play that day."))
        return EXIT_OK
    for r in records:
        line = (f"{_clock(config, r.due)}  {names.get(r.speaker, r.speaker)}  {_result(r)}  "
                f"{r.announcement}")
        if r.started_at is not None:
            line += "  " + _("started {time}").format(time=_clock(config, r.started_at))
        if r.reason:
            line += "  " + _(r.reason)
        if r.detail and r.state.value in ("failed", "interrupted"):
            line += f" ({r.detail})"
        print(line)
    counts: dict[str, int] = {}
    for r in records:
        counts[r.state.value] = counts.get(r.state.value, 0) + 1
    words = _state_words()
    print(_("Total {count}: ").format(count=len(records))
          + ", ".join(f"{words.get(k, k)} {v}" for k, v in sorted(counts.items())))
    return EXIT_OK


_CSV_COLUMNS = ("date", "due", "speaker_id", "speaker", "announcement", "source", "priority",
                "result", "confirmation", "reason", "detail", "dispatched", "started", "ended",
                "attempts", "key")


def _write_csv(config: GridedgeConfig, records: list[PlayRecord], names: dict[str, str],
               output: Path | None) -> int:
    rows = [{"date": datetime.fromtimestamp(r.due, config.site.tz).date().isoformat(),
             "due": _clock(config, r.due), "speaker_id": r.speaker,
             "speaker": names.get(r.speaker, r.speaker), "announcement": r.announcement,
             "source": r.source, "priority": r.priority, "result": r.state.value,
             "confirmation": r.confirmation, "reason": _(r.reason) if r.reason else "",
             "detail": r.detail, "dispatched": _clock(config, r.dispatched_at),
             "started": _clock(config, r.started_at), "ended": _clock(config, r.ended_at),
             "attempts": r.attempts, "key": r.key} for r in records]
    if output is None:
        writer = csv.DictWriter(sys.stdout, _CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return EXIT_OK
    with output.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.DictWriter(file, _CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(_("{count} plays written to {file}").format(count=len(rows), file=output))
    return EXIT_OK


# -- say ---------------------------------------------------------------------------------------

def cmd_say(args: argparse.Namespace) -> int:
    """``gridedge say``: publish on ``announce`` and report what each speaker did."""
    config = _config(args.config)
    if config is None:
        return EXIT_INVALID
    try:
        speakers = resolve_speakers(config, args.speakers)
    except AnnounceError as err:
        print(_(err.msgid).format(**err.args_), file=sys.stderr)
        return EXIT_INVALID
    if not args.text.strip():
        print(_("'text' must be the words to say"), file=sys.stderr)
        return EXIT_INVALID
    ident = f"say-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    payload = announce_payload(args.text.strip(), speakers,
                               Priority(_PRIORITY_WORDS[args.priority]), ident=ident,
                               volume=args.volume, repeat=args.repeat)
    from edge.cli import quiet_broker_log  # noqa: PLC0415 - edge.cli imports this module

    quiet_broker_log()
    return asyncio.run(_say(config, ident, payload, speakers, args.timeout))


async def _say(config: GridedgeConfig, ident: str, payload: bytes, speakers: tuple[str, ...],
               timeout: float) -> int:
    topics = Topics(config.mqtt.topic_root, config.site.id)
    client = MqttClient(config.mqtt, topics, client_id=f"gridedge-say-{ident[-6:]}",
                        availability_topic=None)
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_event(message: Message) -> None:
        with contextlib.suppress(ValueError):
            event = json.loads(message.payload)
            if isinstance(event, dict):
                events.put_nowait(event)

    client.subscribe(topics.events(), on_event)
    await client.start()
    try:
        if not await client.wait_connected(SAY_ACCEPT_TIMEOUT_S):
            print(_("Cannot reach the MQTT broker {host}:{port}.").format(
                host=config.mqtt.host, port=config.mqtt.port), file=sys.stderr)
            return EXIT_FAILED
        await asyncio.sleep(0.5)  # let the broker confirm the subscription before we publish
        client.publish(topics.announce(), payload, qos=1)
        return await _follow(config, ident, speakers, events, timeout)
    finally:
        await client.stop()


async def _follow(config: GridedgeConfig, ident: str, speakers: tuple[str, ...],
                  events: asyncio.Queue[dict[str, Any]], timeout: float) -> int:
    names = {sid: s.name for sid, s in config.speakers.devices.items()}
    key = f"announce:{ident}"
    outcomes: dict[str, str] = {}
    accepted = False
    deadline = time.monotonic() + SAY_ACCEPT_TIMEOUT_S
    while len(outcomes) < len(speakers):
        try:
            event = await asyncio.wait_for(events.get(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            if not accepted:
                print(_("The daemon did not answer within {seconds} s; is `gridedge run` "
                        "running?").format(seconds=int(SAY_ACCEPT_TIMEOUT_S)), file=sys.stderr)
            else:
                missing = "、".join(names.get(s, s) for s in speakers if s not in outcomes)
                print(_("No outcome yet from: {speakers}; see `gridedge plays` later.").format(
                    speakers=missing), file=sys.stderr)
            return EXIT_FAILED
        detail = event.get("detail") or {}
        kind = event.get("kind", "")
        if kind == "announce.rejected" and detail.get("id") == ident:
            reason = _(str(detail.get("reason", ""))).format(**(detail.get("args") or {}))
            print(_("The daemon refused the announcement: {reason}").format(reason=reason),
                  file=sys.stderr)
            return EXIT_INVALID
        if kind == "announce.accepted" and detail.get("id") == ident:
            accepted = True
            deadline = time.monotonic() + timeout
            print(_("Announcement {id} accepted; playing on {speakers}…").format(
                id=ident, speakers="、".join(names.get(s, s) for s in speakers)), flush=True)
        elif kind.startswith("play.") and detail.get("key") == key:
            if not accepted:  # the acceptance came before our subscription was in place
                accepted, deadline = True, time.monotonic() + timeout
            speaker = str(event.get("subject", ""))
            outcomes[speaker] = str(detail.get("state", ""))
            print(_say_line(names.get(speaker, speaker), detail), flush=True)
    return EXIT_OK if all(v == "played" for v in outcomes.values()) else EXIT_FAILED


def _say_line(name: str, detail: dict[str, Any]) -> str:
    state = str(detail.get("state", ""))
    reason = _(str(detail["reason"])) if detail.get("reason") else ""
    if state == "played":
        how = (_(" (confirmed by the speaker)") if detail.get("confirmation") == "confirmed"
               else _(" (inferred from the duration)"))
        return _("{speaker}: played{how}").format(speaker=name, how=how)
    word = _state_words().get(state, state)
    return _("{speaker}: {result}: {reason}").format(speaker=name, result=word, reason=reason)
