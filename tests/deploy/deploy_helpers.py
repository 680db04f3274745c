"""Helpers for the deployment checks: the manifest generator, rendered overlays, the schema
validators (Kubernetes, Strimzi, KEDA) and the list of services read from the code."""

import importlib.util
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from mintrace import devstack

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_VERSION = "1.33"  # the oldest Kubernetes the manifests must apply to


def load_generator():
    spec = importlib.util.spec_from_file_location("mintrace_deploy_generate", K8S / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def kubectl() -> str:
    found = Path(sys.executable).parent / "kubectl"
    return str(found) if found.exists() else (shutil.which("kubectl") or "kubectl")


def render(overlay: str) -> list[dict]:
    out = subprocess.run([kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _crd_schema(kind: str, api_version: str) -> dict | None:
    path = SCHEMAS / f"{kind.lower()}-{api_version.replace('/', '-')}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _crd_model(api: str, kind: str):
    if api == "keda.sh/v1alpha1":
        from cloudcoil.models.keda import v1alpha1 as models
    else:
        from cloudcoil.models.prometheus_operator import v1 as models
    return getattr(models, kind)


def validate(doc: dict) -> None:
    """Raise if `doc` does not match its kind's schema; unknown kinds are an error too."""
    api, kind = doc["apiVersion"], doc["kind"]
    if api.startswith("kafka.strimzi.io/"):
        schema = _crd_schema(kind, api)
        if schema is None:
            raise LookupError(f"no schema for {kind} {api}")
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    elif api in ("keda.sh/v1alpha1", "monitoring.coreos.com/v1"):
        # The models are generated from KEDA's and prometheus-operator's CRDs; they ignore
        # unknown keys, so a round trip that loses a key means a field the CRD does not know.
        model = _crd_model(api, kind).model_validate(doc)
        back = model.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
        if back != doc:
            raise ValueError(f"{kind} {doc['metadata']['name']} has fields its CRD does not define: "
                             f"{_diff(doc, back)}")
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _diff(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in a.keys() | b.keys():
            out += _diff(a.get(k), b.get(k), f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "."]



def service_dirs() -> dict[str, Path]:
    """service name -> its directory, for every services/*/pyproject.toml (mintrace-<name>)."""
    out = {}
    for pyproject in sorted((ROOT / "services").glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        out[name.removeprefix("mintrace-")] = pyproject.parent
    return out


def service_names() -> set[str]:
    return set(service_dirs()) | set(devstack.SERVICES)
