"""Producer systems submitting through the real HTTP intake. `run` feeds the realistic chain of
`scenarios.World`; `Population` is the simpler stateless mix the pipeline benchmark uses."""

import asyncio
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import backoff
import httpx

from . import demo

RETRY_STATUSES = (429, 503)
GIVE_UP_AFTER_S = 600.0


def retry_after(resp: httpx.Response) -> float:
    """Seconds intake asked us to wait (`Retry-After`, in seconds), 1 if it did not say."""
    try:
        return max(0.0, float(resp.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


@backoff.on_exception(backoff.expo, httpx.TransportError, max_time=GIVE_UP_AFTER_S, max_value=10)
@backoff.on_predicate(backoff.runtime, lambda r: r.status_code in RETRY_STATUSES,
                      value=retry_after, max_time=GIVE_UP_AFTER_S, jitter=None)
async def post_batch(client: httpx.AsyncClient, key: str, reports: list[dict]) -> httpx.Response:
    """POST a batch; waits as intake asks on 429/503 (Retry-After) and backs off while intake
    cannot be reached (a restart), for up to GIVE_UP_AFTER_S. Raises httpx.HTTPStatusError on
    any other refusal."""
    return await client.post("/v1/reports/batch", json=reports,
                             headers={"Authorization": f"Bearer {key}"})


@dataclass
class Submission:
    producer: str          # producer key in demo.PRODUCERS
    report: dict
    label: str | None = None  # the alert type this report is meant to trigger, if any


@dataclass
class Population:
    seed: int = 0
    anomaly_rate: float = 0.02
    rng: random.Random = field(init=False)
    ids: dict[str, str] = field(init=False)
    counter: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.ids = demo.producer_ids()
        self.counter = itertools.count(1)
        self.run = f"{self.seed:04d}{self.rng.randrange(16**6):06x}"

    def _id(self, key: str) -> str:
        return f"{key}-{self.run}-{next(self.counter):07d}"

    def _base(self, key: str, suffix: str, type_: str, stage: str, material: str, form: str,
              hs: str, kg: Decimal, when: datetime) -> dict:
        return {
            "report_id": self._id(key), "schema_version": 1, "producer_id": self.ids[key],
            "facility_id": demo.facility_id(key, suffix), "type": type_, "stage": stage,
            "occurred_at": when.isoformat(), "lot_id": f"LOT-{self.rng.randrange(10**8):08d}",
            "material": material, "form": form, "hs_code": hs,
            "quantity": {"value": str(kg), "unit": "kg"},
        }

    def export(self, i: int, when: datetime, licensed: bool = True) -> Submission:
        key, material, buyer, _ = demo.LICENCES[i]
        producer = next(p for p in demo.PRODUCERS if p[0] == key)
        suffix = next(s for s, stages in producer[4] if "trading" in stages)
        stage = next(st for s, stages in producer[4] if s == suffix for st in stages
                     if st == "trading")
        form = "magnet" if "magnet" in material else (
            "concentrate" if material == "graphite" else "metal" if material in ("Sb", "W", "Ga", "Ge") else "oxide")
        hs = {"magnet": "8505.11", "concentrate": "2504.10"}.get(form, "8112.92" if material in ("Ga", "Ge") else "2846.90")
        if material in ("Sb",):
            hs = "8110.10"
        if material == "W":
            hs = "8101.94"
        kg = Decimal(self.rng.randrange(50, 800))
        price = Decimal(demo.PRICES.get((material, form), "50"))
        name, country = demo.BUYERS[buyer]
        r = self._base(key, suffix, "export", stage, material, form, hs, kg, when)
        r["value"] = {"amount": str((kg * price * Decimal(self.rng.uniform(0.9, 1.15))).quantize(Decimal("0.01"))), "currency": "USD"}
        r["counterparty"] = {"name": name, "country": country, "id": demo.lei("5299", buyer + 1)}
        r["export"] = {
            "licence_number": demo.licence_number(i, material) if licensed else None,
            "destination_country": country,
            "consignee": {"name": name, "country": country},
            "end_user": {"name": name, "country": country, "end_use": "industrial"},
            "port_of_exit": "CNSHA", "transport_mode": "sea",
        }
        return Submission(key, r, None if licensed else "UNLICENSED_EXPORT")

    def mining(self, when: datetime) -> Submission:
        key = self.rng.choice(["JX2", "NM1", "HN1", "HLJ"])
        material, form, hs = {"JX2": ("REO-concentrate", "ore", "2530.90"),
                              "NM1": ("REO-concentrate", "concentrate", "2846.10"),
                              "HN1": ("Sb", "ore", "2617.10"),
                              "HLJ": ("graphite", "ore", "2504.10")}[key]
        kg = Decimal(self.rng.randrange(5_000, 50_000))
        return Submission(key, self._base(key, "MIN", "mining_output", "mining", material, form,
                                          hs, kg, when))

    def processing(self, when: datetime) -> Submission:
        key, suffix, material = self.rng.choice([("JX1", "SEP", "Dy"), ("GX1", "SEP", "Y"),
                                                 ("NM1", "SEP", "Gd")])
        kg = Decimal(self.rng.randrange(100, 2_000))
        r = self._base(key, suffix, "processing_output", "separation", material, "oxide",
                       "2846.90", kg, when)
        r["inputs"] = [{"lot_id": f"LOT-{self.rng.randrange(10**8):08d}",
                        "quantity": {"value": str(kg * 20), "unit": "kg"}}]
        r["purity_pct"] = "99.9"
        return Submission(key, r)

    def next(self, now: datetime | None = None) -> Submission:
        when = (now or datetime.now(UTC)) - timedelta(minutes=self.rng.randrange(1, 60))
        roll = self.rng.random()
        if roll < self.anomaly_rate:
            return self.export(self.rng.randrange(len(demo.LICENCES)), when, licensed=False)
        if roll < 0.45:
            return self.export(self.rng.randrange(len(demo.LICENCES)), when)
        if roll < 0.75:
            return self.mining(when)
        return self.processing(when)


def per_producer(pairs: Iterable[tuple[str, dict]], size: int = 1000) -> list[tuple[str, list[dict]]]:
    """(producer key, report) pairs grouped into batch-endpoint requests of at most `size`
    reports of one producer each (a key may submit only its own producer's reports)."""
    grouped: dict[str, list[dict]] = {}
    for key, report in pairs:
        grouped.setdefault(key, []).append(report)
    return [(key, reports[i:i + size]) for key, reports in grouped.items()
            for i in range(0, len(reports), size)]


async def submit(client: httpx.AsyncClient, keys: dict[str, str], batch: list[Submission]) -> dict:
    """Submit a mixed batch, grouped per producer through the batch endpoint."""
    counts: dict[str, int] = {}
    for key, reports in per_producer((s.producer, s.report) for s in batch):
        resp = await post_batch(client, keys[key], reports)
        resp.raise_for_status()
        for status, n in resp.json()["counts"].items():
            counts[status] = counts.get(status, 0) + n
    return counts


async def run(url: str, keys: dict[str, str], rate: float, total: int | None, seed: int,
              progress=None, days: int = 12) -> dict:
    """Submit normal chain traffic (scenarios.World, no anomalies) at about `rate` reports/s
    until `total` (or forever): one `days`-long history after another, each its own run id."""
    from . import scenarios

    sent, counts = 0, {}
    tick = 0.5
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for cycle in itertools.count():
            reports = scenarios.build(seed=seed + cycle, days=days, scenario="baseline").reports
            for i in range(0, len(reports), max(1, int(rate * tick))):
                if total is not None and sent >= total:
                    return counts
                chunk = reports[i:i + max(1, int(rate * tick))]
                if total is not None:
                    chunk = chunk[:total - sent]
                started = asyncio.get_running_loop().time()
                batch = [Submission(key, r) for key, r in chunk]
                for k, v in (await submit(client, keys, batch)).items():
                    counts[k] = counts.get(k, 0) + v
                sent += len(chunk)
                if progress:
                    progress(len(chunk), counts)
                await asyncio.sleep(max(0.0, tick - (asyncio.get_running_loop().time() - started)))
    return counts
