"""Every shell block of the README, run as printed in a second terminal (no environment set)
against `mintrace dev` started as `make dev` starts it, on the README's ports."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mintrace import devstack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# Commands the test does not run, and why. A block (a script: its steps depend on each other)
# that uses one of these is skipped whole; every other block of the README is run.
EXCLUDED = {
    "make dev": "long-running: the stack under test is started as `make dev` starts it",
    "make test": "long-running: it is the suite this test runs in",
    "docker compose": "no Docker engine on the test machines; tests/deploy validates the file",
    "kubectl apply": "needs a cluster; tests/deploy renders and validates every manifest",
}
UNSET = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "MINTRACE_INTAKE_URL",
         "MINTRACE_SUPERVISION_URL", "MINTRACE_SUPERVISOR_KEY")


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, heredoc bodies and comments left out."""
    out, heredoc = [], None
    for line in block.replace("\\\n", " ").splitlines():
        if heredoc:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        line = line.split("  #")[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
            m = re.search(r"<<-?'?(\w+)'?", line)
            heredoc = m[1] if m else None
    return out


def excluded(block: str) -> bool:
    return any(c.startswith(x) or f"$({x}" in c for c in commands(block) for x in EXCLUDED)


def test_the_readme_parser_sees_every_block_and_excludes_only_what_it_lists():
    blocks = shell_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 5
    run = [b for b in blocks if not excluded(b)]
    assert any("make dev" in b for b in blocks) and not any("make dev" in b for b in run)
    assert any("mintrace keys issue" in b for b in run)
    assert any("curl" in b for b in run) and any("supervise rollup" in b for b in run)


@pytest.fixture
def dev_stack(tmp_path):
    for port in (8080, 8081, 9092):
        assert not devstack.port_open("127.0.0.1", port), f"port {port} is taken: the README's " \
                                                          "commands need it"
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "mintrace"), "dev"], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "dev.err", "wb"))
    deadline = time.monotonic() + 240
    while not (tmp_path / ".dev" / "state.json").exists():
        assert proc.poll() is None, (tmp_path / "dev.err").read_text()[-3000:]
        assert time.monotonic() < deadline, (tmp_path / "dev.err").read_text()[-3000:]
        time.sleep(0.5)
    yield tmp_path, env
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def test_every_command_in_the_readme_works_as_printed(dev_stack):
    cwd, env = dev_stack
    ran = 0
    for block in shell_blocks((ROOT / "README.md").read_text()):
        if excluded(block):
            continue
        started = time.monotonic()
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout[-2000:]}\n--- " \
                                     f"stderr\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, done.stderr
        ran += 1
        print(f"{time.monotonic() - started:5.1f}s  {commands(block)[0]}")
        if "v1/reports/JX-2026-000123" in block:
            assert '"report_id":"JX-2026-000123"' in done.stdout.replace(" ", "")
    assert ran >= 3
