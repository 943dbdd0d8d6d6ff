"""``gridedge posts reset`` and ``gridedge posts status``: staff talk to the running daemon over MQTT.

The CLI is a separate process: a reset is a command on ``posts/<post>/reset``; the daemon
answers in the post's retained state (``last_command`` with the same id), which the CLI waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from edge.cli import quiet_broker_log
from edge.config import ConfigError, GridedgeConfig, load_config
from edge.i18n import N_, _
from edge.mqtt import Message, MqttClient, Topics
from edge.posts.const import RESET_TIMEOUT_S, STATUS_WAIT_S

__all__ = ["add_parser"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

_ERRORS = {
    "not_latched": N_("port {port} of {name} is not latched; nothing to reset"),
    "unknown_port": N_("{name} has no port {port}"),
    "no_worker": N_("a reset must name who did it (--by)"),
    "bad_request": N_("the daemon could not read the reset command"),
    "unknown_post": N_("the daemon does not watch {name}"),
}
_STATES = {
    "normal": N_("normal"),
    "overload": N_("overload (timing)"),
    "cutting": N_("cutting off"),
    "cut_off": N_("cut off"),
    "cutoff_failed": N_("CUT-OFF FAILED"),
    "latched": N_("latched"),
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``posts reset`` and ``posts status`` to the ``gridedge`` command."""
    posts = subparsers.add_parser("posts", help="charging posts: reset a latched port, status")
    sub = posts.add_subparsers(dest="posts_command", metavar="SUBCOMMAND", required=True)
    reset = sub.add_parser("reset", help="release a port latched after a trip (after checking it)")
    reset.add_argument("post", help="post id or name, e.g. P03 or 3号充电桩")
    reset.add_argument("port", type=int, help="port number, from 1")
    reset.add_argument("--by", required=True, help="who checked the port and resets it")
    reset.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    reset.set_defaults(func=cmd_reset)
    status = sub.add_parser("status", help="what the daemon says about every post")
    status.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    status.set_defaults(func=cmd_status)


def _config(path: Path) -> GridedgeConfig | None:
    try:
        return load_config(path)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None


# _reset's answer when the broker itself cannot be reached (None: no answer from the daemon).
_NO_BROKER: dict[str, Any] = {}


def _no_broker(config: GridedgeConfig) -> None:
    # Not the daemon's fault: say which broker, so staff call the right person.
    print(_("Cannot reach the MQTT broker {host}:{port}.").format(
        host=config.mqtt.host, port=config.mqtt.port), file=sys.stderr)


def _post_id(config: GridedgeConfig, name: str) -> str | None:
    for post_id, post in config.posts.devices.items():
        if name in (post_id, post.name):
            return post_id
    return None


def cmd_reset(args: argparse.Namespace) -> int:
    """``gridedge posts reset POST PORT --by WORKER``."""
    config = _config(args.config)
    if config is None:
        return EXIT_INVALID
    post_id = _post_id(config, args.post)
    if post_id is None:
        print(_("there is no charging post '{name}'").format(name=args.post), file=sys.stderr)
        return EXIT_INVALID
    post = config.posts.devices[post_id]
    if not 1 <= args.port <= post.ports:
        print(_("{name} has no port {port}").format(name=post.name, port=args.port),
              file=sys.stderr)
        return EXIT_INVALID
    if not args.by.strip():
        print(_("a reset must name who did it (--by)"), file=sys.stderr)
        return EXIT_INVALID
    quiet_broker_log()
    answer = asyncio.run(_reset(config, post_id, args.port, args.by.strip()))
    fields = {"name": post.name, "port": args.port, "by": args.by}
    if answer is _NO_BROKER:
        _no_broker(config)
        return EXIT_FAILED
    if answer is None:
        print(_("no answer from the daemon within {seconds} s; is `gridedge run` running?").format(
            seconds=int(RESET_TIMEOUT_S)), file=sys.stderr)
        return EXIT_FAILED
    if answer.get("ok"):
        print(_("port {port} of {name} is reset by {by}; it can be switched on again.").format(
            **fields))
        return EXIT_OK
    error = str(answer.get("error", ""))
    print(_(_ERRORS.get(error, N_("the daemon refused the reset ({error})"))).format(
        error=error, **fields), file=sys.stderr)
    return EXIT_FAILED


async def _reset(config: GridedgeConfig, post_id: str, port: int, by: str,
                 ) -> dict[str, Any] | None:
    topics = Topics(config.mqtt.topic_root, config.site.id)
    request_id = secrets.token_hex(6)
    answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    def on_state(msg: Message) -> None:
        try:
            command = json.loads(msg.payload).get("last_command") or {}
        except (ValueError, AttributeError):
            return
        if command.get("id") == request_id and not answer.done():
            answer.set_result(command)

    client = MqttClient(config.mqtt, topics, client_id=f"gridedge-cli-{request_id}",
                        availability_topic=None)
    client.subscribe(topics.post_state(post_id), on_state)
    await client.start()
    try:
        if not await client.wait_connected(RESET_TIMEOUT_S):
            return _NO_BROKER
        payload = json.dumps({"id": request_id, "port": port, "by": by}, ensure_ascii=False)
        client.publish(topics.post_reset(post_id), payload, qos=1)
        return await asyncio.wait_for(answer, RESET_TIMEOUT_S)
    except TimeoutError:
        return None
    finally:
        await client.stop()


def cmd_status(args: argparse.Namespace) -> int:
    """``gridedge posts status``: every post's retained state, one block per post."""
    config = _config(args.config)
    if config is None:
        return EXIT_INVALID
    quiet_broker_log()
    states = asyncio.run(_collect(config))
    if states is None:
        _no_broker(config)
        return EXIT_FAILED
    if not states:
        print(_("no post state on the broker; is `gridedge run` running?"), file=sys.stderr)
        return EXIT_FAILED
    for post_id in config.posts.devices:
        state = states.get(post_id)
        if state is None:
            continue
        online = {True: _("online"), False: _("OFFLINE"), None: _("unknown")}[state.get("online")]
        print(_("{name} ({post}) at {location}: {online}").format(
            name=state.get("name"), post=post_id, location=state.get("location") or "-",
            online=online))
        for port, info in sorted(state.get("ports", {}).items(), key=lambda kv: int(kv[0])):
            current = info.get("current_a")
            shown = "-" if current is None else f"{current:.2f} A"
            if info.get("current_derived"):
                shown += _(" (from power)")
            word = _STATES.get(info.get("state", ""), info.get("state", ""))
            print("  " + _("port {port}: {current}, {state}").format(port=port, current=shown,
                                                                    state=_(word)))
    return EXIT_OK


async def _collect(config: GridedgeConfig) -> dict[str, dict[str, Any]] | None:
    """Every post's retained state; None when the broker cannot be reached."""
    topics = Topics(config.mqtt.topic_root, config.site.id)
    states: dict[str, dict[str, Any]] = {}

    def on_state(msg: Message) -> None:
        try:
            state = json.loads(msg.payload)
            states[str(state["post"])] = state
        except (ValueError, KeyError, TypeError):
            return

    client = MqttClient(config.mqtt, topics, client_id=f"gridedge-cli-{secrets.token_hex(6)}",
                        availability_topic=None)
    client.subscribe(topics.post_state("+"), on_state)
    await client.start()
    try:
        if not await client.wait_connected(RESET_TIMEOUT_S):
            return None
        deadline = time.monotonic() + STATUS_WAIT_S
        while time.monotonic() < deadline and len(states) < len(config.posts.devices):
            await asyncio.sleep(0.05)
    finally:
        await client.stop()
    return states
