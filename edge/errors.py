"""Exceptions of the daemon.

Hierarchy::

    GridedgeError                 base of everything the daemon raises on purpose
     ├── ConfigError              (edge.config.errors) staff-edited YAML is invalid: exit 2, stay down
     └── BrokerError              the MQTT broker refused us or cannot be reached at start
"""

from __future__ import annotations

__all__ = ["BrokerError", "GridedgeError"]


class GridedgeError(Exception):
    """Base class of every error the daemon raises on purpose."""


class BrokerError(GridedgeError):
    """The MQTT broker refused the connection or could not be reached."""
