"""FastAPI runs a plain `def` dependency in its thread pool: a thread hand-off per request on
intake's hot path. Every dependency of intake's endpoints is a coroutine function instead."""

import inspect

from fastapi.routing import APIRoute

from mintrace_intake.api import ROUTERS


def _calls(dependant):
    for d in dependant.dependencies:
        yield d.call
        yield from _calls(d)


def test_every_dependency_of_intakes_endpoints_runs_on_the_event_loop():
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert any(r.path == "/v1/reports/batch" for r in routes)
    sync = {f"{r.path}: {c.__name__}" for r in routes for c in _calls(r.dependant)
            if not inspect.iscoroutinefunction(c)}
    assert sync == set()
