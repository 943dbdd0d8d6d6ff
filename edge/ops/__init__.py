"""Operations: Prometheus metrics, health and status over HTTP, Home Assistant MQTT discovery.

Both are daemon components listed in ``edge.app.COMPONENT_MODULES``:
``edge.ops.metrics`` (``/metrics``, ``/healthz``, ``/api/status``) and ``edge.ops.homeassistant``.
"""

from edge.ops.discovery import DiscoveryMessage, discovery_messages
from edge.ops.figures import Figures, gather

__all__ = ["DiscoveryMessage", "Figures", "discovery_messages", "gather"]
