"""Constants of post monitoring: plausibility bounds, timing tunables, state and event names."""

from __future__ import annotations

from edge.posts._limits import MAX_CURRENT_A, MAX_POWER_W, MAX_TEMP_C, MIN_TEMP_C

__all__ = [
    "CONFIRM_CURRENT_A",
    "LOG_REJECTIONS_EVERY_S",
    "MAX_CURRENT_A",
    "MAX_ENERGY_KWH",
    "MAX_POWER_W",
    "MAX_TEMP_C",
    "MAX_TEXT",
    "MAX_VOLTAGE_V",
    "MIN_TEMP_C",
]

# --- Plausibility (beyond these a value is a sensor fault, never a reading) ---
MAX_VOLTAGE_V = 400.0  # 220 V mains; 400 V would be a lost neutral on a 3-phase feed
MAX_ENERGY_KWH = 10_000_000.0
MAX_TEXT = 64
"""Longest status or fault text taken from a device."""

# --- Sensor faults ---
SENSOR_FAULT_AFTER = 3
"""Consecutive rejected readings of a port (or unreadable messages of a post) = a sensor fault."""
LOG_REJECTIONS_EVERY_S = 60.0

# --- Cut-off ---
CONFIRM_CURRENT_A = 0.1
"""At or below this a cut port counts as off (meters read a few mA of noise)."""

# --- Clock ---
CLOCK_STEP_TOLERANCE_S = 2.0
"""A device clock that moved this much more or less than the daemon's between two messages
stepped (NTP, a reset RTC). Tasmota stamps whole seconds; network jitter is far below this."""
LOG_CLOCK_STEPS_EVERY_S = 3600.0
"""A post whose clock keeps stepping is logged at most this often (each step is counted)."""

# --- Devices nobody configured ---
LOG_UNKNOWN_DEVICE_EVERY_S = 3600.0
"""Telemetry from a device id no post has is logged at most this often per id (always counted)."""

# --- Timing of the daemon's own work (not staff settings) ---
STATE_MIN_INTERVAL_S = 1.0
"""Changed readings are published at most this often per post; protection changes at once."""
STATE_MAX_PER_S = 200
"""Documents of changed readings published per second in all (1,000 posts: each every 5 s)."""
PERSIST_EVERY_S = 10.0
"""Protection state of a post that changed is saved this often (and at every trip and reset)."""
SAVE_RETRY_S = 1.0
"""A save that failed (disk full, read-only) is tried again this often until it is written."""
SAVE_FLUSH_S = 5.0
"""On stop, how long the daemon waits for the last saves to be written."""
OFFLINE_CHECK_S = 1.0
HOUSEKEEPING_SLICE_S = 0.0005
"""Work done by the once-a-second housekeeping before it yields to the loop (a time, not a count
of posts: one state document or snapshot costs 50-200 µs, so 25 posts could hold a trip that
arrives meanwhile for several milliseconds)."""

# --- MQTT commands ---
RESET_TIMEOUT_S = 10.0
"""How long ``gridedge posts reset`` waits for the daemon's answer."""
STATUS_WAIT_S = 1.5
"""How long ``gridedge posts status`` collects the retained states."""

# --- Event kinds (foundation.md) ---
EV_TRIP = "post.trip"
EV_RECUT = "post.recut"
EV_CONFIRMED = "post.cutoff_confirmed"
EV_FAILED = "post.cutoff_failed"
EV_OFFLINE = "post.offline"
EV_ONLINE = "post.online"
EV_SENSOR = "post.sensor_fault"
EV_RESET = "post.reset"
EV_CLOCK_STEP = "post.clock_step"

# --- Port states as published in posts/<post>/state ---
PORT_NORMAL = "normal"
PORT_PICKUP = "overload"  # an element is timing
PORT_CUTTING = "cutting"  # latched, cut-off sent, not confirmed yet
PORT_CUT = "cut_off"  # latched, telemetry confirmed the port is off
PORT_CUT_FAILED = "cutoff_failed"  # latched, retries exhausted and still not confirmed
PORT_LATCHED = "latched"  # latched, restored after a restart, no telemetry since
