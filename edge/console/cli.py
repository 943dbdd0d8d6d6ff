"""``gridedge users add | set-password | remove | list``: office console accounts.

Works on the daemon's database in the data directory (SQLite lets a short writer in beside the
running daemon; a changed or removed account takes effect at its next request). A password is
read from the terminal (asked twice, not echoed) or, when standard input is not a terminal, as
its first line, so that an install script can pipe it in; it never appears on the command line.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from edge.config import ConfigError, GridedgeConfig, load_config
from edge.console.users import ROLE_NAMES, AccountError, Role, Users
from edge.i18n import _
from edge.store import Store, StoreError

__all__ = ["add_parser"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def add_parser(sub: Any) -> None:
    """Register ``gridedge users``."""
    users = sub.add_parser("users", help="office console accounts")
    users.add_argument("-c", "--config", type=Path, default=Path("config.yaml"))
    verbs = users.add_subparsers(metavar="ACTION")
    add = verbs.add_parser("add", help="a new account (asks for its password)")
    add.add_argument("name", help="login name; a roster worker id links the account to them")
    add.add_argument("--role", choices=[r.value for r in Role],
                     help="admin, office, duty_officer, grid_worker or cadre (default: the "
                     "roster worker's role)")
    add.set_defaults(func=cmd_add)
    passwd = verbs.add_parser("set-password", help="a new password (ends old sessions)")
    passwd.add_argument("name")
    passwd.set_defaults(func=cmd_set_password)
    remove = verbs.add_parser("remove", help="delete an account")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)
    show = verbs.add_parser("list", help="every account with its role")
    show.set_defaults(func=cmd_list)
    users.set_defaults(func=cmd_list)


def _open(args: argparse.Namespace) -> tuple[GridedgeConfig, Users] | None:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None
    store = Store(config.data_dir)
    try:
        store.open()
    except StoreError as err:
        print(err, file=sys.stderr)
        return None
    return config, Users(store)


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(_("Password: "))
    again = getpass.getpass(_("Password again: "))
    if first != again:
        raise AccountError(_("the two passwords differ"))
    return first


def _operator() -> str:
    """Who runs the command, for the audit log."""
    try:
        return f"shell:{getpass.getuser()}"
    except (KeyError, OSError):
        return "shell"


def cmd_add(args: argparse.Namespace) -> int:
    """Add an account."""
    opened = _open(args)
    if opened is None:
        return EXIT_INVALID
    config, users = opened
    worker = args.name if args.name in config.alerts.workers else ""
    if args.role:
        role = Role(args.role)
    elif worker:
        role = Role(config.alerts.workers[worker].role.value)
    else:
        print(_("'{name}' is not on the roster: give its --role (admin, office, duty_officer, "
                "grid_worker or cadre)").format(name=args.name), file=sys.stderr)
        return EXIT_INVALID
    try:
        account = users.add(args.name, role, _read_password(), worker=worker, by=_operator())
    except AccountError as err:
        print(err, file=sys.stderr)
        return EXIT_FAILED
    finally:
        users.store.close()
    print(_("account '{name}' added: {role}").format(name=account.name,
                                                      role=ROLE_NAMES[account.role]))
    return EXIT_OK


def _change(args: argparse.Namespace, change: Callable[[Users], None], done: str) -> int:
    """Open the accounts, apply ``change``, print ``done`` (or the refusal); the exit code."""
    opened = _open(args)
    if opened is None:
        return EXIT_INVALID
    _config, users = opened
    try:
        change(users)
    except AccountError as err:
        print(err, file=sys.stderr)
        return EXIT_FAILED
    finally:
        users.store.close()
    print(done)
    return EXIT_OK


def cmd_set_password(args: argparse.Namespace) -> int:
    """Set a new password."""
    return _change(args, lambda users: users.set_password(args.name, _read_password(),
                                                          by=_operator()),
                   _("new password set for '{name}'").format(name=args.name))


def cmd_remove(args: argparse.Namespace) -> int:
    """Remove an account."""
    return _change(args, lambda users: users.remove(args.name, by=_operator()),
                   _("account '{name}' removed").format(name=args.name))


def cmd_list(args: argparse.Namespace) -> int:
    """List the accounts."""
    opened = _open(args)
    if opened is None:
        return EXIT_INVALID
    config, users = opened
    try:
        accounts = users.all()
    finally:
        users.store.close()
    if not accounts:
        print(_("no accounts yet: add one with 'gridedge users add NAME --role admin'"))
    for account in accounts:
        changed = datetime.fromtimestamp(account.changed_ts, config.site.tz).strftime(
            "%Y-%m-%d %H:%M")
        print(f"{account.name}\t{ROLE_NAMES[account.role]}\t{account.worker or '-'}\t{changed}")
    return EXIT_OK
