"""Where the CLI finds the system, how it hides secrets, and how the dev stack paces restarts."""

import json
import os
import ssl

import pytest

from mintrace import clients
from mintrace.cli.dev import Restarts
from mintrace_common.settings import Settings


@pytest.fixture
def repo(tmp_path, monkeypatch):
    for var in clients.ENV.values():
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    return tmp_path


def write_state(repo, pid: int, **coords) -> None:
    (repo / ".dev").mkdir(exist_ok=True)
    (repo / ".dev" / "state.json").write_text(json.dumps({"pid": pid, **coords}))


def test_a_running_dev_stack_is_found_from_a_subdirectory(repo):
    write_state(repo, os.getpid(), database_url="postgresql://postgres@/mintrace?host=/x",
                kafka_bootstrap_servers="127.0.0.1:19092")
    c = clients.coordinates()
    assert c["database_url"] == "postgresql://postgres@/mintrace?host=/x"
    assert clients.settings().kafka_bootstrap_servers == "127.0.0.1:19092"


def test_explicit_environment_wins_over_the_dev_stack(repo, monkeypatch):
    write_state(repo, os.getpid(), database_url="postgresql://dev/x",
                kafka_bootstrap_servers="127.0.0.1:19092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://prod/y")
    c = clients.coordinates()
    assert c["database_url"] == "postgresql://prod/y"
    assert c["kafka_bootstrap_servers"] == "127.0.0.1:19092"


def test_the_state_of_a_killed_stack_is_ignored(repo):
    write_state(repo, 2**22 + 12345, database_url="postgresql://dead/x")  # no such pid
    assert clients.dev_state() == {}
    assert clients.coordinates()["database_url"] == Settings().database_url


def test_passwords_are_masked_in_urls_parameters_and_literals():
    text = ("cannot reach postgresql://app:s3cr%40t@db:5432/m and "
            "host=db password=hunter2 sasl secret=opensesame")
    masked = clients.mask(text, "opensesame")
    assert "s3cr" not in masked and "hunter2" not in masked and "opensesame" not in masked
    assert "postgresql://app:***@db:5432/m" in masked and "password=***" in masked


def test_kafka_clients_use_scram_over_tls_from_the_services_settings():
    s = Settings(kafka_bootstrap_servers="kafka:9093", kafka_sasl_username="intake",
                 kafka_sasl_password="pw", kafka_ssl=True)
    opts = clients.kafka_options(s)
    assert opts["security_protocol"] == "SASL_SSL" and opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["sasl_plain_username"] == "intake" and isinstance(opts["ssl_context"], ssl.SSLContext)
    plain = clients.kafka_options(Settings(kafka_bootstrap_servers="127.0.0.1:9092"))
    assert "security_protocol" not in plain and "sasl_mechanism" not in plain
    with pytest.raises(ValueError):
        clients.kafka_options(Settings(kafka_sasl_username="u", kafka_sasl_mechanism="GSSAPI"))


def test_a_service_that_keeps_dying_waits_longer_each_time_and_is_forgiven_after_a_while():
    r = Restarts(jitter=lambda cap: cap)  # the caps themselves; the real one draws below them
    delays = []
    for i in range(8):
        delays.append(r.died("validation", now=float(i)))
        r.ready(now=float(i))  # started again at once, dies again within the minute
    assert delays == [1.0, 1.5, 2.5, 4.5, 8.5, 16.5, 30.5, 30.5]
    r.ready(now=100.0)
    r.due["validation"] = 100.0
    r.ready(now=100.0)
    assert r.died("validation", now=100.0 + 61) == 1.0  # up for over a minute: from the start
