"""After a SIGKILL of everything, the embedded PostgreSQL's lock file names a postmaster that is
dead or a zombie (its parent died too and nobody reaped it): the next start must not take it for
a running server."""

import os
import subprocess
import sys
import time

from mintrace import devstack
from mintrace.clients import pid_alive


def zombie() -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:   # exited, not reaped: a zombie
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().split(") ")[1].startswith("Z"):
                return child
        time.sleep(0.05)
    raise AssertionError("the child did not exit")


def lock_file(tmp_path, pid: int):
    (tmp_path / ".s.PGSQL.5432.lock").write_text(f"{pid}\n{tmp_path}\n")
    lock = tmp_path / "postmaster.pid"
    lock.write_text(f"{pid}\n{tmp_path}\n1700000000\n5432\n")
    return lock


def test_a_zombie_is_not_alive():
    child = zombie()
    try:
        os.kill(child.pid, 0)          # what took it for alive
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert pid_alive(os.getpid())


def test_the_lock_file_of_a_dead_or_zombie_postmaster_is_removed(tmp_path):
    child = zombie()
    try:
        devstack.forget_dead_postmaster(tmp_path)   # no lock file: nothing to do
        lock = lock_file(tmp_path, child.pid)
        devstack.forget_dead_postmaster(tmp_path)
        assert not lock.exists() and not (tmp_path / ".s.PGSQL.5432.lock").exists()
    finally:
        child.wait()
    lock = lock_file(tmp_path, child.pid)          # reaped: gone altogether
    devstack.forget_dead_postmaster(tmp_path)
    assert not lock.exists()


def test_the_lock_file_of_a_running_postmaster_is_kept(tmp_path):
    lock = lock_file(tmp_path, os.getpid())
    devstack.forget_dead_postmaster(tmp_path)
    assert lock.exists() and (tmp_path / ".s.PGSQL.5432.lock").exists()
