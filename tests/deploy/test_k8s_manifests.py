"""The kustomize overlays render with `kubectl kustomize`, every manifest matches its schema, and
the manifests agree with the topic registry and the services' code."""

import copy
import json
import re
import subprocess
import sys

import pytest
import yaml

from mintrace_common.db import service_role
from mintrace_common.kafka import GRACEFUL_TIMEOUT_S
from mintrace_common.provinces import NATIONAL, PROVINCES
from mintrace_common.topics import TOPICS, all_topic_names, groups_of

from deploy_helpers import K8S, OVERLAYS, ROOT, render, service_dirs, service_names, validate


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_generated_manifests_are_up_to_date(generator):
    stale = [str(p.relative_to(generator.ROOT)) for p, text in generator.render().items()
             if not p.exists() or p.read_text() != text]
    assert not stale, f"run `python deploy/k8s/generate.py`: {stale} out of date"


def test_generator_check_mode_reports_a_stale_file(generator, tmp_path, monkeypatch):
    monkeypatch.setattr(generator, "OUT", tmp_path)
    assert generator.main(["--check"]) == 1
    assert not any(tmp_path.iterdir()), "--check must not write"


def test_both_overlays_exist():
    assert {"dev", "prod"} <= set(OVERLAYS)


def test_every_manifest_matches_its_schema(rendered):
    overlay, docs = rendered
    errors = []
    for doc in docs:
        try:
            validate(doc)
        except Exception as exc:  # noqa: BLE001 - collect every failure, not just the first
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {str(exc)[:300]}")
    assert not errors, f"overlays/{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize("kind,mutate", [
    ("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0]
        .__setitem__("livenesProbe", {})),
    ("Deployment", lambda d: d["spec"].__setitem__("replicas", "two")),
    ("KafkaUser", lambda d: d["spec"]["authorization"]["acls"][0]
        .__setitem__("operations", ["Reed"])),
    ("KafkaTopic", lambda d: d["spec"].__setitem__("partition", 3)),
    ("ScaledObject", lambda d: d["spec"].__setitem__("maxReplicas", 3)),
    ("PodDisruptionBudget", lambda d: d["spec"].__setitem__("maxUnavailable", [1])),
    ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].__setitem__("intervall", "15s")),
    ("PrometheusRule", lambda d: d["spec"]["groups"][0]["rules"][0].__setitem__("expresion", "1")),
    ("NetworkPolicy", lambda d: d["spec"].__setitem__("policyTypes", "Ingress")),
    ("Kafka", lambda d: d["spec"]["kafka"]["listeners"][0]["authentication"]
        .__setitem__("type", "scram-sha-256")),
    ("KafkaNodePool", lambda d: d["spec"].__setitem__("roles", ["leader"])),
])
def test_schema_check_rejects_a_broken_manifest(kind, mutate):
    doc = copy.deepcopy(next(d for d in render("dev") if d["kind"] == kind))
    mutate(doc)
    with pytest.raises(Exception):
        validate(doc)


def test_every_registry_topic_and_dlq_has_a_kafka_topic(rendered):
    _, docs = rendered
    topics = {d["spec"]["topicName"]: d["spec"] for d in docs if d["kind"] == "KafkaTopic"}
    for name, partitions, retention in all_topic_names():
        assert name in topics, f"no KafkaTopic for {name}"
        assert topics[name]["partitions"] == partitions, name
        assert topics[name]["config"]["retention.ms"] == retention, name
    assert len(topics) == len(all_topic_names())


