"""Tunables of alerting that staff should not touch (delivery, polling, bounds)."""

from __future__ import annotations

# -- delivery -----------------------------------------------------------------------------------
# Retry backoff of a notification: first retry after RETRY_MIN_S, doubling up to RETRY_MAX_S.
RETRY_MIN_S = 1.0
RETRY_MAX_S = 120.0
# A notification still failing after this many attempts is given up, recorded and surfaced
# (with the backoff above that is about 6 hours of trying).
MAX_ATTEMPTS = 200
# QoS 1 publishes waiting for their PUBACK: paho overwrites unacknowledged messages past 65,535
# (docs/architecture.md, "Measured limits"), and a replay must not flood the broker either.
MQTT_MAX_IN_FLIGHT = 200
MQTT_PUBACK_TIMEOUT_S = 20.0
# Apprise calls block: each channel gets its own threads, so a hung service holds back only itself.
APPRISE_THREADS_PER_CHANNEL = 4
APPRISE_TIMEOUT_S = 30.0
# last_error of a row while its send is in flight: found so after a crash, it may have arrived.
IN_FLIGHT_MARK = "in flight"

# -- timing ---------------------------------------------------------------------------------------
TICK_S = 0.25            # escalation, silence expiry and broker watch
SILENCES_EVERY_S = 1.0   # silences written by the CLI are read from disk this often
IDLE_WAKE_S = 1.0        # the dispatcher looks for due retries at least this often

# -- MQTT -----------------------------------------------------------------------------------------
MQTT_CHANNEL = "mqtt"

# -- duplicates -----------------------------------------------------------------------------------
# Where a channel has room for it, the stable id "<alert id>-<seq>" of each message.
DEDUP_FIELD = "gridedge_id"
DEDUP_HEADER = "X-Gridedge-Id"
ACK_MAX_BYTES = 4096

# -- working state --------------------------------------------------------------------------------
# Resolved alerts whose notifications all ended are forgotten from memory after this long (they
# stay on disk until retention).
PRUNE_RESOLVED_AFTER_S = 3600.0
PRUNE_EVERY_S = 60.0

# -- hold-down ------------------------------------------------------------------------------------
# Hold-down of an offline speaker (posts use their own offline_after_s unless alerts.offline_hold_s).
DEFAULT_HOLD_S = 180
# After the broker link comes back, offline devices get this long to say they are online again
# before their hold-down may run out (wills replayed by a restarting broker page nobody).
RECONNECT_GRACE_S = 30.0

# -- phone page (edge/alerts/phone.py, links.py) ----------------------------------------------------
LINK_KEY_ENV = "GRIDEDGE_LINK_KEY"      # 64 hex digits; else the key file below
LINK_KEY_FILE = "phone-link.key"        # in the data directory, mode 0600
LINK_TTL_S = 24 * 3600.0                # a link works this long after its page was sent
NONCE_TTL_S = 2 * 3600.0                # a page left open this long must be reloaded to act
NONCE_MEMORY = 4096                     # used nonces remembered (each form is sent once)
# Per client address (limits' syntax): every request, and refused ones (bad or stale links).
PHONE_RATE = "30/minute"
PHONE_FAILURE_RATE = "10/10minutes"
PHONE_FORM_MAX_BYTES = 2048
# Channels whose URL scheme posts into a group chat: their links are not bound to one worker.
GROUP_CHAT_SCHEMES = ("wecombot", "dingtalk", "feishu", "lark", "slack", "discord", "msteams")

# -- spoken alerts (edge/alerts/speak.py) -----------------------------------------------------------
# A spoken alert waits at most this long for a busy or offline speaker, then counts as missed.
SPEAK_GRACE_S = 120.0
