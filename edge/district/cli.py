"""``gridedge district``: the site's uplink configuration, and the street office's service."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from edge.config import ConfigError, load_config
from edge.district.errors import DistrictError
from edge.i18n import _

__all__ = ["add_parser"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def add_parser(sub: Any) -> None:
    """Register ``gridedge district``."""
    district = sub.add_parser("district", help="uplink to the street office's broker; the "
                              "street office's service")
    verbs = district.add_subparsers(metavar="ACTION")
    uplink = verbs.add_parser("uplink-config", help="print (or write) the mosquitto bridge "
                              "block that connects this site to the district broker")
    uplink.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    uplink.add_argument("-o", "--output", type=Path, help="write to this file (e.g. "
                        "/etc/mosquitto/conf.d/gridedge-district.conf) instead of printing")
    uplink.set_defaults(func=cmd_uplink_config)
    run = verbs.add_parser("run", help="the street office's service: page, API, escalation")
    run.add_argument("-c", "--config", type=Path, default=Path("district.yaml"))
    run.set_defaults(func=cmd_run)
    announce = verbs.add_parser("announce", help="send an announcement to chosen sites")
    announce.add_argument("-c", "--config", type=Path, default=Path("district.yaml"))
    announce.add_argument("--sites", required=True, help="site ids, comma-separated")
    announce.add_argument("--priority", choices=("routine", "important", "emergency"),
                          default="important")
    announce.add_argument("--id", help="announcement id (default: made up); a site plays one id "
                          "once")
    announce.add_argument("text")
    announce.set_defaults(func=cmd_announce)
    district.set_defaults(func=lambda _args: (district.print_help(), EXIT_FAILED)[1])


def cmd_uplink_config(args: argparse.Namespace) -> int:
    """``gridedge district uplink-config``: exit 0, or 2 with what to fix."""
    from edge.cli import print_problems  # noqa: PLC0415 - edge.cli imports this module
    from edge.district.uplink import uplink_config  # noqa: PLC0415

    try:
        text = uplink_config(load_config(args.config))
    except ConfigError as err:
        print_problems(err)
        return EXIT_INVALID
    except DistrictError as err:
        print(_("error: {text}").format(text=err), file=sys.stderr)
        return EXIT_INVALID
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    _write_private(args.output, text)
    print(_("wrote {file}; restart mosquitto to connect the uplink").format(file=args.output))
    return EXIT_OK


def _load_district(path: Path):  # noqa: ANN202 - DistrictConfig | None
    from edge.cli import print_problems  # noqa: PLC0415
    from edge.district.config import load_district_config  # noqa: PLC0415

    try:
        return load_district_config(path)
    except ConfigError as err:
        print_problems(err)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    """``gridedge district run``: until SIGTERM or SIGINT."""
    import asyncio  # noqa: PLC0415
    import logging  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from edge.district.service import DistrictService  # noqa: PLC0415

    config = _load_district(args.config)
    if config is None:
        return EXIT_INVALID
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await DistrictService(config).run(stop)

    try:
        asyncio.run(main())
    except OSError as err:  # the HTTP port is taken, the broker's address does not resolve
        print(_("error: {text}").format(text=err), file=sys.stderr)
        return EXIT_FAILED
    except Exception:
        logging.getLogger("edge.district").exception("the district service stopped on an "
                                                     "unexpected error")
        return EXIT_FAILED
    return EXIT_OK


def cmd_announce(args: argparse.Namespace) -> int:
    """``gridedge district announce``: published with QoS 1, acknowledged by the broker."""
    import asyncio  # noqa: PLC0415

    from edge.cli import quiet_broker_log  # noqa: PLC0415
    from edge.district.service import announcement_payload  # noqa: PLC0415
    from edge.mqtt import MqttClient, Topics  # noqa: PLC0415

    config = _load_district(args.config)
    if config is None:
        return EXIT_INVALID
    sites = [s for s in args.sites.replace("，", ",").split(",") if s.strip()]
    if not sites or not args.text.strip():
        print(_("error: {text}").format(text=_("name at least one site and say something")),
              file=sys.stderr)
        return EXIT_INVALID
    quiet_broker_log()
    root = config.broker.topic_root
    ident = args.id or f"district-{os.urandom(4).hex()}"
    payload = announcement_payload(args.text.strip(), ident=ident, priority=args.priority)

    async def send() -> bool:
        client = MqttClient(config.broker, Topics(root, "district"),
                            client_id=f"gridedge-district-cli-{os.urandom(3).hex()}",
                            availability_topic=None)
        await client.start()
        try:
            if not await client.wait_connected(10):
                return False
            infos = [client.publish(Topics(root, s.strip()).district_announce(), payload, qos=1)
                     for s in sites]
            for _round in range(200):
                if all(i is None or i.is_published() for i in infos):
                    return True
                await asyncio.sleep(0.05)
            return False
        finally:
            await client.stop()

    if not asyncio.run(send()):
        print(_("error: {text}").format(text=_("the district broker {host}:{port} did not take "
                                               "the announcement").format(
            host=config.broker.host, port=config.broker.port)), file=sys.stderr)
        return EXIT_FAILED
    print(_("announcement {id} sent to {count} site(s)").format(id=ident, count=len(sites)))
    return EXIT_OK


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` whole (never half-written), readable by its owner only: it may hold the
    district password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
