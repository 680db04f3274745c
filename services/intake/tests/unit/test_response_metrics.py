"""Intake counts its answers per route template and status (what the alerting rules on 4xx/5xx
read), never per raw path."""

import httpx
from prometheus_client import generate_latest

from mintrace_common.service import Resources
from mintrace_intake.api import create_api
from mintrace_intake.settings import IntakeSettings


async def _publish(_reports) -> None:
    raise AssertionError("nothing is published")


def _count(text: str, route: str, status: str) -> float:
    prefix = f'mintrace_http_responses_total{{route="{route}",status="{status}"}} '
    return sum(float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix))


async def test_answers_are_counted_per_route_template_and_status():
    settings = IntakeSettings(service_name="intake")
    app = create_api(settings, Resources(settings), _publish, lifespan=None)
    before = generate_latest().decode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://intake") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/v1/reports/R-1")).status_code == 401
        assert (await client.post("/v1/reports/batch", content=b"[]")).status_code == 401
    after = generate_latest().decode()
    for route, status in (("/healthz", "200"), ("/v1/reports/{report_id}", "401"),
                          ("/v1/reports/batch", "401")):
        assert _count(after, route, status) - _count(before, route, status) == 1, (route, status)
    assert "R-1" not in after
