"""A demo registry: producers along the chain in several provinces, their facilities, export
licences, a watchlist and reference prices. Deterministic, with valid USCC and LEI check digits."""

from datetime import date
from decimal import Decimal

from stdnum import lei as lei_
from stdnum.cn import uscc as uscc_

from mintrace_common.models import RegistryDocument


def uscc(region: str, serial: int) -> str:
    """A syntactically valid USCC: registration authority 9, type 1, a region code, serial."""
    body = f"91{region}MA{serial:07X}"
    return body + uscc_.calc_check_digit(body)


def lei(prefix: str, serial: int) -> str:
    """A valid LEI: 4-char prefix, "00", a 12-digit serial and ISO 7064 check digits."""
    body = f"{prefix}00{serial:012d}"
    return next(f"{body}{c:02d}" for c in range(100) if lei_.is_valid(f"{body}{c:02d}"))


# (key, name, province, region code, facilities: [(suffix, stages)])
PRODUCERS = [
    ("JX1", "Ganzhou Rare Earth Separation Co.", "360000", "360700",
     [("SEP", ["separation", "trading"]), ("SML", ["smelting"])]),
    ("JX2", "Longnan Ionic Clay Mining Co.", "360000", "360727", [("MIN", ["mining"])]),
    ("NM1", "Baotou Steel Rare Earth Hi-Tech", "150000", "150200",
     [("MIN", ["mining"]), ("SEP", ["separation", "trading"])]),
    ("NM2", "Baotou Magnet Works", "150000", "150203", [("MAG", ["magnet_manufacturing", "trading"])]),
    ("HN1", "Hunan Antimony & Tungsten Smelting", "430000", "430100",
     [("MIN", ["mining"]), ("SML", ["smelting", "trading"])]),
    ("GX1", "Guangxi Nonferrous Rare Earth", "450000", "450100",
     [("SEP", ["separation", "smelting", "trading"])]),
    ("GD1", "Shenzhen Critical Minerals Trading", "440000", "440300", [("TRD", ["trading"])]),
    ("YN1", "Yunnan Germanium Industry", "530000", "530100", [("SML", ["smelting", "trading"])]),
    ("HLJ", "Jixi Graphite Group", "230000", "230300", [("MIN", ["mining", "separation", "trading"])]),
    # a trader with warehouses that report no input: what they ship comes from declared opening
    # stock, or from nowhere (the simulator's illegal-mining and opening-stock cases)
    ("JX3", "Xunwu Rare Earth Trading Co.", "360000", "360734",
     [("NIX", ["trading"]), ("OSP", ["trading"])]
     + [(f"OSN{i}", ["trading"]) for i in range(1, 7)]
     + [(f"OSM{i}", ["trading"]) for i in range(1, 7)]),
]

BUYERS = [
    ("Hanse Magnetics GmbH", "DE"), ("Nippon Motor Materials KK", "JP"),
    ("Korea Precision Alloys Co Ltd", "KR"), ("Great Lakes Magnet Corp", "US"),
    ("Lyon Aero Components SA", "FR"), ("Milano Elettronica SpA", "IT"),
]

WATCHLIST = [
    {"name": "Oriental Transit Metals FZE", "country": "AE",
     "aliases": ["Oriental Transit Metal", "OTM FZE"], "reason": "diversion to military end use"},
    {"name": "Baltic Rare Trading OU", "country": "EE", "aliases": ["Baltik Rare Trading"],
     "reason": "transshipment to sanctioned destination"},
    {"name": "Sunrise Alloy Holdings Ltd", "country": "HK", "aliases": ["Sun Rise Alloy"],
     "reason": "front company"},
    {"name": "香港华信贸易有限公司", "country": "HK", "aliases": [],
     "reason": "front company for re-export to a sanctioned end user"},
    {"name": "香港鼎盛金属材料有限公司", "country": "HK", "aliases": ["鼎盛金属"],
     "reason": "transshipment of controlled metals"},
]

LATIN_WATCHLIST = [e for e in WATCHLIST if e["name"].isascii()]

