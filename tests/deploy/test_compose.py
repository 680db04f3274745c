"""docker-compose.yml is a valid compose file (the compose specification's JSON schema) and runs
every service on Apache Kafka in KRaft mode, in the right order, with telemetry."""

import copy
import json
import re
from importlib import resources

import jsonschema
import pytest
import yaml

from mintrace_common.db import service_role
from mintrace_common.kafka import GRACEFUL_TIMEOUT_S

from deploy_helpers import ROOT, service_dirs, service_names

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def spec_validator():
    schema = json.loads(resources.files("check_jsonschema.builtin_schemas.vendor")
                        .joinpath("compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _duration_s(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in sorted(units, key=len, reverse=True):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * units[unit]
    return float(value)


def test_compose_file_matches_the_compose_specification(compose, spec_validator):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in spec_validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_compose_specification_check_rejects_an_unknown_key(compose, spec_validator):
    broken = copy.deepcopy(compose)
    broken["services"]["kafka"]["healtcheck"] = broken["services"]["kafka"]["healthcheck"]
    assert list(spec_validator.iter_errors(broken))


def test_kafka_is_the_official_image_pinned_in_kraft_mode(compose):
    kafka = compose["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka" and tag and tag != "latest"
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_CONTROLLER_QUORUM_VOTERS" in env
    assert not any("zookeeper" in k.lower() for k in env)
    assert not any("zookeeper" in name for name in compose["services"])


def test_every_image_is_pinned(compose):
    for name, svc in compose["services"].items():
        if "build" in svc:
            continue
        assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name


def test_every_service_is_built_from_its_dockerfile_and_waits_for_its_dependencies(compose):
    services = compose["services"]
    dirs = service_dirs()
    for name in service_names():
        assert name in services, f"no compose service for {name}"
        svc = services[name]
        if name in dirs:
            dockerfile = ROOT / svc["build"]["dockerfile"]
            assert dockerfile == dirs[name] / "Dockerfile" and dockerfile.exists(), name
        deps = svc["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["topics"]["condition"] == "service_completed_successfully", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert "/readyz" in " ".join(svc["healthcheck"]["test"]), name
        assert svc["environment"]["SERVICE_NAME"] == name
        assert svc["environment"]["DATABASE_ROLE"] == service_role(name), name
        assert svc["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
        assert _duration_s(svc["stop_grace_period"]) > GRACEFUL_TIMEOUT_S, name


def test_one_shot_jobs_create_topics_and_migrate(compose):
    services = compose["services"]
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["migrate"]["command"] == ["db", "migrate"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    dockerfile = ROOT / services["topics"]["build"]["dockerfile"]
    assert dockerfile.exists()


def test_healthy_conditions_point_at_services_with_a_healthcheck(compose):
    services = compose["services"]
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health"


def test_traces_flow_through_the_collector_to_jaeger(compose):
    services = compose["services"]
    assert "jaeger" in services and "otel-collector" in services
    mount = next(v for v in services["otel-collector"]["volumes"] if "config.yaml" in v)
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    exporters = [config["exporters"][e] for e in pipeline["exporters"]]
    assert any(e.get("endpoint", "").startswith("jaeger:") for e in exporters)


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}` / `${VAR:-default}` interpolation against `env`."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}",
                  lambda m: env.get(m[1]) or (m[2] or ""), value)


def _published(compose: dict, env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(service, host address, host port) of every published port, `env` interpolated."""
    out = []
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                out.append((name, _interpolate(str(port.get("host_ip", "")), env),
                            _interpolate(str(port.get("published", "")), env)))
                continue
            parts = _interpolate(str(port), env).split(":")
            host = parts[0] if len(parts) == 3 else ""    # no address: every interface
            out.append((name, host, parts[-2] if len(parts) > 1 else ""))
    return out


def test_every_published_port_is_bound_to_loopback_by_default(compose):
    published = _published(compose, {})
    assert {name for name, _, _ in published} >= {"postgres", "kafka", "intake", "supervision",
                                                  "otel-collector", "jaeger"}
    exposed = [(name, host, port) for name, host, port in published if host != "127.0.0.1"]
    assert not exposed, f"published beyond loopback: {exposed}"


def test_the_bind_address_is_overridable_for_every_published_port(compose):
    published = _published(compose, {"MINTRACE_BIND_ADDRESS": "0.0.0.0"})
    assert published and all(host == "0.0.0.0" for _, host, _ in published), published
