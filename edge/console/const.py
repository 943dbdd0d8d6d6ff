"""Constants of the office console: password hashing, sessions, login limits, live updates."""

from __future__ import annotations

# --- Passwords (scrypt, hashlib) ---
# n=2**14, r=8, p=1: 16 MiB and about 50 ms per check on a small ARM box, the interactive-login
# parameters scrypt's author recommends; stored with each hash, so they can be raised later.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 200

# --- Sessions (encrypted cookie) ---
PREFIX = "/console"
COOKIE_NAME = "gridedge_console"
SESSION_MAX_AGE_S = 12 * 3600      # one working day; then log in again
KEY_FILE = "console-cookie.key"    # in the data directory, mode 0600, made on first start
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"

# --- Login rate limit ---
# Wrong passwords are free up to this many per account name or per client address within the
# window; after that each further attempt must wait, doubling from LOCK_FIRST_S to LOCK_MAX_S.
FREE_FAILURES = 10
# One client address may try more names before it waits (an office PC shared by several people).
ADDRESS_FREE_FAILURES = 50
FAILURE_WINDOW_S = 15 * 60.0
LOCK_FIRST_S = 30.0
LOCK_MAX_S = 15 * 60.0
MAX_TRACKED_CLIENTS = 10_000       # the failure table is bounded: oldest entries go first

# --- Live overview (server-sent events) ---
LIVE_EVERY_S = 1.0
LIVE_MAX_S = 3600.0                # a stream ends after an hour; the browser reconnects itself

# --- Editor ---
MAX_FILE_BYTES = 256 * 1024
HISTORY_SHOWN = 30

# --- Proof of play ---
PLAYS_PAGE_ROWS = 2000