PRICES = {  # USD per kg, by (material, form)
    ("Dy", "oxide"): "260", ("Dy", "metal"): "340", ("Tb", "oxide"): "1000",
    ("Tb", "metal"): "1300", ("Sm", "oxide"): "3", ("Sm", "metal"): "20", ("Gd", "oxide"): "25",
    ("Y", "oxide"): "7", ("Lu", "oxide"): "700", ("Sc", "oxide"): "1000",
    ("NdFeB-magnet", "magnet"): "60", ("SmCo-magnet", "magnet"): "110", ("Ga", "metal"): "500",
    ("Ge", "metal"): "1500", ("Ge", "oxide"): "1100", ("Sb", "metal"): "20", ("W", "metal"): "45",
    ("W", "concentrate"): "18", ("graphite", "concentrate"): "0.6", ("Nd", "oxide"): "60",
    ("Pr", "oxide"): "60", ("REO-concentrate", "concentrate"): "5", ("Dy", "ore"): "2",
    ("REO-concentrate", "ore"): "1",
    ("La", "oxide"): "1.5", ("Ce", "oxide"): "1.5", ("Sb", "ore"): "4", ("W", "ore"): "12",
    ("graphite", "ore"): "0.3",
}

# USD per unit of each currency (SPEC §6 fx_rates), as of the demo's reference date.
FX_AS_OF = "2026-11-01"
FX_RATES = {
    "CNY": "0.1405", "EUR": "1.08", "GBP": "1.27", "JPY": "0.0067", "KRW": "0.00072",
    "HKD": "0.128", "SGD": "0.745", "CHF": "1.13", "AED": "0.2723", "INR": "0.0119",
    "RUB": "0.0108", "AUD": "0.655", "CAD": "0.728", "SEK": "0.094", "NOK": "0.092",
    "DKK": "0.145", "PLN": "0.25", "CZK": "0.043", "HUF": "0.0027", "TRY": "0.029",
    "BRL": "0.175", "MXN": "0.055", "ZAR": "0.055", "THB": "0.029", "MYR": "0.225",
    "IDR": "0.000063", "VND": "0.000039", "TWD": "0.031", "SAR": "0.2666", "KZT": "0.002",
    "ILS": "0.27", "NZD": "0.6",
}

# (producer key, material, buyer index, kg)
LICENCES = [
    ("JX1", "Dy", 0, 50_000), ("JX1", "Tb", 1, 20_000), ("NM1", "Gd", 2, 80_000),
    ("NM2", "NdFeB-magnet", 3, 400_000), ("HN1", "Sb", 4, 200_000), ("HN1", "W", 0, 300_000),
    ("GX1", "Y", 5, 100_000), ("YN1", "Ge", 1, 15_000), ("HLJ", "graphite", 2, 2_000_000),
    ("GD1", "Ga", 3, 10_000),
]


# Forwarders at transshipment hubs and consignees whose end user sits elsewhere: licensed routes
# the supervisor still wants flagged (TRANSSHIPMENT_RISK). Appended to BUYERS' indices.
HUB_BUYERS = [("Lion City Metals Pte Ltd", "SG"), ("Rotterdam Metal Brokers BV", "NL")]

# The simulator's own licences, large enough for many runs, so that simulated exports never
# draw on the LICENCES above (tests rely on their balances). (number, producer key, material,
# consignee, end user, kg) with consignee/end user indices into BUYERS + HUB_BUYERS.
SIM_LICENCES = [
    ("EL-2026-SIM-DY-001", "JX1", "Dy", 0, 0, 50_000_000),
    ("EL-2026-SIM-TB-001", "JX1", "Tb", 1, 1, 10_000_000),
    ("EL-2026-SIM-TB-TINY", "JX1", "Tb", 1, 1, 100),
    ("EL-2026-SIM-GD-001", "NM1", "Gd", 2, 2, 50_000_000),
    ("EL-2026-SIM-NDFEB-001", "NM2", "NdFeB-magnet", 3, 3, 500_000_000),
    ("EL-2026-SIM-NDFEB-NL", "NM2", "NdFeB-magnet", 7, 3, 500_000_000),
    ("EL-2026-SIM-SB-001", "HN1", "Sb", 4, 4, 500_000_000),
    ("EL-2026-SIM-W-001", "HN1", "W", 0, 0, 500_000_000),
    ("EL-2026-SIM-W-SG", "HN1", "W", 6, 6, 500_000_000),
    ("EL-2026-SIM-Y-001", "GX1", "Y", 5, 5, 500_000_000),
    ("EL-2026-SIM-GE-001", "YN1", "Ge", 1, 1, 10_000_000),
    ("EL-2026-SIM-GA-001", "GD1", "Ga", 3, 3, 10_000_000),
    ("EL-2026-SIM-GRAPHITE-001", "HLJ", "graphite", 2, 2, 5_000_000_000),
    ("EL-2026-SIM-DY-JX3", "JX3", "Dy", 0, 0, 500_000_000),
]

