"""A realistic population along the whole chain, day by day, with labelled anomalies.

Mines report their daily output and sell concentrate; separation plants, smelters and magnet
makers report what they produce from which input lots, buy from upstream and sell downstream
(the buyer files its `domestic_purchase` naming the seller's report); exporters ship under their
licences to the licensed consignee. Every facility keeps a stock, so normal traffic never sells
what it does not have, ships at market prices and files every purchase. A scenario then plants
anomalies of chosen alert types among that traffic and remembers which report_ids it planted for
each: that is the ground truth `evaluate` scores alerts against."""

import functools
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from mintrace_common.chinatime import CHINA

from . import demo

ALERT_TYPES = ("UNLICENSED_EXPORT", "LICENCE_INVALID", "LICENCE_QUANTITY_EXCEEDED",
               "WATCHLIST_COUNTERPARTY", "SPLIT_SHIPMENTS", "VOLUME_SPIKE", "PRICE_ANOMALY",
               "MASS_BALANCE", "UNCONFIRMED_TRANSFER", "TRANSSHIPMENT_RISK")
# Families of planted anomalies beyond one per alert type (each alert type is also a family of
# its own): the alert type each must raise. Every one of them is planted with near misses.
FAMILIES: dict[str, str] = {
    "no-input-facility": "MASS_BALANCE",             # ships with no input and no declared stock
    "under-declared-opening-stock": "MASS_BALANCE",  # ships beyond its declared opening stock
    "watchlist-chinese-script": "WATCHLIST_COUNTERPARTY",  # traditional, suffix, region marker
    "watchlist-pinyin": "WATCHLIST_COUNTERPARTY",    # the listed Chinese name spelled in pinyin
    "fx-under-invoicing": "PRICE_ANOMALY",           # under-invoiced in GBP, KRW, INR, AED, …
}
ALL_FAMILIES = ALERT_TYPES + tuple(FAMILIES)
SCENARIOS: dict[str, tuple[str, ...]] = {
    "baseline": (),
    "mixed": ALL_FAMILIES,
    "smuggling": ("UNLICENSED_EXPORT", "SPLIT_SHIPMENTS", "TRANSSHIPMENT_RISK",
                  "WATCHLIST_COUNTERPARTY", "LICENCE_INVALID", "LICENCE_QUANTITY_EXCEEDED",
                  "watchlist-chinese-script", "watchlist-pinyin"),
    "illegal-mining": ("MASS_BALANCE", "VOLUME_SPIKE", "UNCONFIRMED_TRANSFER",
                       "no-input-facility", "under-declared-opening-stock"),
    "tax-evasion": ("PRICE_ANOMALY", "fx-under-invoicing"),
}
# under-invoicing beyond the usual USD/CNY/EUR/JPY
FX_CURRENCIES = ("GBP", "KRW", "INR", "AED", "CHF", "SGD", "HKD", "RUB", "TRY", "BRL", "SEK",
                 "ZAR", "THB", "MYR", "PLN", "AUD")


def family_type(family: str) -> str:
    return FAMILIES.get(family, family)
# Review thresholds of the alerting rules' defaults: normal exports stay above them.
REVIEW_KG = {"Tb": 200, "Lu": 200, "Sc": 200, "Ga": 200, "Ge": 200}
HS = {("REO-concentrate", "ore"): "2530.90", ("REO-concentrate", "concentrate"): "2846.10",
      ("Sb", "ore"): "2617.10", ("Sb", "metal"): "8110.10", ("W", "ore"): "2611.00",
      ("W", "metal"): "8101.94", ("Ga", "metal"): "8112.92", ("Ge", "metal"): "8112.92",
      ("graphite", "ore"): "2504.10", ("graphite", "concentrate"): "2504.10",
      ("NdFeB-magnet", "magnet"): "8505.11"}
JX3_DY = ("JX3", "NIX", "Dy", "oxide", "EL-2026-SIM-DY-JX3", 0)
LOCAL_CURRENCY = {"DE": "EUR", "FR": "EUR", "IT": "EUR", "NL": "EUR", "JP": "JPY", "KR": "KRW",
                  "SG": "SGD"}