def test_every_service_has_a_deployment_and_a_disruption_budget(rendered):
    overlay, docs = rendered
    deployments, pdbs = by_kind(docs, "Deployment"), by_kind(docs, "PodDisruptionBudget")
    for name in service_names():
        assert name in deployments, f"overlays/{overlay}: no Deployment for {name}"
        pod = deployments[name]["spec"]["template"]
        c = pod["spec"]["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
        assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name
        assert pod["spec"]["terminationGracePeriodSeconds"] > GRACEFUL_TIMEOUT_S, name
        assert name in pdbs, f"no PodDisruptionBudget for {name}"
        selector = pdbs[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items(), name


def test_settings_come_from_a_config_map_and_credentials_from_secrets(rendered):
    _, docs = rendered
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert any("KAFKA_BOOTSTRAP_SERVERS" in m["data"] for m in maps)
    map_names = {m["metadata"]["name"] for m in maps}
    for name, dep in by_kind(docs, "Deployment").items():
        c = dep["spec"]["template"]["spec"]["containers"][0]
        assert {r["configMapRef"]["name"] for r in c["envFrom"]} <= map_names, name
        env = {e["name"]: e for e in c["env"]}
        assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"], name
        if "KAFKA_SASL_PASSWORD" in env:
            assert "secretKeyRef" in env["KAFKA_SASL_PASSWORD"]["valueFrom"], name
        assert not any("password" in str(e.get("value", "")).lower() for e in c["env"]), name


def test_migration_runs_as_a_job(rendered):
    _, docs = rendered
    jobs = by_kind(docs, "Job")
    assert any(j["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "migrate"]
               for j in jobs.values())


def test_consumers_scale_on_their_own_group_lag_capped_at_partitions(rendered):
    overlay, docs = rendered
    scaled = by_kind(docs, "ScaledObject")
    for name in service_names():
        sources = [t for t in TOPICS if name in t.readers]
        if not sources:
            continue
        assert name in scaled, f"overlays/{overlay}: {name} consumes but has no ScaledObject"
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        kafka = [t for t in spec["triggers"] if t["type"] == "kafka"]
        assert {t["metadata"]["topic"] for t in kafka} == {t.name for t in sources}, name
        # the lag of the group the service consumes each topic in (the topic registry's)
        assert {t["metadata"]["topic"]: t["metadata"]["consumerGroup"] for t in kafka} == \
            groups_of(name), name
        assert spec["maxReplicaCount"] <= max(t.partitions for t in sources), name
        assert spec["minReplicaCount"] >= 1, name


def test_each_province_reads_only_its_own_supervision_and_alert_topics(rendered):
    _, docs = rendered
    users = by_kind(docs, "KafkaUser")
    for slug in [p.slug for p in PROVINCES] + [NATIONAL]:
        user = users.get(f"supervisor-{slug}")
        assert user is not None, f"no KafkaUser for the {slug} supervisor"
        acls = user["spec"]["authorization"]["acls"]
        topics = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic"}
        allowed = {f"supervision.{slug}", f"alerts.{slug}"}
        if slug == NATIONAL:
            allowed |= {t.name for t in TOPICS if "supervisors:national" in t.readers}
        assert {f"supervision.{slug}", f"alerts.{slug}"} <= topics, slug
        assert topics <= allowed, f"{slug} may read {topics - allowed}"
        for a in acls:
            assert set(a["operations"]) <= {"Read", "Describe"}, (slug, a)
            assert a.get("type", "allow") == "allow", (slug, a)
            if a["resource"]["type"] == "topic":
                assert a["resource"].get("patternType", "literal") == "literal", (slug, a)
            else:
                assert a["resource"]["type"] == "group", (slug, a)
                assert a["resource"]["name"] == f"supervisor-{slug}", (slug, a)
    assert len([u for u in users if u.startswith("supervisor-")]) == len(PROVINCES) + 1


def test_each_service_user_may_write_what_the_registry_says_it_writes(rendered):
    _, docs = rendered
    users = by_kind(docs, "KafkaUser")
    for name in service_names():
        writes = {t.name for t in TOPICS if t.writer == name}
        reads = [t for t in TOPICS if name in t.readers]
        if not writes and not reads:
            continue
        acls = users[f"mintrace-{name}"]["spec"]["authorization"]["acls"]
        may_write = {a["resource"]["name"] for a in acls if "Write" in a["operations"]}
        may_read = {a["resource"]["name"] for a in acls
                    if "Read" in a["operations"] and a["resource"]["type"] == "topic"}
        assert writes | {t.dlq for t in reads if t.has_dlq} <= may_write, name
        assert may_read == {t.name for t in reads}, name
        may_join = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "group"}
        assert may_join == set(groups_of(name).values()), name


def test_prod_pins_image_tags():
    for doc in render("prod"):
        if doc["kind"] in ("Deployment", "Job"):
            for c in doc["spec"]["template"]["spec"]["containers"]:
                assert ":" in c["image"] and not c["image"].endswith(":latest"), c["image"]


def test_generator_runs_as_a_script():
    out = subprocess.run([sys.executable, str(K8S / "generate.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_acl_names_a_topic_that_exists(rendered):
    _, docs = rendered
    topics = {d["spec"]["topicName"] for d in docs if d["kind"] == "KafkaTopic"}
    for user in by_kind(docs, "KafkaUser").values():
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            if resource["type"] == "topic":
                assert resource.get("patternType", "literal") == "literal"
                assert resource["name"] in topics, (user["metadata"]["name"], resource["name"])


def test_services_that_use_kafka_authenticate_as_their_own_user(rendered):
    _, docs = rendered
    users = by_kind(docs, "KafkaUser")
    for name, dep in by_kind(docs, "Deployment").items():
        env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        if f"mintrace-{name}" in users:
            assert env["KAFKA_SASL_USERNAME"]["value"] == f"mintrace-{name}"
            ref = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref["name"] == f"mintrace-{name}"  # the Secret Strimzi writes for the user


def test_keda_scaled_deployments_leave_the_replica_count_to_keda(rendered):
    overlay, docs = rendered
    scaled = {o["spec"]["scaleTargetRef"]["name"] for o in by_kind(docs, "ScaledObject").values()}
    deployments = by_kind(docs, "Deployment")
    assert scaled
    for name in scaled:
        assert "replicas" not in deployments[name]["spec"], f"overlays/{overlay}: {name}"


def test_every_image_comes_from_the_overlay_registry_and_names_the_migration_job():
    for overlay in OVERLAYS:
        docs = render(overlay)
        images = {c["image"] for d in docs if d["kind"] in ("Deployment", "Job")
                  for c in d["spec"]["template"]["spec"]["containers"]}
        registries = {i.split("/")[0] for i in images}
        assert len(registries) == 1 and "." in next(iter(registries)), (overlay, images)
        [job] = by_kind(docs, "Job").values()
        tag = job["spec"]["template"]["spec"]["containers"][0]["image"].split(":")[1]
        assert job["metadata"]["name"] == f"mintrace-migrate-{tag}", overlay


def test_every_service_is_scraped_and_alerts_cover_what_operators_act_on(rendered):
    overlay, docs = rendered
    services = by_kind(docs, "Service")
    [monitor] = by_kind(docs, "ServiceMonitor").values()
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    selector = monitor["spec"]["selector"]["matchLabels"]
    for name in service_names():
        svc = services[name]
        assert selector.items() <= svc["metadata"]["labels"].items(), name
        assert {p["name"] for p in svc["spec"]["ports"]} & ports, name
    exprs = " ".join(r["expr"] for rule in by_kind(docs, "PrometheusRule").values()
                     for g in rule["spec"]["groups"] for r in g["rules"])
    for metric in ("mintrace_consumer_lag_messages", "mintrace_messages_dead_lettered_total",
                   "mintrace_outbox_oldest_unpublished_seconds", "kube_deployment_status_replicas_available",
                   'mintrace_http_responses_total{status=~"5.."}',
                   'mintrace_http_responses_total{status="429"}'):
        assert metric in exprs, f"overlays/{overlay}: no rule on {metric}"
    from mintrace_common.metrics import METRICS

    exported = {m._name for group in (METRICS.counters, METRICS.gauges, METRICS.histograms)
                for m in group.values()}
    used = set(re.findall(r"(mintrace_[a-z_]+?)(?:_total|_bucket|_count)?\b", exprs))
    assert used <= exported | {n.removesuffix("_total") for n in exported}, used - exported


def test_the_grafana_dashboard_charts_only_metrics_that_exist():
    dash = json.loads((K8S / "base" / "dashboards" / "mintrace.json").read_text())
    from mintrace_common.metrics import METRICS

    exported = {m._name for group in (METRICS.counters, METRICS.gauges, METRICS.histograms)
                for m in group.values()}
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 6
    for e in exprs:
        [name] = set(re.findall(r"(mintrace_[a-z_]+?)(?:_total|_bucket)?\b", e))
        assert name in exported or name.removesuffix("_total") in exported, e


def test_every_pod_accepts_traffic_only_on_its_own_port(rendered):
    overlay, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {},
                                                        "policyTypes": ["Ingress"]}
    deployments = by_kind(docs, "Deployment")
    for name in service_names():
        port = deployments[name]["spec"]["template"]["spec"]["containers"][0]["ports"][0]
        rule = policies[f"{name}-ingress"]["spec"]
        assert rule["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name
        assert [p["port"] for r in rule["ingress"] for p in r["ports"]] == [port["containerPort"]]


def test_the_supervision_port_has_one_setting_name_everywhere():
    from mintrace_supervision.app import SupervisionSettings  # noqa: F401 - the code's name

    for overlay in OVERLAYS:
        dep = by_kind(render(overlay), "Deployment")["supervision"]
        env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "SUPERVISION_HTTP_PORT" in env and "HTTP_PORT" not in env, overlay
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "SUPERVISION_HTTP_PORT" in compose["services"]["supervision"]["environment"]
    dockerfile = (ROOT / "services" / "supervision" / "Dockerfile").read_text()
    assert "SUPERVISION_HTTP_PORT=8081" in dockerfile


def test_the_dev_overlay_ships_a_strimzi_cluster_with_tls_scram_and_acls():
    docs = render("dev")
    [kafka] = by_kind(docs, "Kafka").values()
    [pool] = by_kind(docs, "KafkaNodePool").values()
    assert kafka["metadata"]["name"] == "mintrace"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "mintrace"
    [listener] = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] and listener["authentication"]["type"] == "scram-sha-512"
    assert listener["port"] == 9093 and kafka["spec"]["kafka"]["authorization"]["type"] == "simple"


def test_each_service_logs_in_to_the_database_as_its_own_user_and_role(rendered):
    overlay, docs = rendered
    secrets, roles = {}, {}
    for name, dep in by_kind(docs, "Deployment").items():
        env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        secrets[name] = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
        roles[name] = env["DATABASE_ROLE"]["value"]
    assert roles == {name: service_role(name) for name in service_names()}
    assert len(set(secrets.values())) == len(secrets), f"a shared database Secret: {secrets}"
    if overlay == "dev":   # generated there; prod's come from outside the repository
        assert set(secrets.values()) <= set(by_kind(docs, "Secret"))
