"""The deployments, checked without a Docker engine: each compose file is valid against the
Compose Specification's JSON schema (vendored from compose-spec/compose-spec), the services
keep the promises the README makes (pinned images, health checks, restart policies, limits,
no literal secrets), and the cluster's ClickHouse and Keeper configuration agrees with the
compose file and with ``biztrace db init --cluster``.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
FILES = ["docker-compose.yml", "docker-compose.otelcol.yml", "docker-compose.cluster.yml"]
ENV = {"CLICKHOUSE_USER": "biztrace", "CLICKHOUSE_PASSWORD": "s3cret", "CLICKHOUSE_DB": "otel",
       "CLICKHOUSE_CLUSTER_SECRET": "cluster-s3cret", "BIZTRACE_TOKEN": "t0ken",
       "GRAFANA_ADMIN_PASSWORD": "gr4f"}  # fmt: skip
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: ${X}, ${X:-default}, ${X:?error}; $$ is a literal $."""

    def substitute(match: re.Match) -> str:
        name, operator, argument = match.groups()
        value = env.get(name)
        if operator in (":?", "?") and not value:
            raise ValueError(f"{name}: {argument}")
        if operator in (":-", "-") and not value:
            return argument
        return value or ""

    return _VARIABLE.sub(substitute, text.replace("$$", "\0")).replace("\0", "$")


def load(name: str, env: dict[str, str] | None = None) -> dict:
    return yaml.safe_load(interpolate((COMPOSE / name).read_text(), ENV if env is None else env))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((COMPOSE / "compose-spec.json").read_text()))


@pytest.mark.parametrize("name", FILES)
def test_compose_file_is_valid_against_the_compose_specification(name: str, validator) -> None:
    errors = sorted(validator.iter_errors(load(name)), key=str)
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_the_schema_catches_a_wrong_file(validator) -> None:
    broken = load("docker-compose.yml")
    broken["services"]["collector"]["ports"] = {"4318": "4318"}
    broken["services"]["collector"]["restart"] = 3
    assert len(list(validator.iter_errors(broken))) >= 2


@pytest.mark.parametrize("name", FILES)
def test_no_file_starts_without_a_password(name: str) -> None:
    without = {k: v for k, v in ENV.items() if k != "CLICKHOUSE_PASSWORD"}
    with pytest.raises(ValueError, match="CLICKHOUSE_PASSWORD"):
        load(name, without)
    assert "s3cret" not in (COMPOSE / name).read_text()


@pytest.mark.parametrize("name", FILES)
def test_services_are_pinned_checked_restarted_and_limited(name: str) -> None:
    services = load(name)["services"]
    for service, spec in services.items():
        image = spec.get("image", "")
        assert re.search(r":v?\d+\.\d+\.\d+", image), f"{service}: pin the image to an exact version ({image})"
        assert spec.get("restart"), f"{service}: restart policy"
        assert spec.get("deploy", {}).get("resources", {}).get("limits"), f"{service}: resource limits"
        long_running = spec["restart"] != "no"
        distroless = image.startswith("otel/opentelemetry-collector-contrib")  # no shell to run a check in
        if long_running and not distroless and not service.startswith("keeper"):
            assert spec.get("healthcheck"), f"{service}: health check"
        if image.startswith("biztrace:"):
            assert spec["build"]["dockerfile"] == "Dockerfile" and spec["build"]["context"] == ".."


@pytest.mark.parametrize("name", FILES)
def test_otlp_and_dashboard_ports_are_published_on_loopback_unless_told(name: str) -> None:
    ports = {"4317", "4318", "8501"} | ({"8502", "3000"} if name == "docker-compose.yml" else set())  # API, Grafana
    published = {port for spec in load(name)["services"].values() for port in spec.get("ports", [])}
    assert published == {f"127.0.0.1:{port}:{port}" for port in ports}
    everywhere = load(name, {**ENV, "BIZTRACE_PUBLISH_ADDRESS": "0.0.0.0"})
    assert {p for spec in everywhere["services"].values() for p in spec.get("ports", [])} == {
        f"0.0.0.0:{port}:{port}" for port in ports
    }


@pytest.mark.parametrize("name", FILES)
def test_no_file_starts_without_a_token_and_the_receiver_gets_it(name: str) -> None:
    for without in ({k: v for k, v in ENV.items() if k != "BIZTRACE_TOKEN"}, {**ENV, "BIZTRACE_TOKEN": ""}):
        with pytest.raises(ValueError, match="BIZTRACE_TOKEN"):
            load(name, without)
    services = load(name)["services"]
    receiver = services.get("collector") or services["otelcol"]
    assert receiver["environment"]["BIZTRACE_TOKEN"] == "t0ken"
    if "collector" in services:  # listens on the container's interfaces, as the publishing needs
        command = receiver["command"]
        assert command[command.index("--host") + 1] == "0.0.0.0"


