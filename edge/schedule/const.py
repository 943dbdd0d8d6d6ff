"""Constants of the schedule package (tunables staff should not touch)."""

from __future__ import annotations

# --- calendar sources, in the order they are asked ---------------------------------------------
SOURCE_OVERRIDE = "override"
SOURCE_CHINESE_CALENDAR = "chinese-calendar"
SOURCE_HOLIDAYS = "holidays"
SOURCE_HOLIDAYS_ESTIMATE = "holidays-estimate"
SOURCE_WEEKDAY_FALLBACK = "weekday-fallback"
PACKAGE_SOURCES = (SOURCE_CHINESE_CALENDAR, SOURCE_HOLIDAYS)
OFFICIAL_SOURCES = frozenset({SOURCE_OVERRIDE, SOURCE_CHINESE_CALENDAR, SOURCE_HOLIDAYS})
# The `holidays` package checks China against the State Council's notices from 2001 on.
HOLIDAYS_FIRST_OFFICIAL_YEAR = 2001

# --- scheduler ----------------------------------------------------------------------------------
# Longest sleep between two looks at the clock: bounds how late a clock jump is noticed.
MAX_SLEEP_S = 30.0
# A clip render is asked for this long before its slot unless config says otherwise.
DEFAULT_RENDER_AHEAD_S = 600.0
# How far ahead occurrences are expanded at a time.
HORIZON_S = 2 * 86400.0
# Persistent marker scope in the store.
STATE_SCOPE = "schedule"

# --- hot reload ---------------------------------------------------------------------------------
RELOAD_POLL_S = 2.0

# --- checks -------------------------------------------------------------------------------------
# Mandarin TTS speaks about 3.75 characters a second at 160 words a minute (60 characters ≈ 16 s,
# measured with espeak-ng cmn); a faster figure keeps the overlap check from flagging slots that
# would in fact not overlap. Both scale with the configured rate.
MEASURED_CHARS_PER_S = 3.75
MEASURED_RATE_WPM = 160
# Kokoro's Mandarin voices at speed 1.0: a 71-character notice took 17 s of speech (measured).
KOKORO_CHARS_PER_S = 4.2
TEXT_CHARS_PER_S = 4.5
# A text longer than this to speak is refused (2,000 characters are about 9 minutes).
DEFAULT_MAX_SPOKEN_S = 120.0
# Overlaps and calendar gaps are looked for this many days ahead of today.
CHECK_HORIZON_DAYS = 366
# After a long stop, slots older than this are not even reported as missed one by one.
MAX_LOOKBACK_S = 86400.0
