"""`mintrace dev` as an operator runs it: stopped by any signal it leaves nothing running, and
after everything was SIGKILLed it starts again with the kept database."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mintrace import devstack
from mintrace.clients import pid_alive
from mintrace_common.db import with_database

pytestmark = pytest.mark.e2e
MINTRACE = str(Path(sys.executable).with_name("mintrace"))


def start_dev(cwd: Path, database_url: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    if database_url:
        env["DATABASE_URL"] = database_url
    args = ["dev", "--no-simulate", "--port", str(devstack.free_port()), "--supervision-port",
            str(devstack.free_port()), "--broker-port", str(devstack.free_port())]
    return subprocess.Popen([MINTRACE, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(cwd / "dev.err", "ab"))


def wait_running(cwd: Path, proc: subprocess.Popen, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    state = cwd / ".dev" / "state.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mintrace dev exited {proc.returncode}: "
                                 f"{(cwd / 'dev.err').read_text()[-2000:]}")
        if state.exists():  # a killed stack's state stays until the next start replaces it
            found = json.loads(state.read_text())
            if found["pid"] == proc.pid:
                return found
        time.sleep(0.5)
    raise TimeoutError((cwd / "dev.err").read_text()[-2000:])


def wait_for_restart(cwd: Path, name: str, old: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = json.loads((cwd / ".dev" / "state.json").read_text())["children"][name]
        if pid != old and pid_alive(pid):
            return pid
        time.sleep(0.5)
    raise TimeoutError(f"{name} was not started again: {(cwd / 'dev.err').read_text()[-1500:]}")


def postgres_pid(cwd: Path) -> int | None:
    pidfile = cwd / ".dev" / "pgdata" / "postmaster.pid"
    return int(pidfile.read_text().split()[0]) if pidfile.exists() else None


def left_running(pids: list[int], within: float = 10) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        live = [p for p in pids if pid_alive(p) and not _zombie(p)]
        if not live:
            return []
        time.sleep(0.2)
    return live


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return False


@pytest.fixture
def scratch_url(pg_server_url):
    import asyncio

    url = with_database(pg_server_url, f"mintrace_dev_{os.getpid()}_{time.monotonic_ns() % 10**6}")
    yield url
    asyncio.run(devstack.drop_database(url))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_any_stop_signal_leaves_no_process_running(tmp_path, scratch_url, sig):
    proc = start_dev(tmp_path, scratch_url)
    state = wait_running(tmp_path, proc)
    children = list(state["children"].values())
    assert len(children) == len(devstack.SERVICES) + 1  # and the broker
    if sig == signal.SIGTERM:  # once: a service that dies is reported and started again
        os.killpg(state["children"]["validation"], signal.SIGKILL)
        again = wait_for_restart(tmp_path, "validation", state["children"]["validation"])
        children.append(again)
        assert "validation exited" in (tmp_path / "dev.err").read_text()
    proc.send_signal(sig)
    assert proc.wait(60) == 0
    assert left_running(children) == []
    assert not (tmp_path / ".dev" / "state.json").exists()


def test_after_everything_was_killed_the_next_start_keeps_the_database(tmp_path):
    proc = start_dev(tmp_path, None)  # the embedded PostgreSQL in .dev/pgdata
    state = wait_running(tmp_path, proc)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    issued = subprocess.run([MINTRACE, "keys", "issue", "--supervisor", "xizang"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    everything = [proc.pid, *state["children"].values(), postgres_pid(tmp_path)]
    for pid in everything:
        os.kill(pid, signal.SIGKILL)
    proc.wait(10)
    assert left_running(everything) == []

    again = start_dev(tmp_path, None)
    try:
        state = wait_running(tmp_path, again)
        listed = subprocess.run([MINTRACE, "keys", "list", "--supervisor", "xizang", "--json"],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert [json.loads(line)["holder"] for line in listed.stdout.splitlines()] == ["xizang"]
        pg = postgres_pid(tmp_path)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(60)
    assert left_running([*state["children"].values(), pg]) == []
