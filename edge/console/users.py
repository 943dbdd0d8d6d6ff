"""Office console accounts: names, roles, scrypt password hashes, in the daemon's database.

An account is one person of ``config.yaml``'s roster (grid worker, duty officer, cadre, who then
acknowledge alerts as themselves) or office staff and administrators, who are not on the roster.
What a role may do is the table :data:`PERMISSIONS`; pages and APIs ask for a permission, never a
role. Passwords are hashed with scrypt (``hashlib``, memory-hard) and a random salt; a new
password bumps ``pw_version`` so that every session opened with the old one ends.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from edge.console.const import (MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, SCRYPT_DKLEN, SCRYPT_N,
                                SCRYPT_P, SCRYPT_R)
from edge.errors import GridedgeError
from edge.i18n import N_, _
from edge.store import Store

__all__ = ["PERMISSIONS", "Account", "AccountError", "Role", "Users", "hash_password",
           "verify_password"]


class Role(StrEnum):
    """Who a console user is; spelled as in ``gridedge users add --role``."""

    ADMIN = "admin"                  # 管理员
    OFFICE = "office"                # 社区办公室工作人员
    DUTY_OFFICER = "duty_officer"    # 值班人员
    GRID_WORKER = "grid_worker"      # 网格员
    CADRE = "cadre"                  # 包联干部


# What each role may do. "view" is every page; "edit" schedules and config.yaml; "reset" a
# latched port; "ack" an alert (as the roster worker the account is linked to); "say" now.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"view", "edit", "reset", "ack", "say"}),
    Role.OFFICE: frozenset({"view", "edit", "reset", "ack", "say"}),
    Role.DUTY_OFFICER: frozenset({"view", "reset", "ack", "say"}),
    Role.GRID_WORKER: frozenset({"view", "reset", "ack"}),
    Role.CADRE: frozenset({"view", "ack"}),
}

ROLE_NAMES = {Role.ADMIN: "管理员", Role.OFFICE: "办公室", Role.DUTY_OFFICER: "值班人员",
              Role.GRID_WORKER: "网格员", Role.CADRE: "包联干部"}

M_SHORT = N_("a password needs at least {count} characters")
M_LONG = N_("a password may have at most {count} characters")
M_EXISTS = N_("there is already an account '{name}'")
M_MISSING = N_("there is no account '{name}'")
M_BAD_NAME = N_("an account name is 1 to 40 letters, digits, '-' or '_' (got '{name}')")


class AccountError(GridedgeError):
    """An account cannot be added, changed or removed (the message says why, translated)."""


@dataclass(frozen=True)
class Account:
    """One console login."""

    name: str
    role: Role
    worker: str
    pw_version: int
    changed_ts: float

    @property
    def permissions(self) -> frozenset[str]:
        """What this account may do (see :data:`PERMISSIONS`)."""
        return PERMISSIONS[self.role]


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` of a password, with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_DKLEN, maxmem=256 * SCRYPT_N * SCRYPT_R)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        given = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                               p=int(p), dklen=len(expected), maxmem=256 * int(n) * int(r))
    except ValueError:
        return False
    return hmac.compare_digest(given, expected)


@functools.cache
def _dummy_hash() -> str:
    """A made-up hash to check unknown names against, so they cost as much as known ones (made
    on first use: every ``gridedge`` command imports this module)."""
    return hash_password(secrets.token_hex(8))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(_(M_SHORT).format(count=MIN_PASSWORD_CHARS))
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(_(M_LONG).format(count=MAX_PASSWORD_CHARS))


def _check_name(name: str) -> None:
    ok = 0 < len(name) <= 40 and all(c.isalnum() or c in "-_" for c in name)  # noqa: PLR2004
    if not ok:
        raise AccountError(_(M_BAD_NAME).format(name=name))


class Users:
    """The accounts table (``console_users``) of one store; every change goes to the audit log.

    Args:
        store: the daemon's database (opened).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, name: str) -> Account | None:
        """The account, or None."""
        rows = self.store.query("SELECT name, role, worker, pw_version, changed_ts FROM "
                                "console_users WHERE name = ?", (name,))
        if not rows:
            return None
        row = rows[0]
        return Account(row["name"], Role(row["role"]), row["worker"], row["pw_version"],
                       row["changed_ts"])

    def all(self) -> list[Account]:
        """Every account, by name."""
        names = [r["name"] for r in self.store.query("SELECT name FROM console_users ORDER BY "
                                                      "name")]
        return [a for a in (self.get(n) for n in names) if a is not None]

    def authenticate(self, name: str, password: str) -> Account | None:
        """The account when the password is right, else None (same cost either way)."""
        rows = self.store.query("SELECT pw_hash FROM console_users WHERE name = ?", (name,))
        stored = rows[0]["pw_hash"] if rows else _dummy_hash()
        if not verify_password(password, stored) or not rows:
            return None
        return self.get(name)

    def add(self, name: str, role: Role, password: str, *, worker: str = "",
            by: str = "") -> Account:
        """A new account (raises AccountError if it exists or the password is too short)."""
        _check_name(name)
        _check_password(password)
        if self.get(name) is not None:
            raise AccountError(_(M_EXISTS).format(name=name))
        now = time.time()
        with self.store.transaction() as db:
            db.execute("INSERT INTO console_users (name, role, worker, pw_hash, created_ts, "
                       "changed_ts) VALUES (?, ?, ?, ?, ?, ?)",
                       (name, role.value, worker, hash_password(password), now, now))
        self._audit("console.user_added", name, by, role=role.value, worker=worker)
        return self.get(name)  # type: ignore[return-value]

    def set_password(self, name: str, password: str, *, by: str = "") -> None:
        """A new password; every session opened with the old one ends."""
        _check_password(password)
        if self.get(name) is None:
            raise AccountError(_(M_MISSING).format(name=name))
        with self.store.transaction() as db:
            db.execute("UPDATE console_users SET pw_hash = ?, pw_version = pw_version + 1, "
                       "changed_ts = ? WHERE name = ?", (hash_password(password), time.time(),
                                                         name))
        self._audit("console.password_set", name, by)

    def remove(self, name: str, *, by: str = "") -> None:
        """Delete an account; its sessions end at their next request."""
        with self.store.transaction() as db:
            gone = db.execute("DELETE FROM console_users WHERE name = ?", (name,)).rowcount
        if not gone:
            raise AccountError(_(M_MISSING).format(name=name))
        self._audit("console.user_removed", name, by)

    def _audit(self, kind: str, name: str, by: str, **detail: str) -> None:
        self.store.record_event(kind, name, "info", {"by": by, **detail})
