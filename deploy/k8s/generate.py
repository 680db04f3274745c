"""Generate the Kubernetes manifests that follow from the topic registry and the service list.

    python deploy/k8s/generate.py          # rewrite base/generated/*.yaml, services/*/Dockerfile
    python deploy/k8s/generate.py --check  # exit 1 if a generated file is out of date

Strimzi KafkaTopics come from libs/common topics.py (partitions, retention, DLQs); KafkaUsers
from who writes and reads each topic, so a provincial supervisor can read its own
`supervision.<slug>` and `alerts.<slug>` and nothing else; each service gets a Deployment,
PodDisruptionBudget and, if it consumes, a KEDA ScaledObject on its consumer group's lag capped
at the partition count of its source topics, and a multi-stage Dockerfile holding only its own
package's dependencies. Adding a service is one line in SERVICES.
"""

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from mintrace_common.db import service_role
from mintrace_common.kafka import GRACEFUL_TIMEOUT_S
from mintrace_common.topics import TOPICS, Topic, all_topic_names, groups_of

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "base" / "generated"
CLUSTER = "mintrace"  # the Strimzi Kafka cluster (strimzi.io/cluster label)
CLUSTER_CA = f"{CLUSTER}-cluster-ca-cert"  # Strimzi's secret with the brokers' CA
BOOTSTRAP = f"{CLUSTER}-kafka-bootstrap:9093"
METRICS_PORT = 9000
MONITORING_NAMESPACE = "monitoring"  # where Prometheus runs (it scrapes across namespaces)
IMAGE_PREFIX = "mintrace/"
# Grace period = the consumer's graceful shutdown (finish the batch, publish, commit) + margin.
TERMINATION_GRACE_S = int(GRACEFUL_TIMEOUT_S) + 25
SUPERVISORS = "supervisors:"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    http_port: int | None = None  # serves HTTP (health and metrics on it too)
    port_setting: str = "HTTP_PORT"  # the setting that service reads its HTTP port from
    min_replicas: int = 1
    cpu: str = "250m"
    memory: str = "256Mi"
    image_of: str | None = None  # another service's image, run with `python -m <module>`
    max_replicas: int | None = None  # scale on CPU too (HTTP services), up to this many

    @property
    def image(self) -> str:
        return self.image_of or self.name

    @property
    def package(self) -> str:
        return "mintrace-" + self.image

    @property
    def directory(self) -> Path:
        return ROOT / "services" / self.module.split(".")[0].removeprefix("mintrace_")

    @property
    def database_role(self) -> str:
        """Its role in PostgreSQL (migration 0015_service_roles): only its own privileges."""
        return service_role(self.name)

    @property
    def database_secret(self) -> str:
        """The Secret with the URL of its database login (a member of `database_role`)."""
        return f"mintrace-database-{self.name}"

    @property
    def port(self) -> int:
        return self.http_port or METRICS_PORT

    @property
    def consumer_groups(self) -> list[str]:
        """The consumer groups this service reads in (the topic registry's)."""
        return sorted(set(groups_of(self.name).values()))

    @property
    def sources(self) -> list[Topic]:
        return [t for t in TOPICS if self.name in t.readers]

    @property
    def writes(self) -> list[Topic]:
        return [t for t in TOPICS if t.writer == self.name]


SERVICES = (
    Service("intake", "mintrace_intake", http_port=8080, min_replicas=2, max_replicas=12),
    Service("intake-status", "mintrace_intake.status", image_of="intake"),
    Service("validation", "mintrace_validation"),
    Service("license-matching", "mintrace_license_matching"),
    Service("provincial-routing", "mintrace_provincial_routing"),
    Service("alerting", "mintrace_alerting"),
    Service("supervision", "mintrace_supervision", http_port=8081, min_replicas=2,
            port_setting="SUPERVISION_HTTP_PORT"),
)


