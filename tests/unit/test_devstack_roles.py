"""The dev and test stacks run every service as its own database role, so that the whole suite
exercises the grants of migration 0015_service_roles."""

from pathlib import Path

from mintrace import devstack


class Recording(devstack.Processes):
    """Processes that record what they would run instead of running it."""

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, dict[str, str]] = {}

    def start(self, name, argv, env, log=None):
        self.started[name] = env


def test_the_stack_starts_each_service_with_its_own_database_role():
    procs = Recording()
    stack = devstack.Stack("127.0.0.1:1", "postgresql://postgres@127.0.0.1/x", 1, Path("."),
                           procs)
    for name in devstack.SERVICES:
        stack.restart(name)
    assert {n: env["DATABASE_ROLE"] for n, env in procs.started.items()} == {
        "intake": "mintrace_intake", "intake-status": "mintrace_intake_status",
        "validation": "mintrace_validation",
        "license-matching": "mintrace_license_matching",
        "provincial-routing": "mintrace_provincial_routing", "alerting": "mintrace_alerting",
        "supervision": "mintrace_supervision"}
    assert all(env["DATABASE_URL"].endswith("/x") for env in procs.started.values())