def test_the_official_collector_requires_the_token_on_both_protocols() -> None:
    config = yaml.safe_load((COMPOSE / "otelcol" / "config.yaml").read_text())
    assert config["extensions"]["bearertokenauth"]["token"] == "${env:BIZTRACE_TOKEN}"
    assert "bearertokenauth" in config["service"]["extensions"]
    for protocol in ("grpc", "http"):
        assert config["receivers"]["otlp"]["protocols"][protocol]["auth"] == {"authenticator": "bearertokenauth"}


def test_the_official_collector_variant_runs_no_biztrace_collector() -> None:
    services = load("docker-compose.otelcol.yml")["services"]
    commands = [spec.get("command", []) for spec in services.values() if spec.get("image", "").startswith("biztrace")]
    assert not any(command[:1] == ["collect"] for command in commands)
    assert ["alerts", "run"] in commands and any(c[:1] == ["dashboard"] for c in commands)
    mounted = services["otelcol"]["volumes"][0]
    assert mounted.startswith("./otelcol/config.yaml:")


# The contrib exporter's options (exporter/clickhouseexporter/config.go), plus the exporter helper's.
EXPORTER_OPTIONS = {
    "endpoint", "username", "password", "database", "connection_params", "ttl", "logs_table_name",
    "traces_table_name", "metrics_table_name", "metrics_tables", "cluster_name", "table_engine", "create_schema",
    "async_insert", "compress", "timeout", "retry_on_failure", "sending_queue",
}  # fmt: skip


def test_the_official_collector_writes_biztraces_table_without_creating_its_own() -> None:
    config = yaml.safe_load((COMPOSE / "otelcol" / "config.yaml").read_text())
    exporter = config["exporters"]["clickhouse"]
    assert set(exporter) <= EXPORTER_OPTIONS, set(exporter) - EXPORTER_OPTIONS
    assert exporter["create_schema"] is False and exporter["traces_table_name"] == "otel_traces"
    assert exporter["database"] == "${env:CLICKHOUSE_DB}" and exporter["password"] == "${env:CLICKHOUSE_PASSWORD}"
    pipeline = config["service"]["pipelines"]["traces"]
    assert (
        pipeline["receivers"] == ["otlp"]
        and pipeline["exporters"] == ["clickhouse"]
        and "batch" in pipeline["processors"]
    )


def test_the_cluster_is_two_shards_of_two_replicas_known_to_compose() -> None:
    compose = load("docker-compose.cluster.yml")
    services = compose["services"]
    tree = ET.parse(COMPOSE / "cluster" / "clickhouse" / "cluster.xml").getroot()
    [cluster] = list(tree.find("remote_servers"))
    shards = [[r.findtext("host") for r in shard.findall("replica")] for shard in cluster.findall("shard")]
    assert [len(s) for s in shards] == [2, 2]
    for number, hosts in enumerate(shards, start=1):
        for host in hosts:
            env = services[host]["environment"]
            assert env["CLICKHOUSE_SHARD"] == str(number) and env["CLICKHOUSE_REPLICA"] == host
    keepers = [n.findtext("host") for n in tree.find("zookeeper")]
    raft = ET.parse(COMPOSE / "cluster" / "keeper" / "keeper.xml").getroot()
    servers = raft.find("keeper_server/raft_configuration").findall("server")
    assert keepers == [s.findtext("hostname") for s in servers] == ["keeper-1", "keeper-2", "keeper-3"]
    assert [services[k]["environment"]["KEEPER_ID"] for k in keepers] == [s.findtext("id") for s in servers]
    for keeper in keepers:  # the whole config, replacing the image's: its default raft member must not merge in
        assert "./cluster/keeper/keeper.xml:/etc/clickhouse-keeper/keeper_config.xml:ro" in services[keeper]["volumes"]
    init = services["schema"]["command"]
    assert init[:2] == ["db", "init"] and init[init.index("--cluster") + 1] == cluster.tag
    assert "--distributed" in init


def test_the_cluster_acknowledges_only_what_every_shard_stored_and_readers_run_unchanged() -> None:
    profile = ET.parse(COMPOSE / "cluster" / "clickhouse" / "profile.xml").getroot()
    assert profile.findtext("profiles/default/distributed_foreground_insert") == "1"
    assert profile.findtext("profiles/default/prefer_global_in_and_join") == "1"  # see test_cluster_layout.py
    nodes = [s for name, s in load("docker-compose.cluster.yml")["services"].items() if name.startswith("ch-")]
    assert nodes and all(
        "./cluster/clickhouse/profile.xml:/etc/clickhouse-server/users.d/profile.xml:ro" in n["volumes"] for n in nodes
    )


def test_env_example_names_every_variable_the_files_need() -> None:
    example = {line.split("=", 1)[0] for line in (COMPOSE / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}  # fmt: skip
    needed = {m.group(1) for name in FILES for m in _VARIABLE.finditer((COMPOSE / name).read_text())}
    assert needed - {"BIZTRACE_VERSION"} <= example
    assert os.path.exists(COMPOSE / ".env.example")
