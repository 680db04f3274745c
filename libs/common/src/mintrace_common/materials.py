"""Materials of SPEC §1: which are export-controlled and their typical HS headings."""

CONTROLLED_REE = frozenset({"Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"})
MAGNETS = frozenset({"SmCo-magnet", "NdFeB-magnet"})
STRATEGIC = frozenset({"Ga", "Ge", "Sb", "W", "graphite", "superhard"})
CONTROLLED = CONTROLLED_REE | MAGNETS | STRATEGIC
TRACKED_UNLICENSED = frozenset({"La", "Ce", "Pr", "Nd", "REO-concentrate"})
MATERIALS = CONTROLLED | TRACKED_UNLICENSED

FORMS = ("ore", "concentrate", "oxide", "metal", "alloy", "compound", "magnet")

# HS headings (first digits) a material may be declared under; a declared hs_code must start with
# one of them. Light rare earths and concentrate share the rare-earth headings.
HS_PREFIXES: dict[str, tuple[str, ...]] = {
    **{m: ("2805.30", "2846.90", "2846.10", "7202", "8505") for m in CONTROLLED_REE},
    **{m: ("2805.30", "2846.90", "2846.10") for m in ("La", "Ce", "Pr", "Nd")},
    "REO-concentrate": ("2530.90", "2846.10", "2846.90"),
    "SmCo-magnet": ("8505.11", "8505.19"),
    "NdFeB-magnet": ("8505.11", "8505.19"),
    "Ga": ("8112.92", "8112.99", "2825.90"),
    "Ge": ("8112.92", "8112.99", "2825.60"),
    "Sb": ("8110", "2617.10", "2825.80"),
    "W": ("8101", "2611", "2825.90"),
    "graphite": ("2504", "3801"),
    "superhard": ("3801", "7104", "2849"),
}


def is_controlled(material: str) -> bool:
    return material in CONTROLLED