def supervisor_slugs() -> list[str]:
    seen: dict[str, None] = {}
    for t in TOPICS:
        for r in t.readers:
            if r.startswith(SUPERVISORS):
                seen[r.removeprefix(SUPERVISORS)] = None
    return list(seen)


def k8s_name(topic: str) -> str:
    return topic.replace(".", "-")


def labels(app: str) -> dict:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "mintrace"}


def kafka_topics() -> list[dict]:
    return [{
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": k8s_name(name),
                     "labels": {"strimzi.io/cluster": CLUSTER, "app.kubernetes.io/part-of": "mintrace"}},
        "spec": {"topicName": name, "partitions": partitions, "replicas": 3,
                 "config": {"retention.ms": retention, "min.insync.replicas": 2,
                            "cleanup.policy": "delete"}},
    } for name, partitions, retention in all_topic_names()]


def _acl(kind: str, name: str, operations: list[str], pattern: str = "literal") -> dict:
    return {"resource": {"type": kind, "name": name, "patternType": pattern},
            "operations": operations}


def _user(name: str, acls: list[dict], component: str) -> dict:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": CLUSTER,
                                               "app.kubernetes.io/component": component,
                                               "app.kubernetes.io/part-of": "mintrace"}},
        "spec": {"authentication": {"type": "scram-sha-512"},
                 "authorization": {"type": "simple", "acls": acls}},
    }


def service_user(s: Service) -> dict | None:
    reads = s.sources
    writes = [t.name for t in s.writes] + [t.dlq for t in reads if t.has_dlq]
    if not reads and not writes:
        return None
    acls = [_acl("topic", t.name, ["Read", "Describe"]) for t in reads]
    acls += [_acl("topic", name, ["Write", "Describe"]) for name in writes]
    acls += [_acl("group", g, ["Read"]) for g in s.consumer_groups]
    return _user(f"mintrace-{s.name}", acls, "service")


def supervisor_user(slug: str) -> dict:
    """Read on the topics the registry lists `supervisors:<slug>` as reader of, and consumer
    groups named after the supervisor (any suffix), nothing else."""
    acls = [_acl("topic", t.name, ["Read", "Describe"]) for t in TOPICS
            if f"{SUPERVISORS}{slug}" in t.readers]
    acls.append(_acl("group", f"supervisor-{slug}", ["Read"], "prefix"))
    return _user(f"supervisor-{slug}", acls, "supervisor")


def external_writer_users() -> list[dict]:
    """Systems outside mintrace that write a registry topic (the licensing authority)."""
    ours = {s.name for s in SERVICES}
    writers = sorted({t.writer for t in TOPICS} - ours)
    return [_user(w, [_acl("topic", t.name, ["Write", "Describe"])
                      for t in TOPICS if t.writer == w], "external")
            for w in writers]


def kafka_users() -> list[dict]:
    users = [u for u in map(service_user, SERVICES) if u is not None]
    return (users + external_writer_users()
            + [supervisor_user(slug) for slug in supervisor_slugs()])


def _probe(path: str, port: int, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "timeoutSeconds": 3, "failureThreshold": failures}


