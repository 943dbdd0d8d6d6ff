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
# Notifications fetched from the outbox per round, and delivery confirmations per transaction.
FETCH_BATCH = 1000
CONFIRM_BATCH = 500
CONFIRM_FLUSH_S = 0.05

# -- timing ---------------------------------------------------------------------------------------
TICK_S = 0.25            # escalation, silence expiry and broker watch
IDLE_WAKE_S = 1.0        # the dispatcher looks for due retries at least this often

# -- MQTT -----------------------------------------------------------------------------------------
MQTT_CHANNEL = "mqtt"
ACK_MAX_BYTES = 4096