# (producer key, facility suffix, type, stage, material, form, daily kg low, high)
PRODUCTION = [
    ("JX2", "MIN", "mining_output", "mining", "REO-concentrate", "ore", 20_000, 30_000),
    ("NM1", "MIN", "mining_output", "mining", "REO-concentrate", "concentrate", 40_000, 60_000),
    ("HN1", "MIN", "mining_output", "mining", "Sb", "ore", 8_000, 12_000),
    ("HN1", "MIN", "mining_output", "mining", "W", "ore", 6_000, 9_000),
    ("HLJ", "MIN", "mining_output", "mining", "graphite", "ore", 30_000, 45_000),
    ("JX1", "SEP", "processing_output", "separation", "Dy", "oxide", 700, 1_000),
    ("JX1", "SEP", "processing_output", "separation", "Tb", "oxide", 250, 350),
    ("NM1", "SEP", "processing_output", "separation", "Gd", "oxide", 600, 900),
    ("NM1", "SEP", "processing_output", "separation", "Nd", "oxide", 6_000, 9_000),
    ("NM2", "MAG", "processing_output", "magnet_manufacturing", "NdFeB-magnet", "magnet",
     3_000, 4_500),
    ("HN1", "SML", "processing_output", "smelting", "Sb", "metal", 2_000, 3_000),
    ("HN1", "SML", "processing_output", "smelting", "W", "metal", 1_200, 1_800),
    ("GX1", "SEP", "processing_output", "separation", "Y", "oxide", 1_000, 1_500),
    ("YN1", "SML", "processing_output", "smelting", "Ge", "metal", 150, 220),
    ("YN1", "SML", "processing_output", "smelting", "Ga", "metal", 250, 350),
]
# (seller, facility, stage, material, form, buyer, buyer facility, buyer stage, every n days)
SALES = [
    ("JX2", "MIN", "mining", "REO-concentrate", "ore", "JX1", "SEP", "separation", 1),
    ("NM1", "SEP", "trading", "Nd", "oxide", "NM2", "MAG", "magnet_manufacturing", 2),
    ("JX1", "SEP", "trading", "Dy", "oxide", "NM2", "MAG", "magnet_manufacturing", 3),
    ("YN1", "SML", "trading", "Ga", "metal", "GD1", "TRD", "trading", 2),
]
# (exporter, facility, material, form, licence number, every n days)
EXPORTS = [
    ("JX1", "SEP", "Dy", "oxide", "EL-2026-SIM-DY-001", 3),
    ("JX1", "SEP", "Tb", "oxide", "EL-2026-SIM-TB-001", 3),
    ("NM1", "SEP", "Gd", "oxide", "EL-2026-SIM-GD-001", 3),
    ("NM2", "MAG", "NdFeB-magnet", "magnet", "EL-2026-SIM-NDFEB-001", 2),
    ("HN1", "SML", "Sb", "metal", "EL-2026-SIM-SB-001", 2),
    ("HN1", "SML", "W", "metal", "EL-2026-SIM-W-001", 2),
    ("GX1", "SEP", "Y", "oxide", "EL-2026-SIM-Y-001", 2),
    ("YN1", "SML", "Ge", "metal", "EL-2026-SIM-GE-001", 3),
    ("GD1", "TRD", "Ga", "metal", "EL-2026-SIM-GA-001", 3),
    ("HLJ", "MIN", "graphite", "concentrate", "EL-2026-SIM-GRAPHITE-001", 2),
]
# Clean foreign buyers of (unlicensed) light rare earths: the watchlist must leave them alone.
CLEAN_BUYERS = [
    ("Oriental Precision Motors Co Ltd", "JP"), ("Baltic Magnet Recycling AS", "NO"),
    ("Sunrise Solar Components Inc", "US"), ("Transit Rail Motors SA", "ES"),
    ("Nordic Rare Metals AB", "SE"), ("Pacific Alloy Traders Pty Ltd", "AU"),
    ("Hanse Elektromotoren GmbH", "DE"), ("Alpine Sensor Systems AG", "CH"),
    ("Seoul Motion Parts Co Ltd", "KR"), ("Mumbai Magnetics Pvt Ltd", "IN"),
    ("Sao Paulo Motores Ltda", "BR"), ("Quebec Electro Materials Inc", "CA"),
    ("Orient Metals Trading Co Ltd", "TH"), ("Rare Earth Transit Logistics BV", "NL"),
    ("Baltic Sea Shipping OU", "EE"), ("Sunrise Holdings Group Ltd", "GB"),
    ("Metals Oriental Trading LLC", "US"), ("Transit Alloy Works Sp zoo", "PL"),
    ("Gulf Electric Motors LLC", "AE"), ("Istanbul Motor Parts AS", "TR"),
    ("Kyushu Magnet Materials KK", "JP"), ("Lombardia Motori SpA", "IT"),
    ("Great Plains Wind Energy LLC", "US"), ("Danube Drives Kft", "HU"),
]