def deployment(s: Service) -> dict:
    port = s.port
    # each service logs in as a database user of its own (its Secret) and acts as its role
    env = [{"name": "SERVICE_NAME", "value": s.name},
           {"name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": s.database_secret, "key": "url"}}},
           {"name": "DATABASE_ROLE", "value": s.database_role}]
    if service_user(s) is not None:
        env += [{"name": "KAFKA_SASL_USERNAME", "value": f"mintrace-{s.name}"},
                {"name": "KAFKA_SASL_PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": f"mintrace-{s.name}", "key": "password"}}}]
    if s.http_port:
        env.append({"name": s.port_setting, "value": str(s.http_port)})
    else:
        env.append({"name": "METRICS_PORT", "value": str(METRICS_PORT)})
    container = {
        "name": s.name,
        "image": f"{IMAGE_PREFIX}{s.image}",
        **({"command": ["python", "-m", s.module]} if s.image_of else {}),
        "envFrom": [{"configMapRef": {"name": "mintrace-settings"}}],
        "env": env,
        "ports": [{"name": "http" if s.http_port else "metrics", "containerPort": port}],
        "resources": {"requests": {"cpu": s.cpu, "memory": s.memory},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
        # liveness is the process answering; readiness checks the broker and the database
        "livenessProbe": _probe("/healthz", port, 10, 3),
        "readinessProbe": _probe("/readyz", port, 5, 2),
        "startupProbe": _probe("/healthz", port, 2, 30),
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"},
                         {"name": "kafka-ca", "mountPath": "/etc/kafka-ca", "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": s.name, "labels": labels(s.name)},
        "spec": {
            # KEDA owns the replica count of a scaled Deployment: a `replicas` here would fight
            # it on every apply.
            **({} if scaled(s) else {"replicas": s.min_replicas}),
            "selector": {"matchLabels": {"app.kubernetes.io/name": s.name}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(s.name),
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": str(port),
                                             "prometheus.io/path": "/metrics"}},
                "spec": {"terminationGracePeriodSeconds": TERMINATION_GRACE_S,
                         "securityContext": {"runAsUser": 10001, "runAsGroup": 10001,
                                             "fsGroup": 10001,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [container],
                         "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                                     {"name": "kafka-ca",
                                      "secret": {"secretName": CLUSTER_CA, "optional": True}}]},
            },
        },
    }


def pdb(s: Service) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": s.name, "labels": labels(s.name)},
            "spec": {"maxUnavailable": 1,
                     "selector": {"matchLabels": {"app.kubernetes.io/name": s.name}}}}


def service(s: Service) -> dict:
    """HTTP services: their API (metrics and probes on it too); consumers: their metrics port,
    so that the ServiceMonitor finds every pod."""
    port = "http" if s.http_port else "metrics"
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": s.name, "labels": labels(s.name)},
            "spec": {"selector": {"app.kubernetes.io/name": s.name},
                     "ports": [{"name": port, "port": s.port, "targetPort": port}]}}


def service_monitor() -> dict:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "mintrace", "labels": labels("mintrace")},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/part-of": "mintrace"}},
                     "endpoints": [{"port": p, "path": "/metrics", "interval": "15s"}
                                   for p in ("http", "metrics")]}}


def network_policies() -> list[dict]:
    """Deny all ingress by default; each service accepts its own port only: HTTP APIs from
    anywhere (an ingress controller in front), metrics from the monitoring namespace."""
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-ingress", "labels": labels("mintrace")},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    monitoring = {"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": MONITORING_NAMESPACE}}}
    out = [deny]
    for s in SERVICES:
        sources = [] if s.http_port else [monitoring]  # [] = from anywhere
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": f"{s.name}-ingress", "labels": labels(s.name)},
                    "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": s.name}},
                             "policyTypes": ["Ingress"],
                             "ingress": [{"ports": [{"port": s.port, "protocol": "TCP"}],
                                          **({"from": sources} if sources else {})}]}})
    return out


def trigger_authentication(s: Service) -> dict:
    secret = f"mintrace-{s.name}"
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": f"kafka-{s.name}", "labels": labels(s.name)},
            "spec": {"secretTargetRef": [
                {"parameter": "sasl", "name": "mintrace-kafka-sasl", "key": "mechanism"},
                {"parameter": "tls", "name": "mintrace-kafka-sasl", "key": "tls"},
                {"parameter": "username", "name": "mintrace-kafka-sasl", "key": f"{s.name}-username"},
                {"parameter": "password", "name": secret, "key": "password"},
                {"parameter": "ca", "name": CLUSTER_CA, "key": "ca.crt"},
            ]}}


def scaled(s: Service) -> bool:
    """KEDA owns the replica count: consumers (on their lag) and HTTP services given a maximum
    (on CPU)."""
    return bool(s.sources) or s.max_replicas is not None


