"""`gridedge district uplink-config`: the bridge block, its errors, and real brokers running it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import trustme
import yaml

from edge.config import ConfigError, load_config
from edge.district.errors import DistrictError
from edge.district.uplink import ENV_CA, ENV_CERT, ENV_KEY, ENV_PASSWORD, ENV_USERNAME, uplink_config
from edge.mqtt import Topics
from edge.sim.broker import free_port
from tests.broker.harness import NEEDS_MOSQUITTO, Broker
from tests.conftest import gridedge_command, site_config
from tests.district.cluster import NatsCluster
from tests.district.conftest import NEEDS_CLUSTER, district_site_config, node_endpoint

# A guard, not a speed limit: the first test on a worker also starts the cluster.
pytestmark = pytest.mark.timeout(180)


def _config(tmp_path: Path, site_id: str, broker: Broker, upstreams: list[str], **district: object):
    return load_config(district_site_config(site_id, broker, tmp_path, upstreams, **district))


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_block_bridges_the_site_prefix_both_ways(tmp_path: Path, site_id: str, broker: Broker,
                                                 site_environ: dict[str, str]) -> None:
    del site_environ
    config = _config(tmp_path, site_id, broker, ["nats1.example:1883", "nats2.example"])
    lines = _lines(uplink_config(config, environ={}))
    p = f"gridedge/{site_id}"
    assert lines[0] == f"connection gridedge-{site_id}-uplink"
    # Failover in the written order, not round robin; a missing port is MQTT's 1883.
    assert "address nats1.example:1883 nats2.example:1883" in lines
    assert "round_robin false" in lines
    for setting in ("cleansession false", f"remote_clientid gridedge-{site_id}-uplink",
                    "bridge_protocol_version mqttv311", "try_private false"):
        assert setting in lines
    topics = [line for line in lines if line.startswith("topic ")]
    assert topics == [
        f"topic {p}/daemon/availability out 1",
        f"topic {p}/posts/+/state out 1",
        f"topic {p}/speakers/+/state out 1",
        f"topic {p}/alerts/+ out 1",
        f"topic {p}/events out 1",
        f"topic announce in 1 {p}/ {p}/district/",
        f"topic {p}/alerts/+/ack in 1",
    ]
    # No credential or TLS line when the environment gives none.
    assert not [line for line in lines if line.startswith(("remote_user", "remote_pass", "bridge_ca"))]


def test_credentials_and_tls_come_from_the_environment(tmp_path: Path, site_id: str,
                                                       broker: Broker,
                                                       site_environ: dict[str, str]) -> None:
    del site_environ
    ca = trustme.CA()
    ca_file, cert_file = tmp_path / "ca.pem", tmp_path / "site.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("site.example").private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    config = _config(tmp_path, site_id, broker, ["nats1.example"], tls=True,
                     client_id="jiedao-site-7")
    env = {ENV_USERNAME: "site7", ENV_PASSWORD: "s3cret", ENV_CA: str(ca_file),
           ENV_CERT: str(cert_file), ENV_KEY: str(cert_file)}
    lines = _lines(uplink_config(config, environ=env))
    assert "address nats1.example:8883" in lines  # TLS port by default
    assert "remote_clientid jiedao-site-7" in lines
    assert {"remote_username site7", "remote_password s3cret", f"bridge_cafile {ca_file}",
            f"bridge_certfile {cert_file}", f"bridge_keyfile {cert_file}"} <= set(lines)
    # The secret is in the generated block only, never in config.yaml.
    assert "s3cret" not in (tmp_path / "config.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("district", "env", "expected"), [
    ({"tls": True}, {}, "district: 段的 tls: 是 true, 但没有设置 GRIDEDGE_DISTRICT_CA_FILE"),
    ({}, {ENV_CA: "/x.pem"}, "设置了 GRIDEDGE_DISTRICT_CA_FILE, 但 district: 段的 tls: 是 false"),
    ({}, {ENV_PASSWORD: "x"}, "设置了 GRIDEDGE_DISTRICT_PASSWORD 却没有设置 "
     "GRIDEDGE_DISTRICT_USERNAME"),
    ({}, {ENV_USERNAME: "a b"}, "环境变量 GRIDEDGE_DISTRICT_USERNAME 里有空格或换行"),
    ({"tls": True}, {ENV_CA: "/nonexistent/ca.pem"}, "GRIDEDGE_DISTRICT_CA_FILE 指向的文件不存在"),
])
def test_environment_mistakes_are_named_in_chinese(tmp_path: Path, site_id: str, broker: Broker,
                                                   site_environ: dict[str, str], district: dict,
                                                   env: dict[str, str], expected: str) -> None:
    del site_environ
    config = _config(tmp_path, site_id, broker, ["nats1.example"], **district)
    with pytest.raises(DistrictError) as caught:
        uplink_config(config, environ=env)
    assert expected in str(caught.value)


def test_a_wrong_section_is_reported_at_its_line(tmp_path: Path, site_id: str, broker: Broker,
                                                 site_environ: dict[str, str]) -> None:
    del site_environ
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, site_id, broker, ["nats1.example:99999", "bad host"],
                client_id="有中文")
    text = str(caught.value)
    assert text.count("上级服务器写成 地址:端口") == 2  # noqa: PLR2004
    assert "客户端编号只能用字母" in text
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, site_id, broker, [])
    assert "district.upstreams" in str(caught.value)


def test_command_without_district_section_says_what_to_add(tmp_path: Path, site_id: str,
                                                           broker: Broker,
                                                           site_environ: dict[str, str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(site_config(site_id, broker, tmp_path / "data"),
                                   allow_unicode=True), encoding="utf-8")
    done = subprocess.run([*gridedge_command(), "district", "uplink-config", "-c", str(path)],
                          capture_output=True, text=True, env=site_environ | _path_env(),
                          check=False, timeout=60)
    assert done.returncode == 2  # noqa: PLR2004
    assert "config.yaml 里没有 district: 段" in done.stderr


def test_command_writes_a_private_file(tmp_path: Path, site_id: str, broker: Broker,
                                       site_environ: dict[str, str]) -> None:
    config = district_site_config(site_id, broker, tmp_path, ["127.0.0.1:1884"])
    out = tmp_path / "conf.d" / "gridedge-district.conf"
    done = subprocess.run([*gridedge_command(), "district", "uplink-config", "-c", str(config),
                           "-o", str(out)], capture_output=True, text=True,
                          env=site_environ | _path_env() | {ENV_USERNAME: "u", ENV_PASSWORD: "p"},
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "remote_password p" in out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o077 == 0


@NEEDS_MOSQUITTO
def test_real_mosquitto_accepts_the_block_with_tls(tmp_path: Path, site_id: str,
                                                   site_environ: dict[str, str]) -> None:
    """mosquitto refuses a configuration it cannot parse (or a missing TLS file) at start."""
    del site_environ
    ca = trustme.CA()
    ca_file, cert_file = tmp_path / "ca.pem", tmp_path / "site.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("site.example").private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    broker = Broker(tmp_path)
    config = load_config(district_site_config(site_id, broker, tmp_path,
                                              [f"127.0.0.1:{free_port()}", "127.0.0.1"], tls=True))
    broker.extra_conf = "\n" + uplink_config(config, environ={
        ENV_USERNAME: "u", ENV_PASSWORD: "p", ENV_CA: str(ca_file), ENV_CERT: str(cert_file),
        ENV_KEY: str(cert_file)})
    broker.start()
    try:
        deadline = time.monotonic() + 30
        # It parsed the block and tries the first upstream (where nothing listens).
        while f"gridedge-{site_id}-uplink (127.0.0.1:" not in broker.log:
            assert time.monotonic() < deadline, broker.log
            time.sleep(0.1)
        errors = [line for line in broker.log.splitlines()
                  if "rror" in line and "Error creating bridge" not in line]
        assert not errors
    finally:
        broker.stop()


@NEEDS_CLUSTER
def test_bridge_carries_qos1_up_and_down_through_the_cluster(
        nats_cluster: NatsCluster, bridged_site, probes, site_id: str) -> None:
    nodes = [f"127.0.0.1:{n.mqtt_port}" for n in nats_cluster.nodes[:2]]
    site, _config = bridged_site(nodes)
    topics = Topics("gridedge", site_id)
    district = probes(node_endpoint(nats_cluster, 2), f"gridedge/{site_id}/#")
    local = probes(site, [topics.announce(), topics.alert_ack("+"), f"{topics.prefix}/district/#"])
    assert local.wait_for(lambda m: any(t.endswith("district/uplink") and p == "1" for t, p, _ in m),
                          30), site.log
    # Up: retained state (as the district's late subscriber sees it), events, alert records.
    state = json.dumps({"post": "P01", "online": True})
    local.publish(topics.post_state("P01"), state, retain=True)
    local.publish(topics.alert("7"), json.dumps({"id": 7, "state": "firing"}), retain=True)
    for i in range(20):
        local.publish(topics.events(), json.dumps({"kind": "play.done", "n": i}))
    assert district.wait_for(lambda m: sum(t == topics.events() for t, _, _ in m) == 20, 30)  # noqa: PLR2004
    assert district.last(topics.post_state("P01")) == state
    late = probes(node_endpoint(nats_cluster, 0), topics.post_state("+"))
    assert late.wait_for(lambda m: (topics.post_state("P01"), state, True) in m, 30)
    # Down: an announcement reaches the site's own announce topic, an ack its alert's ack topic.
    district.publish(topics.district_announce(), json.dumps({"id": "d1", "text": "通知"}))
    district.publish(topics.alert_ack("7"), json.dumps({"by": "街道"}))
    assert local.wait_for(lambda m: {topics.announce(), topics.alert_ack("7")}
                          <= {t for t, _, _ in m}, 30)
    # Nothing leaks sideways: the site's own announce topic does not go up.
    assert topics.announce() not in {t for t, _, _ in district.messages}


def _path_env() -> dict[str, str]:
    import os  # noqa: PLC0415

    return {"PATH": os.environ.get("PATH", "")}