def watchlist_variants(name: str, rng: random.Random) -> str:
    """A spelling, transliteration, punctuation, word-order or legal-suffix variant of a name,
    the way an evader (or a careless clerk) writes it."""
    words = name.split()
    core = [w for w in words if w.lower().strip(".") not in
            {"fze", "ou", "ltd", "llc", "gmbh", "limited", "co"}]
    kind = rng.choice(["suffix", "punct", "order", "typo", "translit", "case"])
    if kind == "suffix":
        return " ".join(core) + " " + rng.choice(["Limited", "LLC", "FZCO", "Co., Ltd.", "GmbH",
                                                  "Trading FZE"])
    if kind == "punct":
        return "-".join(core[:2]) + " " + " ".join(core[2:]) + rng.choice(["", " F.Z.E.", ","])
    if kind == "order":
        return " ".join(core[1:] + core[:1])
    if kind == "typo":
        w = max(range(len(core)), key=lambda i: len(core[i]))
        s = core[w]
        i = rng.randrange(1, len(s) - 1)
        core = core[:w] + [s[:i] + s[i + 1] + s[i] + s[i + 2:]] + core[w + 1:]
        return " ".join(core)
    if kind == "translit":
        s = " ".join(core)
        for a, b in (("c", "k"), ("s", "z"), ("i", "y"), ("f", "ph"), ("t", "tt")):
            if a in s:
                s = s.replace(a, b, 1)
                break
        return s
    return " ".join(core).upper()


# Names that share a word with a listed Chinese name but are other companies: another line of
# business, another city, one character of the trade name changed (never a homophone).
CHINESE_NEAR_MISSES = {
    "香港华信贸易有限公司": ["香港华信物流有限公司", "深圳华信贸易有限公司", "香港华兴贸易有限公司",
                   "香港华信科技有限公司", "上海华信贸易有限公司", "香港中信贸易有限公司"],
    "香港鼎盛金属材料有限公司": ["香港鼎盛物流有限公司", "香港鼎泰金属材料有限公司",
                     "香港鼎盛建筑材料有限公司", "香港恒盛金属材料有限公司"],
}
_CN_FORMS = ("有限公司", "公司", "(集团)有限公司", "（集團）有限公司", "股份有限公司", "集团有限公司")


def _cn_core(name: str) -> str:
    core = name.removeprefix("香港")
    return core.removesuffix("有限公司")


@functools.cache
def _to_traditional():
    import opencc

    return opencc.OpenCC("s2t").convert


def chinese_variant(name: str, rng: random.Random) -> str:
    """The listed Chinese name as an evader writes it: traditional characters, another legal
    form, the region marker moved into (full-width) parentheses, spaces."""
    core = _cn_core(name)
    kind = rng.choice(["traditional", "suffix", "region", "fullwidth", "spaces"])
    if kind == "traditional":
        return _to_traditional()(name)
    if kind == "suffix":
        return rng.choice(["香港", ""]) + core + rng.choice(_CN_FORMS[1:])
    if kind == "region":
        return core + "(香港)" + rng.choice(_CN_FORMS[:2])
    if kind == "fullwidth":
        return _to_traditional()(core) + "（香港）有限公司"
    return "香港 " + " ".join([core[:2], core[2:]]) + " 有限公司"


def pinyin_variant(name: str, rng: random.Random) -> str:
    """The listed Chinese name spelled in pinyin: with or without spaces and tone marks, the
    legal form in pinyin or English, with or without the region."""
    from pypinyin import Style, pinyin

    core = _cn_core(name)
    style = rng.choice([Style.NORMAL, Style.TONE])
    syllables = [s[0] for s in pinyin(core, style=style)]
    words = ([" ".join(syllables)] if rng.random() < 0.3 else
             ["".join(syllables[i:i + 2]).capitalize() for i in range(0, len(syllables), 2)])
    text = " ".join(words)
    if rng.random() < 0.3:
        text = text.upper()
    prefix = rng.choice(["", "Xianggang ", "Xiānggǎng " if style == Style.TONE else ""])
    return prefix + text + rng.choice([" Youxian Gongsi", " Co., Ltd.", " Limited",
                                       " (HK) Ltd", " (Hong Kong) Limited", ""])


