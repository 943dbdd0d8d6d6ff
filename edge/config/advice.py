"""Warnings about a valid config that is unsafe to run in the field (``gridedge check`` prints them)."""

from __future__ import annotations

import ipaddress

from edge.config.root import GridedgeConfig
from edge.i18n import _

__all__ = ["security_warnings"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_warnings(config: GridedgeConfig) -> list[str]:
    """Sentences (in the current language) for each unsafe setting; [] when none."""
    warnings = []
    mqtt = config.mqtt
    if not mqtt.tls.enabled and not _is_loopback(mqtt.host):
        warnings.append(_("mqtt: the broker {host} is not on this machine and TLS is off, so "
                          "passwords and cut-off commands cross the network readable by anyone; "
                          "set mqtt.tls.enabled: true (see deploy/mosquitto/)").format(host=mqtt.host))
    if not mqtt.password:
        warnings.append(_("mqtt: no password is set, so the broker must accept anonymous "
                          "clients, and anyone on the network could play on the speakers or "
                          "switch ports; set mqtt.username and password: "
                          "${{GRIDEDGE_MQTT_PASSWORD}}").format())
    return warnings
