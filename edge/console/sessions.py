"""Who is logged in to the console: encrypted session cookies, CSRF tokens, the login rate limit.

Sessions are aiohttp-session's encrypted cookies (Fernet: AES-128-CBC with HMAC-SHA256, and a
timestamp checked against :data:`SESSION_MAX_AGE_S`), ``HttpOnly`` and ``SameSite=Strict``,
``Secure`` when the console is reached over HTTPS. The key lives in the data directory (mode
0600), so a restart keeps people logged in. A session holds the account name, the account's
``pw_version`` (a new password or a removed account ends it) and the CSRF token that every form
and every ``fetch`` must send back.

Wrong passwords are counted per account name and per client address: after
:data:`FREE_FAILURES` within :data:`FAILURE_WINDOW_S`, every further attempt must wait, the wait
doubling on each failure (:class:`LoginLimiter`).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiohttp_session import Session, get_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from edge.console.const import (ADDRESS_FREE_FAILURES, COOKIE_NAME, CSRF_FIELD, CSRF_HEADER,
                                FAILURE_WINDOW_S,
                                FREE_FAILURES, KEY_FILE, LOCK_FIRST_S, LOCK_MAX_S,
                                MAX_TRACKED_CLIENTS, SESSION_MAX_AGE_S)
from edge.console.users import Account, Users
from edge.http.auth import Principal, same_secret

__all__ = ["LoginLimiter", "cookie_storage", "csrf_token", "csrf_ok", "load_cookie_key",
           "principal_of", "session_account"]

logger = logging.getLogger(__name__)

_KEY_BYTES = 32


def load_cookie_key(data_dir: Path) -> bytes:
    """The cookie encryption key from the data directory, made (mode 0600) on first start."""
    path = data_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(_KEY_BYTES)
        try:  # O_EXCL: two daemons started at once must not each write their own key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as file:
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
        logger.info("created the console cookie key %s (mode 0600)", path)
        return key
    if len(key) != _KEY_BYTES:
        msg = f"{path} is not a console cookie key ({len(key)} bytes); delete it to make a new one"
        raise ValueError(msg)
    return key


def cookie_storage(key: bytes, *, secure: bool) -> EncryptedCookieStorage:
    """The session storage: encrypted, HttpOnly, SameSite=Strict, expiring cookies."""
    return EncryptedCookieStorage(key, cookie_name=COOKIE_NAME, max_age=int(SESSION_MAX_AGE_S),
                                  httponly=True, samesite="Strict", secure=secure, path="/")


def csrf_token(session: Session) -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


async def csrf_ok(request: web.Request, session: Session) -> bool:
    """True when a state-changing request carries the session's CSRF token."""
    expected = session.get("csrf")
    if not isinstance(expected, str):
        return False
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.content_type in ("application/x-www-form-urlencoded",
                                              "multipart/form-data"):
        given = str((await request.post()).get(CSRF_FIELD, ""))
    return bool(given) and same_secret(given, expected)


def session_account(session: Session, users: Users) -> Account | None:
    """The logged-in account of a session, if it still exists with the same password."""
    name = session.get("user")
    if not isinstance(name, str):
        return None
    account = users.get(name)
    if account is None or account.pw_version != session.get("pw_version"):
        return None
    return account


def principal_of(account: Account) -> Principal:
    """The HTTP principal of a console account: its permissions and its role as roles."""
    return Principal(account.name, "session", account.permissions | {f"role:{account.role}"})


async def current_session(request: web.Request) -> Session:
    """The request's session (aiohttp-session)."""
    return await get_session(request)


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    locks: int = 0


class LoginLimiter:
    """Counts wrong passwords per key (``user:<name>``, ``addr:<ip>``) and makes them wait.

    Args:
        clock: monotonic seconds (durations); injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def wait_s(self, *keys: str) -> float:
        """Seconds until any of ``keys`` may try again (0 = now)."""
        now = self._clock()
        waits = [r.locked_until - now for k in keys if (r := self._records.get(k))]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        """One more wrong password for each key."""
        now = self._clock()
        for key in keys:
            record = self._records.pop(key, None) or _Record()
            self._records[key] = record
            while record.failures and record.failures[0] < now - FAILURE_WINDOW_S:
                record.failures.popleft()
            record.failures.append(now)
            free = ADDRESS_FREE_FAILURES if key.startswith("addr:") else FREE_FAILURES
            if len(record.failures) >= free:
                record.locked_until = now + min(LOCK_MAX_S, LOCK_FIRST_S * 2 ** record.locks)
                record.locks += 1
        while len(self._records) > MAX_TRACKED_CLIENTS:
            self._records.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        """A right password: forget the account's failures (the address keeps its own)."""
        for key in keys:
            self._records.pop(key, None)
