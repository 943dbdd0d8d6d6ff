"""The clip server: a registered clip by its hash, and nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
from pathlib import Path

from edge.config import HttpConfig
from edge.http import HttpServer


def _get(port: int, path: str, method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)  # sent exactly as written, no client-side normalisation
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def test_clip_served_by_hash_and_nothing_else(tmp_path: Path) -> None:
    """Test that a clip is served under its sha256 and every other path, traversal included, is 404."""
    clip = tmp_path / "clips" / "abc.mp3"
    clip.parent.mkdir()
    clip.write_bytes(b"ID3" + bytes(range(256)) * 40)
    sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    (tmp_path / "gridedge.sqlite3").write_bytes(b"secret")

    async def scenario() -> None:
        server = HttpServer(HttpConfig(bind="127.0.0.1", port=0))
        await server.start()
        try:
            server.clips.add(sha, clip)
            port = server.port
            assert server.clip_url(sha, ".mp3") == f"http://127.0.0.1:{port}/clips/{sha}.mp3"
            status, body, headers = await asyncio.to_thread(_get, port, f"/clips/{sha}.mp3")
            assert status == 200
            assert hashlib.sha256(body).hexdigest() == sha
            assert headers["Content-Type"] == "audio/mpeg"
            status, body, headers = await asyncio.to_thread(_get, port, f"/clips/{sha}.mp3", "HEAD")
            assert (status, body, headers["Content-Length"]) == (200, b"", str(clip.stat().st_size))
            refused = ["/clips/" + "0" * 64 + ".mp3", f"/clips/{sha}.wav", f"/clips/{sha.upper()}.mp3",
                       "/clips/../gridedge.sqlite3", "/clips/..%2fgridedge.sqlite3",
                       f"/clips/{sha}.mp3/../../gridedge.sqlite3", f"/clips/{sha}.mp3?x=1",
                       "/clips/abc.mp3", "/", "//etc/passwd", "/clips/", "/../../etc/passwd"]
            for path in refused:
                status, body, _ = await asyncio.to_thread(_get, port, path)
                assert (path, status) == (path, 404)
                assert b"secret" not in body
            # Twice on one kept-alive connection, as a speaker's HTTP client may do.
            def twice() -> list[tuple[int, bytes]]:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    out = []
                    for _ in range(2):
                        conn.request("GET", f"/clips/{sha}.mp3")
                        response = conn.getresponse()
                        out.append((response.status, response.read()))
                    return out
                finally:
                    conn.close()

            assert [(s, hashlib.sha256(b).hexdigest()) for s, b in await asyncio.to_thread(twice)] \
                == [(200, sha), (200, sha)]
            clip.write_bytes(b"")  # an emptied cache file is never served (HA #50729)
            status, _, _ = await asyncio.to_thread(_get, port, f"/clips/{sha}.mp3")
            assert status == 404
            clip.write_bytes(b"ID3 replaced")
            status, _, _ = await asyncio.to_thread(_get, port, f"/clips/{sha}.mp3")
            assert status == 404
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_public_url_wins_over_bind_address() -> None:
    """Test that clip URLs use http.public_url when staff set it."""
    server = HttpServer(HttpConfig(bind="0.0.0.0", port=8088,
                                   public_url="http://192.168.1.10:8088/"))
    assert server.clip_url("ab" * 32, ".mp3") == f"http://192.168.1.10:8088/clips/{'ab' * 32}.mp3"
