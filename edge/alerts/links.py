"""Signed links of the phone page: ``<public_url>/a/<token>``, and the nonce of each page's forms.

A token is a link of the HTTP server's signer (:class:`edge.http.auth.LinkSigner`: HMAC-SHA256
under the site's link key, an expiry inside, checked in constant time) whose subject names one
alert and, for a personal channel, the worker it was sent to. Nothing in a request can point it
at anything else, and a changed byte fails the MAC. It lasts ``LINK_TTL_S``; the phone page also
refuses it once the alert is resolved. A form nonce is a link of the same signer whose subject
names the page's token, so a nonce of one page is worthless on another.

The expiry is wall-clock time: a link must outlive a daemon restart, and no monotonic clock
does. A clock stepped back by hours can at worst lengthen a link's life by that much; it never
lets a forged or foreign token in.

The key is 32 random bytes, from ``GRIDEDGE_LINK_KEY`` (64 hex digits) when set, else from
``<data_dir>/phone-link.key``, created with mode 0600 on first start. It is never in YAML.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from edge.alerts.const import LINK_KEY_ENV, LINK_KEY_FILE, LINK_TTL_S, NONCE_TTL_S
from edge.alerts.errors import AlertsError
from edge.http import LinkError as SignerError
from edge.http import LinkSigner

__all__ = ["LinkClaim", "LinkError", "PhoneLinks", "load_link_key"]

logger = logging.getLogger(__name__)

_KEY_BYTES = 32
_MAX_TOKEN = 200


class LinkError(AlertsError):
    """A phone link or form that must be refused; ``reason`` is a short English word for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says."""

    alert_id: int
    worker: str     # "" = a group chat: the page asks who is answering


def load_link_key(data_dir: Path) -> bytes:
    """The link key: from the environment, else the data directory (made on first start).

    Raises:
        LinkError: the environment variable is set but is not 64 hex digits, or the key file
            is not a key.
        OSError: the key file exists but cannot be read.
    """
    text = os.environ.get(LINK_KEY_ENV, "").strip()
    if text:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != _KEY_BYTES:
            msg = f"{LINK_KEY_ENV} must be {_KEY_BYTES * 2} hex digits"
            raise LinkError(msg)
        return key
    path = data_dir / LINK_KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(_KEY_BYTES)
        try:
            return _create(path, key)
        except FileExistsError:
            return path.read_bytes()
        except OSError as err:
            # A full or read-only disk must not take the links away: this run's links work.
            logger.warning("cannot save the phone link key (%s); links in pages work until the "
                           "daemon restarts", err)
            return key
    if len(key) != _KEY_BYTES:
        msg = f"{path} is not a phone link key ({len(key)} bytes); delete it to make a new one"
        raise LinkError(msg)
    if path.stat().st_mode & 0o077:
        logger.warning("%s is readable by other users; chmod 600 it", path)
    return key


def _create(path: Path, key: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two daemons started at once on one folder must not each write their own key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
    except OSError:
        path.unlink(missing_ok=True)  # never leave half a key behind
        raise
    logger.info("created the phone link key %s (mode 0600)", path)
    return key


class PhoneLinks:
    """Issues and checks phone-link tokens and the nonces of the page's forms.

    Args:
        signer: the HTTP server's link signer (HMAC, expiry, constant-time check).
    """

    def __init__(self, signer: LinkSigner) -> None:
        self._signer = signer

    def issue(self, alert_id: int, worker: str = "") -> str:
        """A token for ``alert_id``, bound to ``worker`` ("" for a group chat)."""
        return self._signer.sign(f"a{alert_id}:{worker}", max_age_s=LINK_TTL_S)

    def verify(self, token: str) -> LinkClaim:
        """The claim of a token that is genuine and not expired.

        Raises:
            LinkError: malformed, forged or expired.
        """
        if not token or len(token) > _MAX_TOKEN:
            raise LinkError("malformed")
        try:
            subject = self._signer.verify(token)
        except SignerError as err:
            raise LinkError(_reason(str(err))) from None
        kind, _colon, worker = subject.partition(":")
        if not kind.startswith("a") or not kind[1:].isdigit():
            raise LinkError("malformed")  # a genuine link of another kind (a form nonce)
        return LinkClaim(int(kind[1:]), worker)

    def nonce(self, token: str) -> str:
        """A fresh nonce for the forms of one page showing ``token``."""
        return self._signer.sign(f"n{_digest(token)}:{secrets.token_urlsafe(8)}",
                                 max_age_s=NONCE_TTL_S)

    def check_nonce(self, token: str, nonce: str) -> str:
        """The nonce's identity, if it was made for ``token`` and is not stale.

        Raises:
            LinkError: forged, for another page, or stale.
        """
        if not nonce or len(nonce) > _MAX_TOKEN:
            raise LinkError("bad_nonce")
        try:
            subject = self._signer.verify(nonce)
        except SignerError as err:
            raise LinkError("stale_nonce" if _reason(str(err)) == "expired" else "bad_nonce",
                            ) from None
        page, _colon, _rand = subject.partition(":")
        if not hmac.compare_digest(page, f"n{_digest(token)}"):
            raise LinkError("bad_nonce")
        return subject


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _reason(text: str) -> str:
    return "expired" if "expired" in text else "bad_signature" if "forged" in text else "malformed"