def scaled_object(s: Service) -> dict:
    """Scale on the consumer group's lag (and CPU for HTTP services); more replicas than
    partitions would sit idle."""
    triggers = [{
        "type": "kafka",
        "metadata": {"bootstrapServers": BOOTSTRAP, "consumerGroup": t.group(s.name),
                     "topic": t.name, "lagThreshold": "500", "activationLagThreshold": "10",
                     "offsetResetPolicy": "earliest", "allowIdleConsumers": "false"},
        "authenticationRef": {"name": f"kafka-{s.name}"},
    } for t in s.sources]
    if s.http_port:
        triggers.append({"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}})
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": s.name, "labels": labels(s.name)},
        "spec": {
            "scaleTargetRef": {"name": s.name},
            "minReplicaCount": s.min_replicas,
            "maxReplicaCount": s.max_replicas or max(t.partitions for t in s.sources),
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }


def service_manifests() -> list[dict]:
    out: list[dict] = []
    for s in SERVICES:
        out += [deployment(s), pdb(s), service(s)]
        if s.sources:
            out.append(trigger_authentication(s))
        if scaled(s):
            out.append(scaled_object(s))
    return out


def kafka_sasl_settings() -> dict:
    """The non-secret half of the KEDA scalers' credentials (the password is Strimzi's)."""
    data = {"mechanism": "scram_sha512", "tls": "enable"}
    data |= {f"{s.name}-username": f"mintrace-{s.name}" for s in SERVICES if s.sources}
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "mintrace-kafka-sasl", "labels": labels("mintrace")},
            "type": "Opaque", "stringData": data}


DOCKERFILE = """\
# syntax=docker/dockerfile:1.7
# Generated by deploy/k8s/generate.py: do not edit. Build from the repository root:
#   docker build -f services/{dir}/Dockerfile -t mintrace/{name} .
# The image holds only what {package} depends on (uv sync --package), not the workspace.

FROM ghcr.io/astral-sh/uv:0.9.7 AS uv

FROM python:3.11.14-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \\
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \\
    uv sync --frozen --no-dev --no-editable --package {package}

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --gid 10001 mintrace && useradd --uid 10001 --gid 10001 --no-create-home mintrace
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 SERVICE_NAME={name} LOG_FORMAT=json {port_env}
USER 10001:10001
EXPOSE {port}
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \\
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=2).status != 200)"]
CMD ["python", "-m", "{module}"]
"""


def dockerfile(s: Service) -> str:
    port_env = (f"HTTP_HOST=0.0.0.0 {s.port_setting}={s.http_port}" if s.http_port
                else f"METRICS_PORT={METRICS_PORT}")
    return DOCKERFILE.format(dir=s.directory.name, name=s.name, package=s.package,
                             module=s.module, port=s.port, port_env=port_env)


HEADER = "# Generated by deploy/k8s/generate.py from libs/common topics.py: do not edit.\n"


def render() -> dict[Path, str]:
    """Every generated file by path. A service's Dockerfile is written once its package exists
    (services/<dir>/pyproject.toml): a workspace member without one breaks uv."""
    def dump(docs: list[dict]) -> str:
        return HEADER + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)

    files = {
        OUT / "kafka-topics.yaml": dump(kafka_topics()),
        OUT / "kafka-users.yaml": dump(kafka_users()),
        OUT / "services.yaml": dump([*service_manifests(), kafka_sasl_settings()]),
        OUT / "monitoring.yaml": dump([service_monitor(), *network_policies()]),
    }
    files |= {s.directory / "Dockerfile": dockerfile(s) for s in SERVICES
              if s.image_of is None and (s.directory / "pyproject.toml").exists()}
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only report whether the generated files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    verb = "out of date" if args.check else "written"
    for path in stale:
        print(f"{os.path.relpath(path, ROOT)}: {verb}")
    if not stale:
        print("generated manifests are up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

