"""``http:`` — the daemon's HTTP server (clips for speakers, health and metrics)."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import StrictModel

__all__ = ["HttpConfig"]


class HttpConfig(StrictModel):
    """Where the daemon serves clips, /healthz and /metrics."""

    bind: str = Field(default="0.0.0.0", description="address to listen on")  # noqa: S104 - speakers on the LAN fetch clips
    port: int = Field(default=8088, ge=0, le=65535, description="TCP port; 0 = any free port")
    public_url: str = Field(default="", description="URL speakers use to reach this server, "
                            "e.g. http://192.168.1.10:8088; empty = derived from bind address")
