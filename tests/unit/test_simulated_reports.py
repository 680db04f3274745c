"""The producer simulator and the demo registry stay within the rules: every simulated report
is well-formed for intake and passes validation, so `make dev` and the benchmarks measure the
pipeline, not rejections."""

from datetime import UTC, datetime

from mintrace import demo, simulator
from mintrace_common.models import Report
from mintrace_validation.rules import RegistryView, check, warnings


def test_simulated_reports_are_well_formed_and_valid_against_the_demo_registry():
    doc = demo.registry()
    registry = RegistryView(
        producers=frozenset(p.producer_id for p in doc.producers),
        facilities={f.facility_id: (f.producer_id, tuple(f.stages)) for f in doc.facilities})
    pop = simulator.Population(seed=7, anomaly_rate=0.2)
    now = datetime.now(UTC)
    kinds = set()
    for _ in range(2000):
        report = Report.model_validate(pop.next(now).report)
        kinds.add((report.type, report.material))
        assert check(report, registry, now) == [], report
        assert warnings(report, now) == []
    assert len(kinds) > 15