def pinyin_of(name: str, rng: random.Random) -> str:
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(_cn_core(name))
    return " ".join("".join(syllables[i:i + 2]).capitalize()
                    for i in range(0, len(syllables), 2)) + rng.choice([" Co., Ltd.", " Limited"])


@dataclass
class Planted:
    type: str
    report_ids: list[str]
    note: str
    family: str = ""

    def __post_init__(self) -> None:
        self.family = self.family or self.type


@dataclass
class Scenario:
    """`reports`: (producer key, Report v1 dict) in occurred_at order; `planted`: ground truth."""

    run: str
    reports: list[tuple[str, dict]] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)
    negatives: list[Planted] = field(default_factory=list)  # near misses: must raise nothing

    def by_type(self) -> dict[str, list[Planted]]:
        out: dict[str, list[Planted]] = defaultdict(list)
        for p in self.planted:
            out[p.type].append(p)
        return out


class World:
    def __init__(self, seed: int, days: int, end: date | None = None) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.end = end or (datetime.now(CHINA).date() - timedelta(days=1))
        self.ids = demo.producer_ids()
        self.names = {k: n for k, n, *_ in demo.PRODUCERS}
        self.run = f"{seed:04d}{self.rng.randrange(16 ** 6):06x}"
        self.counter = itertools.count(1)
        self.stock: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self.scenario = Scenario(self.run)
        self.licence = {n: (c, e) for n, _, _, c, e, _ in demo.SIM_LICENCES}
        # stock a late purchase brings, usable only once the purchase has occurred
        self.deferred: list[tuple[int, tuple[str, str], Decimal]] = []
        # JX3's warehouses: shipped from the over-declared one, near-miss ones used this run
        self.jx3_over_shipped = False
        self.jx3_used: set[str] = set()

    # --- building blocks --------------------------------------------------------------------
    def day(self, d: int) -> date:
        return self.end - timedelta(days=self.days - 1 - d)

    def at(self, d: int, hour: float) -> datetime:
        """Day `d` at `hour` (may run into the next day), never later than a few minutes ago."""
        t = datetime.combine(self.day(d), time(0), CHINA) + timedelta(hours=hour)
        return min(t, datetime.now(CHINA) - timedelta(minutes=5)).replace(microsecond=0)

    def report(self, key: str, fac: str, type_: str, stage: str, material: str, form: str,
               kg: Decimal, when: datetime) -> dict:
        when = min(when, datetime.now(CHINA) - timedelta(minutes=5)).replace(microsecond=0)
        r = {"report_id": f"{key}-{self.run}-{next(self.counter):07d}", "schema_version": 1,
             "producer_id": self.ids[key], "facility_id": demo.facility_id(key, fac),
             "type": type_, "stage": stage, "occurred_at": when.isoformat(),
             "lot_id": f"LOT-{self.rng.randrange(10 ** 9):09d}", "material": material,
             "form": form, "hs_code": HS.get((material, form), "2846.90"),
             "quantity": {"value": str(kg), "unit": "kg"}}
        self.scenario.reports.append((key, r))
        delta = {"mining_output": 1, "processing_output": 1, "domestic_purchase": 1,
                 "domestic_sale": -1, "export": -1}.get(type_, 0)
        self.stock[(r["facility_id"], material)] += delta * kg
        return r

    def price(self, material: str, form: str, factor: float | None = None) -> Decimal:
        ref = Decimal(demo.PRICES[(material, form)])
        f = factor if factor is not None else self.rng.uniform(0.85, 1.2)
        return ref * Decimal(str(round(f, 4)))

    def kg(self, low: float, high: float) -> Decimal:
        return Decimal(self.rng.randrange(int(low), int(high) + 1))

    def available(self, key: str, fac: str, material: str) -> Decimal:
        return self.stock[(demo.facility_id(key, fac), material)]

    def produce(self, row, d: int, factor: float = 1.0) -> dict:
        key, fac, type_, stage, material, form, lo, hi = row
        kg = (self.kg(lo, hi) * Decimal(str(factor))).quantize(Decimal(1))
        r = self.report(key, fac, type_, stage, material, form, kg,
                        self.at(d, self.rng.uniform(6, 9)))
        if type_ == "processing_output":
            r["inputs"] = [{"lot_id": f"LOT-{self.rng.randrange(10 ** 9):09d}",
                            "quantity": {"value": str(kg * self.rng.randrange(8, 20)),
                                         "unit": "kg"}}]
            r["purity_pct"] = "99.9"
        return r

    def sell(self, row, d: int, kg: Decimal, *, factor: float | None = None,
             purchase: str = "same-day", hour: float | None = None) -> tuple[dict, dict | None]:
        """A domestic sale and, unless `purchase` is "none", the buyer's purchase report
        ("late": filed a day later, still inside the window)."""
        seller, fac, stage, material, form, buyer, bfac, bstage, _ = row
        when = self.at(d, hour if hour is not None else self.rng.uniform(10, 14))
        sale = self.report(seller, fac, "domestic_sale", stage, material, form, kg, when)
        unit_cny = self.price(material, form, factor) / Decimal(demo.FX_RATES["CNY"])
        sale["value"] = {"amount": str((kg * unit_cny).quantize(Decimal("0.01"))),
                         "currency": "CNY"}
        sale["counterparty"] = {"name": self.names[buyer], "country": "CN",
                                "id": self.ids[buyer]}
        if purchase == "none":
            return sale, None
        later = timedelta(hours=30) if purchase == "late" else timedelta(hours=1)
        p = self.report(buyer, bfac, "domestic_purchase", bstage, material, form, kg,
                        when + later)
        if purchase == "late":
            self.stock[(p["facility_id"], material)] -= kg
            self.deferred.append((d + 2, (p["facility_id"], material), kg))
        p["value"] = dict(sale["value"])
        p["counterparty"] = {"name": self.names[seller], "country": "CN", "id": self.ids[seller]}
        p["counterparty_report_id"] = sale["report_id"]
        return sale, p

    def export(self, row, d: int, kg: Decimal, *, licence: str | None = "row",
               consignee: tuple[str, str] | None = None, end_user: tuple[str, str] | None = None,
               factor: float | None = None, hour: float | None = None,
               currency: str = "USD") -> dict:
        key, fac, material, form, number, _ = row
        c, e = self.licence[number]
        consignee = consignee or demo.party(c)
        end_user = end_user or demo.party(e)
        r = self.report(key, fac, "export", "trading", material, form, kg,
                        self.at(d, hour if hour is not None else self.rng.uniform(16, 21)))
        usd = kg * self.price(material, form, factor)
        rate = Decimal(1) if currency == "USD" else Decimal(demo.FX_RATES[currency])
        r["value"] = {"amount": str((usd / rate).quantize(Decimal("0.01"))),
                      "currency": currency}
        r["counterparty"] = {"name": consignee[0], "country": consignee[1],
                             "id": demo.lei("5299", 100 + sum(map(ord, consignee[0])))}
        r["export"] = {"licence_number": number if licence == "row" else licence,
                       "destination_country": consignee[1],
                       "consignee": {"name": consignee[0], "country": consignee[1]},
                       "end_user": {"name": end_user[0], "country": end_user[1],
                                    "end_use": "industrial"},
                       "port_of_exit": self.rng.choice(["CNSHA", "CNNGB", "CNTAO", "CNSZX"]),
                       "transport_mode": "sea"}
        return r

    def export_kg(self, material: str, low: float = 1.3, high: float = 3.0) -> Decimal:
        t = REVIEW_KG.get(material, 1000)
        return self.kg(t * low, t * high)

    # --- the normal day ---------------------------------------------------------------------
    def normal_day(self, d: int, skip_production: set[tuple[str, str]] = frozenset()) -> None:
        """Production in the morning (6-9h), domestic sales at 10-14h with the purchase an hour
        later, exports at 16-21h: nothing leaves a facility before it arrived."""
        for due, where, kg in [x for x in self.deferred if x[0] <= d]:
            self.stock[where] += kg
        self.deferred = [x for x in self.deferred if x[0] > d]
        for row in PRODUCTION:
            if (row[0], row[4]) not in skip_production:
                # a quiet or busy day now and then, never near a spike
                self.produce(row, d, self.rng.choice([1.0, 1.0, 1.0, 0.6, 1.6]))
        for row in SALES:
            seller, fac, _, material, *_ , every = row
            stock = self.available(seller, fac, material)
            if (d + len(material)) % every == 0 and stock > 0:
                kg = (stock * Decimal(str(self.rng.uniform(0.3, 0.5)))).quantize(Decimal(1))
                if kg >= 50:
                    late = self.rng.random() < 0.15
                    self.sell(row, d, kg, purchase="late" if late else "same-day")
        for row in EXPORTS:
            key, fac, material, _, _, every = row
            if (d + len(material)) % every:
                continue
            kg = self.export_kg(material)
            if self.available(key, fac, material) * Decimal("0.7") >= kg:
                buyer = demo.party(self.licence[row[4]][0])[1]
                currency = self.rng.choice(["USD", "USD", LOCAL_CURRENCY.get(buyer, "USD")])
                self.export(row, d, kg, factor=self.rng.choice([None, None, 0.7, 1.6]),
                            currency=currency)
        if self.rng.random() < 0.6:
            self.light_export(d, self.rng.choice(CLEAN_BUYERS))

    def light_export(self, d: int, buyer: tuple[str, str], kg: Decimal | None = None
                     ) -> dict | None:
        kg = kg or self.kg(1000, 3000)
        if self.available("NM1", "SEP", "Nd") * Decimal("0.7") < kg:
            return None
        r = self.report("NM1", "SEP", "export", "trading", "Nd", "oxide", kg,
                        self.at(d, self.rng.uniform(16, 21)))
        r["value"] = {"amount": str((kg * self.price("Nd", "oxide")).quantize(Decimal("0.01"))),
                      "currency": "USD"}
        r["counterparty"] = {"name": buyer[0], "country": buyer[1]}
        r["export"] = {"licence_number": None, "destination_country": buyer[1],
                       "consignee": {"name": buyer[0], "country": buyer[1]},
                       "end_user": {"name": buyer[0], "country": buyer[1]},
                       "port_of_exit": "CNTAO", "transport_mode": "sea"}
        return r


