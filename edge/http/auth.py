"""Who may see what over HTTP: principals, authenticators, the access token and signed links.

Every route of the server is closed unless it was registered as public (clips, ``/healthz``,
pages that check their own signed link). A request to a closed route passes only when one of
the server's authenticators recognises it: the built-in :class:`BearerToken` (``http.token``,
for Prometheus and scripts), and whatever later components add with
:meth:`edge.http.HttpServer.add_authenticator` (the office console's login sessions).

An authenticator returns a :class:`Principal` for a request carrying valid credentials of its
kind, ``None`` for a request carrying none of its kind, and raises :class:`AuthError` for a
request carrying wrong ones. Secrets are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import hdrs, web

from edge.errors import GridedgeError
from edge.http.const import LINK_SIGNATURE_BYTES, LINK_TOKEN_MAX_AGE_S
from edge.i18n import N_, _

__all__ = ["PRINCIPAL", "AuthError", "Authenticator", "BearerToken", "LinkError", "LinkSigner",
           "Principal", "principal", "require_role", "same_secret"]


@dataclass(frozen=True)
class Principal:
    """Who a request acts for.

    Args:
        name: the user, worker or "token".
        kind: how it was recognised: ``token``, ``session``, ``link`` …
        roles: what it may do (the console's roles; the access token has ``machine``).
    """

    name: str
    kind: str
    roles: frozenset[str] = field(default_factory=frozenset)


PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("gridedge_principal", Principal)

Authenticator = Callable[[web.Request], Awaitable[Principal | None]]
"""``async (request) -> Principal | None``; raises :class:`AuthError` on wrong credentials."""


class AuthError(GridedgeError):
    """A request carried credentials that are wrong, expired or not allowed (HTTP 403)."""


class LinkError(GridedgeError):
    """A signed link is malformed, forged or expired."""


M_NO_TOKEN = N_("this address needs an access token (Authorization: Bearer …)")
M_NO_TOKEN_SET = N_("no access token is configured on this box (http.token, environment "
                    "variable GRIDEDGE_HTTP_TOKEN), so this address stays closed")
M_WRONG_TOKEN = N_("the access token is wrong")
M_NO_ROLE = N_("your account may not do this")


def same_secret(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of two secrets (the time never tells how much matched)."""
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


class BearerToken:
    """The access token of ``http.token`` in ``Authorization: Bearer <token>``.

    Args:
        token: the configured token; empty = no token is accepted at all.
    """

    MACHINE = "machine"

    def __init__(self, token: str) -> None:
        self._token = token

    @property
    def configured(self) -> bool:
        """True when a token is set, so that token routes can open at all."""
        return bool(self._token)

    async def __call__(self, request: web.Request) -> Principal | None:
        """The principal of a request with the right token; None without a bearer header."""
        header = request.headers.get(hdrs.AUTHORIZATION, "")
        scheme, _sep, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        if not self._token:
            raise AuthError(_(M_NO_TOKEN_SET))
        if not same_secret(given.strip(), self._token):
            raise AuthError(_(M_WRONG_TOKEN))
        return Principal("token", "token", frozenset({self.MACHINE}))


def principal(request: web.Request) -> Principal | None:
    """Who the request acts for (None on a public route without credentials)."""
    return request.get(PRINCIPAL)


def require_role(request: web.Request, role: str) -> Principal:
    """The request's principal when it holds ``role``; else HTTP 403."""
    found = principal(request)
    if found is None or role not in found.roles:
        raise web.HTTPForbidden(text=_(M_NO_ROLE) + "\n")
    return found


class LinkSigner:
    """Short HMAC-signed links that carry a subject and an expiry (e.g. one alert for one worker).

    A link token reads ``<subject, expiry>.<signature>`` in URL-safe base64; the signature is
    HMAC-SHA256 over the first part with the site's secret key, cut to 128 bits, checked in
    constant time.

    Args:
        key: the secret key (at least 32 random bytes).
        clock: wall-clock seconds (expiry is a calendar moment); injectable for tests.
    """

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:  # noqa: PLR2004 - 256 bits, the HMAC-SHA256 block strength
            msg = "a link signing key needs at least 32 bytes"
            raise ValueError(msg)
        self._key = key
        self._clock = clock

    def sign(self, subject: str, *, max_age_s: float = LINK_TOKEN_MAX_AGE_S) -> str:
        """A token for ``subject`` that expires ``max_age_s`` from now."""
        expires = int(self._clock() + max_age_s)
        body = _b64(f"{subject}\n{expires}".encode())
        return f"{body}.{_b64(self._mac(body))}"

    def verify(self, token: str) -> str:
        """The subject of a valid, unexpired token.

        Raises:
            LinkError: malformed, forged or expired.
        """
        body, sep, signature = token.partition(".")
        if not sep or not body or not signature:
            msg = "malformed link"
            raise LinkError(msg)
        try:
            given = _unb64(signature)
            subject, _nl, expires = _unb64(body).decode().rpartition("\n")
            expires_at = int(expires)
        except (ValueError, UnicodeDecodeError) as err:
            msg = "malformed link"
            raise LinkError(msg) from err
        if not same_secret(given, self._mac(body)) or _b64(given) != signature:
            msg = "forged link"
            raise LinkError(msg)
        if self._clock() >= expires_at:
            msg = "expired link"
            raise LinkError(msg)
        return subject

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:LINK_SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
