"""``gridedge alerts list | ack ID --by WORKER | silence …``: alert handling from a shell.

``list`` and ``silence`` work on the daemon's database (SQLite allows a reader and short writers
beside the daemon; the daemon picks a new silence up within a second). ``ack`` goes over MQTT,
the same way as a phone app's acknowledgement, and waits for the daemon's updated record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edge.alerts.roster import Roster
from edge.config import ConfigError, GridedgeConfig, load_config
from edge.config.base import closest
from edge.i18n import _
from edge.mqtt import Message, MqttClient, Topics
from edge.store import Store

__all__ = ["add_parser"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
ACK_WAIT_S = 10.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhd]?)$")


def add_parser(sub: Any) -> None:
    """Register ``gridedge alerts``."""
    alerts = sub.add_parser("alerts", help="list, acknowledge and silence alerts")
    alerts.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    verbs = alerts.add_subparsers(metavar="ACTION")
    show = verbs.add_parser("list", help="open alerts (and undeliverable notifications)")
    show.add_argument("--all", action="store_true", help="include resolved alerts of today")
    show.set_defaults(func=cmd_list)
    ack = verbs.add_parser("ack", help="acknowledge an alert: you are taking care of it")
    ack.add_argument("id", type=int)
    ack.add_argument("--by", required=True, help="your worker id or name")
    ack.add_argument("--note", default="")
    ack.set_defaults(func=cmd_ack)
    silence = verbs.add_parser("silence", help="hold notifications of a post or grid area")
    silence.add_argument("--post", help="post id or name")
    silence.add_argument("--area", help="grid area name")
    silence.add_argument("--for", dest="duration", help="how long: 30m, 2h, 1d")
    silence.add_argument("--until", help="end, HH:MM site time (today, or tomorrow if passed)")
    silence.add_argument("--by", default="", help="who sets it")
    silence.add_argument("--reason", default="")
    silence.add_argument("--list", action="store_true", help="show active silences")
    silence.add_argument("--end", type=int, metavar="ID", help="end a silence now")
    silence.set_defaults(func=cmd_silence)
    alerts.set_defaults(func=lambda args: cmd_list(argparse.Namespace(**vars(args), all=False)))


def _config(args: argparse.Namespace) -> GridedgeConfig | None:
    try:
        return load_config(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


def _store(config: GridedgeConfig) -> Store:
    store = Store(config.data_dir)
    store.open()
    return store


def _when(ts: float | None, config: GridedgeConfig) -> str:
    return datetime.fromtimestamp(ts, config.site.tz).strftime("%m-%d %H:%M") if ts else "-"


def cmd_list(args: argparse.Namespace) -> int:
    """Print open alerts, newest first, and notifications that could not be delivered."""
    config = _config(args)
    if config is None:
        return EXIT_INVALID
    store = _store(config)
    try:
        where = "state != 'resolved'" + (" OR resolved_ts > ?" if args.all else "")
        params = (time.time() - 86400,) if args.all else ()
        rows = store.query(f"SELECT * FROM alerts WHERE {where} ORDER BY id DESC", params)  # noqa: S608
        failed = store.query("SELECT alert_id, seq, channel, last_error FROM notifications "
                             "WHERE state = 'failed' ORDER BY id DESC LIMIT 20")
        pending = store.query("SELECT COUNT(*) AS n FROM notifications WHERE state = 'pending'")
    finally:
        store.close()
    if not rows:
        print(_("No open alerts."))
    for row in rows:
        detail = json.loads(row["detail"])
        place = " ".join(str(x) for x in (detail.get("post_name") or row["post"] or row["speaker"],
                                          f"{row['port']}#" if row["port"] is not None else "")
                         if x).strip() or config.site.name
        state = row["state"] + (f"({row['acked_by']})" if row["acked_by"] else "") \
            + (f"[{row['held']}]" if row["held"] else "")
        print(f"#{row['id']:<5} {row['severity']:<8} {state:<24} {row['kind']:<18} "
              f"{place:<16} {_when(row['first_ts'], config)}  x{row['count']}  "
              f"L{row['level'] + 1}")
    print(_("{count} notification(s) waiting for delivery.").format(count=pending[0]["n"]))
    for row in failed:
        print(_("UNDELIVERED: alert #{id} message {seq} to {channel}: {error}").format(
            id=row["alert_id"], seq=row["seq"], channel=row["channel"], error=row["last_error"]))
    return EXIT_OK


def cmd_ack(args: argparse.Namespace) -> int:
    """Acknowledge over MQTT and wait for the daemon's record to say so."""
    config = _config(args)
    if config is None:
        return EXIT_INVALID
    roster = Roster(config, lambda _d: True)
    worker = roster.find(args.by)
    if worker is None:
        hint = roster.suggest(args.by)
        text = _("'{name}' is not on the duty roster").format(name=args.by)
        print(text + (_("; did you mean '{hint}'?").format(hint=hint) if hint else ""),
              file=sys.stderr)
        return EXIT_INVALID
    store = _store(config)
    try:
        found = store.query("SELECT state FROM alerts WHERE id = ?", (args.id,))
    finally:
        store.close()
    if not found or found[0]["state"] == "resolved":
        print(_("there is no open alert #{id}").format(id=args.id), file=sys.stderr)
        return EXIT_INVALID
    state = asyncio.run(_ack_over_mqtt(config, args.id, worker, args.note))
    if state == "acknowledged":
        print(_("Alert #{id} acknowledged by {name}.").format(
            id=args.id, name=roster.workers[worker].name))
        return EXIT_OK
    print(_("the daemon did not confirm within {seconds} s; is `gridedge run` running?").format(
        seconds=int(ACK_WAIT_S)), file=sys.stderr)
    return EXIT_FAILED


