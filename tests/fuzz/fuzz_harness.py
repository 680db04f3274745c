"""Schemathesis (`schemathesis run`, its CLI) against a live service's OpenAPI document, once per
identity: every operation the document lists, with the checks of issue 14 and our own
`no_foreign_data` (fuzz_hooks.py). Returns the run's figures from its JSON report."""

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
CHECKS = ["not_a_server_error", "response_schema_conformance", "status_code_conformance",
          "no_foreign_data"]
ALL_PHASES = "examples,coverage,fuzzing,stateful"
BOUNDED_PHASES = "examples,fuzzing,stateful"  # coverage (boundary values) runs in `make fuzz`


@dataclass(frozen=True)
class Identity:
    """Who the requests claim to be: they take turns with `keys` (None: no Authorization).
    `forbidden`: what these holders must never be shown; `producer_id`: the producer a report
    body names (its own, so that reports get accepted); `refused`: keys every operation refuses
    (a few examples per operation suffice)."""

    name: str
    keys: tuple[str | None, ...]
    forbidden: tuple[str, ...] = ()
    producer_id: str | None = None
    refused: bool = False


@dataclass(frozen=True)
class Budget:
    examples: int
    phases: str
    max_time: int | None = None  # seconds: fuzzing and stateful repeat until it is spent
    seed: int | None = 14        # the same cases every run; None: a new seed (printed)

    @classmethod
    def from_env(cls) -> "Budget":
        """MINTRACE_FUZZ_EXAMPLES / _PHASES / _MAX_TIME / _SEED ("random" for a new one); the
        defaults are the bounded run of `make test`."""
        env = os.environ.get
        seed = env("MINTRACE_FUZZ_SEED", "14")
        return cls(int(env("MINTRACE_FUZZ_EXAMPLES", "10")),
                   env("MINTRACE_FUZZ_PHASES", BOUNDED_PHASES),
                   int(env("MINTRACE_FUZZ_MAX_TIME")) if env("MINTRACE_FUZZ_MAX_TIME") else None,
                   None if seed == "random" else int(seed))


@dataclass(frozen=True)
class Outcome:
    service: str
    identity: str
    operations: int
    cases: int
    failures: int
    errors: int
    seconds: float
    seed: int | None
    output: str

    @property
    def line(self) -> str:
        return (f"{self.service:<12} {self.identity:<22} operations: {self.operations:>2}  "
                f"examples: {self.cases:>5}  failures: {self.failures}  errors: {self.errors}  "
                f"(seed {self.seed}, {self.seconds:.0f} s)")


OUTCOMES: list[Outcome] = []  # every run of this session, for the summary (conftest)


def command(schema_url: str, who: Identity, budget: Budget, report: Path) -> list[str]:
    examples, phases = budget.examples, budget.phases
    if who.refused:  # every answer is 401/403 (or 422): a few cases per key and operation
        examples, phases = min(examples, 3 * len(who.keys)), "fuzzing"
    argv = [str(Path(sys.executable).with_name("schemathesis")), "--no-color", "run", schema_url,
            "--checks", ",".join(CHECKS), "--phases", phases, "-n", str(examples),
            "--workers", "1", "--request-timeout", "30", "--suppress-health-check", "all",
            "--report", "json",
            "--report-json-path", str(report), "--output-truncate", "true"]
    argv += ["--generation-database", "none"]
    if budget.seed is not None:
        argv += ["--seed", str(budget.seed)]
    if budget.max_time and not who.refused:
        argv += ["--max-time", str(budget.max_time)]
    return argv


async def run(service: str, base_url: str, who: Identity, budget: Budget,
              work: Path) -> Outcome:
    report = work / f"{service}-{re.sub(r'[^A-Za-z0-9]+', '-', who.name)}.json"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "MINTRACE_FUZZ_FORBIDDEN": json.dumps(list(who.forbidden)),
           "MINTRACE_FUZZ_KEYS": json.dumps(list(who.keys)),
           **({"MINTRACE_FUZZ_PRODUCER": who.producer_id} if who.producer_id else {})}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *command(f"{base_url}/openapi.json", who, budget, report), cwd=work, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if not report.exists():
        raise RuntimeError(f"schemathesis exited {proc.returncode} without a report:\n{text}")
    data = json.loads(report.read_text())
    cases = data["test_cases"]
    return Outcome(service, who.name, data["operations"]["tested"], cases["generated"],
                   cases["unique_failures"], cases["errored"] + len(data["errors"]),
                   time.monotonic() - started, data.get("seed"), text)