# Declared opening stocks (SPEC §6), kg by (producer key, facility suffix, material): what a
# facility held when reporting began. The benchmark population ships from these facilities
# without reporting what they produce; JX3's warehouses ship from them alone (JX3-NIX-01
# declared nothing: whatever it ships came from nowhere).
OPENING_STOCKS = {
    ("JX1", "SEP", "Tb"): 20_000, ("NM2", "MAG", "NdFeB-magnet"): 400_000,
    ("HN1", "SML", "Sb"): 200_000, ("HN1", "SML", "W"): 300_000, ("YN1", "SML", "Ge"): 15_000,
    ("GD1", "TRD", "Ga"): 10_000, ("JX3", "OSP", "Dy"): 2_000,
    **{("JX3", f"OSN{i}", "Dy"): 1_500 + 500 * i for i in range(1, 7)},
    **{("JX3", f"OSM{i}", "Dy"): 2_000 + 400 * i for i in range(1, 7)},
}


def party(i: int) -> tuple[str, str]:
    return (BUYERS + HUB_BUYERS)[i]


def producer_ids() -> dict[str, str]:
    return {key: uscc(region, i + 1) for i, (key, _, _, region, _) in enumerate(PRODUCERS)}


def facility_id(key: str, suffix: str) -> str:
    return f"{key}-{suffix}-01"


def licence_number(i: int, material: str) -> str:
    return f"EL-2026-{material.upper()[:4]}-{i + 1:05d}"


def registry(year: int = 2026) -> RegistryDocument:
    ids = producer_ids()
    return RegistryDocument.model_validate({
        "producers": [{"producer_id": ids[k], "name": n} for k, n, *_ in PRODUCERS],
        "facilities": [{"facility_id": facility_id(k, s), "producer_id": ids[k],
                        "province_code": prov, "stages": stages}
                       for k, _, prov, _, facs in PRODUCERS for s, stages in facs],
        "licences": [{"licence_number": licence_number(i, m), "exporter_id": ids[k],
                      "materials": [m], "max_quantity_kg": str(kg),
                      "destination_country": BUYERS[b][1],
                      "consignee": {"name": BUYERS[b][0], "country": BUYERS[b][1]},
                      "end_user": {"name": BUYERS[b][0], "country": BUYERS[b][1]},
                      "valid_from": date(year, 1, 1).isoformat(),
                      "valid_to": date(year + 1, 12, 31).isoformat(), "status": "active"}
                     for i, (k, m, b, kg) in enumerate(LICENCES)]
                    + [{"licence_number": n, "exporter_id": ids[k], "materials": [m],
                        "max_quantity_kg": str(kg), "destination_country": party(c)[1],
                        "consignee": {"name": party(c)[0], "country": party(c)[1]},
                        "end_user": {"name": party(e)[0], "country": party(e)[1]},
                        "valid_from": date(year, 1, 1).isoformat(),
                        "valid_to": date(year + 1, 12, 31).isoformat(), "status": "active"}
                       for n, k, m, c, e, kg in SIM_LICENCES],
        "watchlist": WATCHLIST,
        "reference_prices": [{"material": m, "form": f, "usd_per_kg": str(Decimal(p))}
                             for (m, f), p in PRICES.items()],
        "fx_rates": [{"currency": c, "usd_per_unit": r, "as_of": FX_AS_OF}
                     for c, r in FX_RATES.items()],
        "opening_stocks": [{"facility_id": facility_id(k, f), "material": m, "quantity_kg": kg,
                            "as_of": f"{year}-01-01"}
                           for (k, f, m), kg in OPENING_STOCKS.items()],
    })