async def _ack_over_mqtt(config: GridedgeConfig, alert_id: int, worker: str, note: str) -> str:
    topics = Topics(config.mqtt.topic_root, config.site.id)
    client = MqttClient(config.mqtt, topics, client_id=f"gridedge-cli-{os.getpid()}",
                        availability_topic=None)
    state = asyncio.Event()
    seen: dict[str, str] = {}

    def on_record(message: Message) -> None:
        try:
            seen["state"] = json.loads(message.payload)["state"]
        except (ValueError, KeyError, TypeError):
            return
        if seen["state"] != "firing":
            state.set()

    client.subscribe(topics.alert(str(alert_id)), on_record)
    await client.start()
    try:
        if not await client.wait_connected(ACK_WAIT_S):
            return ""
        payload = json.dumps({"by": worker, "note": note}, ensure_ascii=False)
        client.publish(topics.alert_ack(str(alert_id)), payload, qos=1)
        try:
            await asyncio.wait_for(state.wait(), ACK_WAIT_S)
        except TimeoutError:
            return ""
        return seen.get("state", "")
    finally:
        await client.stop()


def _end_time(args: argparse.Namespace, config: GridedgeConfig, now: float) -> float | None:
    if args.duration:
        match = _DURATION.match(args.duration.strip())
        if not match:
            return None
        unit = {"": 60, "m": 60, "h": 3600, "d": 86400}[match[2]]
        return now + float(match[1]) * unit
    if args.until:
        try:
            hours, minutes = (int(x) for x in args.until.split(":"))
            local = datetime.fromtimestamp(now, config.site.tz)
            end = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        except ValueError:
            return None
        if end <= local:
            end += timedelta(days=1)
        return end.timestamp()
    return None


def cmd_silence(args: argparse.Namespace) -> int:
    """Add, list or end silences."""
    config = _config(args)
    if config is None:
        return EXIT_INVALID
    store = _store(config)
    now = time.time()
    try:
        if args.end is not None:
            with store.transaction() as db:
                db.execute("UPDATE silences SET end_ts = ? WHERE id = ? AND end_ts > ?",
                           (now, args.end, now))
            print(_("Silence {id} ends now; held notifications go out.").format(id=args.end))
            return EXIT_OK
        if args.list or not (args.post or args.area):
            for row in store.query("SELECT * FROM silences WHERE ended_ts IS NULL AND end_ts > ?",
                                   (now,)):
                print(f"{row['id']:<4} {row['scope']:<5} {row['target']:<12} "
                      f"{_when(row['end_ts'], config)}  {row['by']} {row['reason']}")
            return EXIT_OK
        scope, target = _target(args, config)
        if not target:
            return EXIT_INVALID
        end = _end_time(args, config, now)
        if end is None:
            print(_("say how long: --for 30m / 2h / 1d, or --until HH:MM"), file=sys.stderr)
            return EXIT_INVALID
        with store.transaction() as db:
            cursor = db.execute("INSERT INTO silences (scope, target, start_ts, end_ts, by, "
                                "reason) VALUES (?, ?, ?, ?, ?, ?)",
                                (scope, target, now, end, args.by, args.reason))
        print(_("Silence {id}: notifications about {target} are held until {end}.").format(
            id=cursor.lastrowid, target=target, end=_when(end, config)))
        return EXIT_OK
    finally:
        store.close()


def _target(args: argparse.Namespace, config: GridedgeConfig) -> tuple[str, str]:
    if args.post:
        names = {pid: pid for pid in config.posts.devices}
        names.update({p.name: pid for pid, p in config.posts.devices.items()})
        if args.post in names:
            return "post", names[args.post]
        hint = closest(args.post, names)
        print(_("there is no charging post '{name}'").format(name=args.post)
              + (_("; did you mean '{hint}'?").format(hint=hint) if hint else ""), file=sys.stderr)
        return "post", ""
    if args.area in config.areas:
        return "area", args.area
    hint = closest(args.area or "", config.areas)
    print(_("there is no grid area '{name}'").format(name=args.area)
          + (_("; did you mean '{hint}'?").format(hint=hint) if hint else ""), file=sys.stderr)
    return "area", ""
