"""Constants of `gridedge bridge`: MQTT QoS, read windows, timeouts, log levels."""

from __future__ import annotations

import logging

# --- Profiles --------------------------------------------------------------------------------
# The bridge publishes canonical telemetry, so every post it serves uses this post profile.
CANONICAL_POST_PROFILE = "gridedge-post"

# --- MQTT ------------------------------------------------------------------------------------
CLIENT_ID_SUFFIX = "-bridge"
# Routine telemetry is QoS 0: a reading queued during a broker outage is stale when delivered.
TELEMETRY_QOS = 0
# The reading right after a cut-off is what the daemon confirms the cut-off with: deliver it.
CONFIRM_QOS = 1
AVAILABILITY_QOS = 1
ONLINE = "online"
OFFLINE = "offline"
# Telemetry values are rounded to this many decimals (float noise from register scaling).
VALUE_DECIMALS = 6
# Post-level keys of the canonical telemetry (device_profiles/posts/gridedge-post.yaml). A meter's
# frequency, power factor and post-level energy counter have no canonical key and are not sent.
POST_TELEMETRY_KEYS = ("voltage_v", "temp_c", "current_a", "power_w")
PORT_TELEMETRY_KEYS = ("current_a", "power_w", "energy_kwh", "on", "temp_c", "status", "fault")
MAX_COMMAND_BYTES = 4096

# --- JSON-lines boards -------------------------------------------------------------------------
# One read blocks at most this long, so a command waits at most this long for the line.
JSONL_READ_WINDOW_S = 0.2
# How long a board has to show a commanded port state in its telemetry.
JSONL_CONFIRM_TIMEOUT_S = 3.0

# --- Robustness --------------------------------------------------------------------------------
# After an error the library did not classify, the line rests this long before the next request.
UNEXPECTED_ERROR_PAUSE_S = 1.0
# A line whose port is gone is retried at this pace at most (the library backs off reopening).
PORT_GONE_PAUSE_S = 0.2

# --- Logging -----------------------------------------------------------------------------------
# pymodbus logs an ERROR for every timeout and bad frame; the library counts and logs those
# itself (rate-limited), so pymodbus is quiet unless config.yaml's logging.levels says otherwise.
PYMODBUS_LOGGER = "pymodbus"
PYMODBUS_LOG_LEVEL = logging.CRITICAL

# --- Commands ----------------------------------------------------------------------------------
# Commands waiting for one line; more are refused (counted) rather than piling up behind a
# line that is down.
MAX_PENDING_COMMANDS = 32
