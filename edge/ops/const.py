"""Constants of the operations endpoints and of Home Assistant discovery."""

from __future__ import annotations

# --- HTTP routes ---
METRICS_ROUTE = "/metrics"      # access token
HEALTH_ROUTE = "/healthz"       # open: a watchdog or the installer checks it without a token
STATUS_ROUTE = "/api/status"    # access token: it shows open alerts and post states
JSON_TYPE = "application/json; charset=utf-8"

# --- Timing of the daemon's own work (not staff settings) ---
LOOP_ANSWER_S = 5.0
"""A /metrics worker thread waits this long for the event loop to hand over its figures."""
HEALTH_PROBE_EVERY_S = 30.0
"""How often one row is written to prove the database takes writes (/healthz reads the result)."""
HEALTH_PROBE_STUCK_S = 10.0
"""A probe write still unfinished after this long makes /healthz fail while it hangs."""
SPEAKER_STATE_EVERY_S = 1.0
"""How often the speakers' now-playing state is compared and republished when it changed."""
CONNECT_CHECK_S = 0.5
"""How often the discovery publisher looks for a new broker session (reconnect)."""

# --- Dispatch lateness histogram (seconds late: dispatched - due) ---
LATENESS_BUCKETS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# --- Home Assistant ---
HA_SCOPE = "homeassistant"
"""Store scope of the discovery topics published last (stale ones are cleared on start)."""
HA_TEXT_MAX = 255
"""Home Assistant refuses a text entity whose ``max`` exceeds 255 characters."""
HA_BY = "homeassistant"
"""Who a reset pressed in Home Assistant is recorded as."""
PORT_STATE_ORDER = ("cutoff_failed", "cutting", "cut_off", "latched", "overload", "normal")
"""Port states from the most to the least urgent: a post shows its most urgent port's."""
