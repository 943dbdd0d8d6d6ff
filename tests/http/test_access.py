"""Who may see what: the access token on status and metrics, open health, cached write probe."""

from __future__ import annotations

from tests.ops.rig import TOKEN, Daemon, get, get_json, http_section, until

PROBE_SQL = "SELECT updated FROM state WHERE scope = 'ops' AND key = 'health_probe'"


def test_status_and_metrics_need_the_token_health_does_not(broker, write_config) -> None:
    """Test that /api/status and /metrics answer 401 without a token, 403 with a wrong one, 200 with it."""
    daemon = Daemon(write_config(broker, http=http_section())).start()
    try:
        for path in ("/api/status", "/metrics"):
            status, body, _ = get(daemon.url + path, token=None)
            assert status == 401, path
            assert "需要访问令牌" in body.decode()
            assert b"post" not in body and b"P01" not in body
            status, body, _ = get(daemon.url + path, token=TOKEN + "x")
            assert (status, body.decode().strip()) == (403, "访问令牌不正确")
            status, body, _ = get(daemon.url + path, token=TOKEN[:-1])
            assert status == 403
            assert get(daemon.url + path)[0] == 200
        status, doc = get_json(daemon.url + "/healthz", token=None)
        assert (status, doc["status"]) == (200, "ok")
        assert get(daemon.url + "/nowhere", token=None)[0] == 404
    finally:
        daemon.stop()


def test_without_a_configured_token_status_stays_closed(broker, write_config) -> None:
    """Test that with http.token empty, status and metrics are closed with a message that says why."""
    daemon = Daemon(write_config(broker, http=http_section(token=""))).start()
    try:
        for path in ("/api/status", "/metrics"):
            status, body, _ = get(daemon.url + path, token=None)
            assert status == 401
            assert "GRIDEDGE_HTTP_TOKEN" in body.decode()
            for guess in ("", "x", TOKEN):
                status, body, _ = get(daemon.url + path, token=guess)
                assert status == 403, (path, guess)
                assert "没有配置访问令牌" in body.decode()
        assert get(daemon.url + "/healthz", token=None)[0] == 200
    finally:
        daemon.stop()


def test_healthz_reads_a_cached_write_probe(broker, write_config) -> None:
    """Test that fifty /healthz requests write the database at most once (no fsync per request)."""
    daemon = Daemon(write_config(broker, http=http_section())).start()
    try:
        store = daemon.app.store
        first = until(lambda: store.query(PROBE_SQL))
        stamps = {first[0]["updated"]}
        for _ in range(50):
            assert get(daemon.url + "/healthz", token=None)[0] == 200
            stamps.add(store.query(PROBE_SQL)[0]["updated"])
        # The periodic probe may fall into the window once; a write per request makes 50.
        assert len(stamps) <= 2, len(stamps)
    finally:
        daemon.stop()
