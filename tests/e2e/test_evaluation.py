"""The labelled simulator through the real stack: every alert type and every family of planted
anomaly (with its near misses) detected, few false alarms."""

import json

import pytest
from rich.console import Console

from mintrace import devstack, evaluate, scenarios

pytestmark = pytest.mark.e2e


async def test_mixed_scenario_meets_the_precision_and_recall_floor(make_stack, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"transfer_grace_seconds": 4, "mass_settle_seconds": 5}))
    s = await make_stack({"ALERTING_RULES_FILE": str(rules)})
    s.start_services()
    keys = await devstack.issue_producer_keys(s.database_url)
    sc = scenarios.build(seed=7, days=10, scenario="mixed", per_type=2)
    assert {p.type for p in sc.planted} == set(scenarios.ALERT_TYPES)
    assert {p.family for p in sc.planted} == set(scenarios.ALL_FAMILIES)
    assert {p.family for p in sc.negatives} == set(scenarios.FAMILIES)

    scores = await evaluate.run(s.intake_url, s.bootstrap, keys, sc, rate=200, timeout=75,
                                quiet=5)

    Console(width=120).print(evaluate.table(scores.types, "mixed, seed 7"))
    Console(width=120).print(evaluate.table(scores.families, "per family", "family"))
    for a in scores.false_alarms:
        print("false alarm:", a["type"], a["report_ids"], a["summary"])
    for t, sc_ in scores.types.items():
        assert sc_.recall == 1.0, f"{t}: {sc_}"
        assert sc_.precision >= 0.9, f"{t}: {sc_}"
    for f, sc_ in scores.families.items():
        assert sc_.recall >= 0.95, f"{f}: {sc_}"
        assert sc_.precision >= 0.9, f"{f}: {sc_}"
