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
