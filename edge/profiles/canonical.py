"""The one table of canonical keys and units every profile maps device payloads onto."""

from __future__ import annotations

__all__ = ["POST_KEYS", "PORT_KEYS", "SPEAKER_KEYS", "TEMPLATE_VARS"]

# key → (unit, meaning)
POST_KEYS: dict[str, tuple[str, str]] = {
    "voltage_v": ("V", "supply voltage at the post"),
    "temp_c": ("°C", "temperature inside the post"),
    "current_a": ("A", "total current of the post"),
    "power_w": ("W", "total active power of the post"),
    "fault": ("", "fault the post reports, or none"),
}
PORT_KEYS: dict[str, tuple[str, str]] = {
    "current_a": ("A", "current of the port"),
    "power_w": ("W", "active power of the port"),
    "voltage_v": ("V", "voltage at the port"),
    "energy_kwh": ("kWh", "energy counter of the port"),
    "on": ("", "relay closed (true) or open (false)"),
    "temp_c": ("°C", "temperature at the port"),
    "status": ("", "port state as the device names it (idle, charging, full, ...)"),
    "fault": ("", "fault the port reports (overcurrent, overpower, overtemp, ...), or none"),
}
SPEAKER_KEYS: dict[str, tuple[str, str]] = {
    "id": ("", "id of the command this status answers"),
    "state": ("", "playing, done, failed or interrupted"),
    "volume": ("%", "volume the speaker reports"),
    "detail": ("", "reason or text the speaker gives"),
}

# Placeholders a topic or command template may use, by profile kind.
TEMPLATE_VARS: dict[str, frozenset[str]] = {
    "topic": frozenset({"device", "site", "root", "port"}),
    "post": frozenset({"device", "site", "root", "port", "request_id", "reason"}),
    "speaker": frozenset({"device", "site", "root", "request_id", "url", "sha256", "duration_s",
                          "volume", "priority", "text"}),
}
