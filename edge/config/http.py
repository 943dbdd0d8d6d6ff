"""``http:`` — the daemon's HTTP server (clips for speakers, health, metrics and status)."""

from __future__ import annotations

from pydantic import Field

from edge.config.base import StrictModel

__all__ = ["HttpConfig"]


class HttpConfig(StrictModel):
    """Where the daemon serves clips and /healthz (open), /metrics and /api/status (token)."""

    bind: str = Field(default="0.0.0.0", description="address to listen on; the speakers fetch "  # noqa: S104 - speakers on the LAN fetch clips
                      "clips here, so it must include the box's LAN address (0.0.0.0 = all)")
    port: int = Field(default=8088, ge=0, le=65535, description="TCP port; 0 = any free port")
    public_url: str = Field(default="", description="URL speakers use to reach this server, "
                            "e.g. http://192.168.1.10:8088; empty = derived from bind address")
    token: str = Field(default="", description="access token for /metrics, /api/status and "
                       "every other address that shows or changes state (Authorization: "
                       "Bearer …); write ${GRIDEDGE_HTTP_TOKEN:-}; empty = those stay closed")