def build(seed: int = 0, days: int = 12, scenario: str = "mixed", per_type: int = 3,
          end: date | None = None) -> Scenario:
    """The whole run: `days` of normal traffic ending yesterday (China time), with `per_type`
    planted anomalies of every alert type the scenario names."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    if days < 8:
        raise ValueError("a scenario needs at least 8 days (trailing baselines, transfer window)")
    w = World(seed, days, end)
    rng = w.rng
    types = SCENARIOS[scenario]
    # plants start once baselines exist; unconfirmed sales must be past their 48 h window
    first, last = 5, days - 1
    plan: dict[int, list[str]] = defaultdict(list)
    for t in types:
        for _ in range(per_type):
            hi = days - 5 if t == "UNCONFIRMED_TRANSFER" else last - 2
            plan[rng.randrange(first, hi + 1)].append(t)
    spike_streams = rng.sample(PRODUCTION, len(PRODUCTION))
    split_streams = itertools.cycle(rng.sample(EXPORTS, len(EXPORTS)))
    split_used: dict[tuple, int] = {}
    mb_rows = itertools.cycle([("sale", SALES[0]), ("sale", SALES[3]), ("export", EXPORTS[8])])
    spiked: set[tuple[str, str]] = set()
    for d in range(days):
        todays = plan.get(d, [])
        skip = set()
        for t in todays:
            if t == "VOLUME_SPIKE":
                row = next((r for r in spike_streams if (r[0], r[4]) not in spiked), None)
                if row:
                    spiked.add((row[0], row[4]))
                    skip.add((row[0], row[4]))
                    r = w.produce(row, d, rng.uniform(4.5, 7.0))
                    w.scenario.planted.append(Planted(t, [r["report_id"]],
                                                      f"{row[0]} {row[4]} x5 on day {d}"))
        w.normal_day(d, skip)
        for t in todays:
            if t != "VOLUME_SPIKE" and not _plant(w, t, d, split_streams, split_used, mb_rows):
                # not enough stock today: try again tomorrow
                if d + 1 <= (days - 4 if t == "UNCONFIRMED_TRANSFER" else last - 1):
                    plan[d + 1].append(t)
    w.scenario.reports.sort(key=lambda kr: kr[1]["occurred_at"])
    return w.scenario


def _plant(w: World, t: str, d: int, split_streams, split_used, mb_rows) -> bool:
    """Plant one anomaly of type `t` on day `d`; False when the stock does not allow it today."""
    rng = w.rng

    def plant(ids: list[str], note: str) -> None:
        w.scenario.planted.append(Planted(family_type(t), ids, note, t))

    def near_miss(ids: list[str], note: str) -> None:
        w.scenario.negatives.append(Planted(family_type(t), ids, note, t))

    def stocked(row, kg: Decimal) -> bool:
        return w.available(row[0], row[1], row[2]) * Decimal("0.8") >= kg

    if t in ("UNLICENSED_EXPORT", "LICENCE_INVALID", "PRICE_ANOMALY", "TRANSSHIPMENT_RISK"):
        candidates = [r for r in EXPORTS if r[2] not in ("Tb", "NdFeB-magnet", "W")] \
            if t != "TRANSSHIPMENT_RISK" else [r for r in EXPORTS if r[2] in ("NdFeB-magnet", "W")]
        row = rng.choice(candidates)
        kg = w.export_kg(row[2])
        if not stocked(row, kg):
            return False
        if t == "UNLICENSED_EXPORT":
            r = w.export(row, d, kg, licence=None)
        elif t == "LICENCE_INVALID":
            if rng.random() < 0.5:  # under the licence of another material
                r = w.export(row, d, kg, licence=rng.choice([x for x in EXPORTS
                                                              if x[2] != row[2]])[4])
            else:  # to a destination the licence does not cover
                licensed = demo.party(w.licence[row[4]][0])[1]
                other = rng.choice([b for b in demo.BUYERS if b[1] != licensed])
                r = w.export(row, d, kg, consignee=other, end_user=other)
        elif t == "PRICE_ANOMALY":
            r = w.export(row, d, kg, factor=rng.choice([rng.uniform(0.08, 0.3),
                                                        rng.uniform(3.5, 6.0)]))
        else:
            nl = next(x for x in EXPORTS if x[2] == row[2])
            number = "EL-2026-SIM-NDFEB-NL" if row[2] == "NdFeB-magnet" else "EL-2026-SIM-W-SG"
            r = w.export((*nl[:4], number, nl[5]), d, kg)
        plant([r["report_id"]], f"{t} {row[2]} on day {d}")
        return True
    elif t == "LICENCE_QUANTITY_EXCEEDED":
        row = EXPORTS[1]  # JX1 Tb, on the tiny licence
        kg = w.kg(300, 600)
        if stocked(row, kg):
            r = w.export((*row[:4], "EL-2026-SIM-TB-TINY", row[5]), d, kg)
            plant([r["report_id"]], f"Tb {kg} kg on a 100 kg licence, day {d}")
            return True
        return False
    elif t == "WATCHLIST_COUNTERPARTY":
        entry = rng.choice(demo.LATIN_WATCHLIST)
        name = watchlist_variants(entry["name"], rng)
        r = w.light_export(d, (name, entry["country"]), w.kg(300, 900))
        if r:
            plant([r["report_id"]], f"{name!r} for {entry['name']!r}")
        return r is not None
    elif t == "SPLIT_SHIPMENTS":
        for _ in range(len(EXPORTS)):
            row = next(split_streams)
            if split_used.get(row[4], -99) < d - 7:
                break
        else:
            return False
        limit = REVIEW_KG.get(row[2], 1000)
        n = rng.randrange(3, 5)
        pieces = [w.kg(limit * 0.4, limit * 0.7) for _ in range(n)]
        if not stocked(row, sum(pieces)):
            return False
        split_used[row[4]] = d
        # every 12 hours from day d, 16:00: inside the 72 h window, each under the threshold
        ids = [w.export(row, d, kg, hour=16 + 12 * i)["report_id"] for i, kg in enumerate(pieces)]
        plant(ids, f"{n} x ~{limit // 2} kg {row[2]} from day {d}")
        return True
    elif t == "MASS_BALANCE":
        kind, row = next(mb_rows)
        key, fac = row[0], row[1]
        material = row[3] if kind == "sale" else row[2]
        stock = w.available(key, fac, material)
        inflow = sum(Decimal(r[1]["quantity"]["value"]) for r in w.scenario.reports
                     if r[1]["facility_id"] == demo.facility_id(key, fac)
                     and r[1]["material"] == material
                     and r[1]["type"] in ("mining_output", "processing_output",
                                          "domestic_purchase"))
        opening = Decimal(demo.OPENING_STOCKS.get((key, fac, material), 0))
        kg = (max(stock, Decimal(0)) + opening + (inflow + opening) * Decimal("0.3")
              + 2000).quantize(Decimal(1))
        if kind == "sale":
            sale, _ = w.sell(row, d, kg, hour=21)
            plant([sale["report_id"]], f"{key} sells {kg} kg {material} with {stock} in stock")
        else:
            r = w.export(row, d, kg, hour=21)
            plant([r["report_id"]], f"{key} exports {kg} kg {material} with {stock} in stock")
        return True
    elif t == "no-input-facility":
        kg = w.kg(1_200, 2_500)
        r = w.export(JX3_DY, d, kg)
        plant([r["report_id"]], f"JX3-NIX-01 (no input, nothing declared) exports {kg} kg Dy")
        if (fac := _unused(w, "OSM")) is not None:
            stock = demo.OPENING_STOCKS[("JX3", fac, "Dy")]
            kg = (stock * Decimal(str(rng.uniform(0.45, 0.95)))).quantize(Decimal(1))
            r = w.export(("JX3", fac, *JX3_DY[2:]), d, kg)
            near_miss([r["report_id"]], f"JX3-{fac}-01 ships {kg} kg of its declared {stock}")
        return True
    elif t == "under-declared-opening-stock":
        stock = demo.OPENING_STOCKS[("JX3", "OSP", "Dy")]
        # never under the 1,000 kg review threshold: JX3's exports are not split shipments
        kg = w.kg(1_050, 1_800) if w.jx3_over_shipped else stock + w.kg(600, 1_500)
        w.jx3_over_shipped = True
        r = w.export(("JX3", "OSP", *JX3_DY[2:]), d, kg)
        plant([r["report_id"]], f"JX3-OSP-01 declared {stock} kg Dy, ships {kg} kg")
        if (fac := _unused(w, "OSN")) is not None:
            stock = demo.OPENING_STOCKS[("JX3", fac, "Dy")]
            over = Decimal(rng.randrange(0, int(stock * 0.04) + 150))
            r = w.export(("JX3", fac, *JX3_DY[2:]), d, stock + over)
            near_miss([r["report_id"]], f"JX3-{fac}-01 declared {stock} kg Dy, ships "
                                        f"{stock + over} kg (within the tolerance)")
        return True
    elif t in ("watchlist-chinese-script", "watchlist-pinyin"):
        entry = rng.choice([e for e in demo.WATCHLIST if e["name"] in CHINESE_NEAR_MISSES])
        listed, country = entry["name"], entry["country"]
        pinyin = t == "watchlist-pinyin"
        name = pinyin_variant(listed, rng) if pinyin else chinese_variant(listed, rng)
        other = rng.choice(CHINESE_NEAR_MISSES[listed])
        other = pinyin_of(other, rng) if pinyin else chinese_variant(other, rng)
        if w.available("NM1", "SEP", "Nd") * Decimal("0.7") < 2 * 900:
            return False
        r = w.light_export(d, (name, country), w.kg(300, 900))
        plant([r["report_id"]], f"{name!r} for {listed!r}")
        r = w.light_export(d, (other, country), w.kg(300, 900))
        near_miss([r["report_id"]], f"{other!r} is not {listed!r}")
        return True
    elif t == "fx-under-invoicing":
        row = rng.choice([r for r in EXPORTS if r[2] not in ("Tb", "NdFeB-magnet", "W")])
        kg, fair_kg = w.export_kg(row[2]), w.export_kg(row[2])
        if not stocked(row, kg + fair_kg):
            return False
        low, fair = rng.sample(FX_CURRENCIES, 2)
        r = w.export(row, d, kg, factor=rng.uniform(0.08, 0.3), currency=low)
        plant([r["report_id"]], f"{row[2]} invoiced in {low} at a fraction of the market")
        r = w.export(row, d, fair_kg, factor=rng.uniform(0.65, 1.6), currency=fair)
        near_miss([r["report_id"]], f"{row[2]} invoiced in {fair} near the market price")
        return True
    elif t == "UNCONFIRMED_TRANSFER":
        row = rng.choice(SALES)
        stock = w.available(row[0], row[1], row[3])
        kg = (stock * Decimal("0.2")).quantize(Decimal(1))
        if kg >= 50:
            sale, _ = w.sell(row, d, kg, purchase="none")
            plant([sale["report_id"]], f"{row[0]} -> {row[5]} {kg} kg {row[3]}, never purchased")
            return True
        return False
    return False


def _unused(w: World, prefix: str) -> str | None:
    """A JX3 warehouse (suffix `prefix`N) not shipped from in this run, for one near miss."""
    fac = next((f"{prefix}{i}" for i in range(1, 7) if f"{prefix}{i}" not in w.jx3_used), None)
    if fac:
        w.jx3_used.add(fac)
    return fac
