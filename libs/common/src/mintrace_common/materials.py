"""Materials of SPEC §1: which are export-controlled, and the HS headings each may be declared
under (the one table validation checks `hs_code` against)."""

CONTROLLED_REE = frozenset({"Sm", "Gd", "Tb", "Dy", "Lu", "Sc", "Y"})
MAGNETS = frozenset({"SmCo-magnet", "NdFeB-magnet"})
STRATEGIC = frozenset({"Ga", "Ge", "Sb", "W", "graphite", "superhard"})
CONTROLLED = CONTROLLED_REE | MAGNETS | STRATEGIC
TRACKED_UNLICENSED = frozenset({"La", "Ce", "Pr", "Nd", "REO-concentrate"})
MATERIALS = CONTROLLED | TRACKED_UNLICENSED

FORMS = ("ore", "concentrate", "oxide", "metal", "alloy", "compound", "magnet")

# SPEC §1's typical HS headings per controlled material (the contract table, one row per
# material group): every one of them is admitted for some form in HEADINGS below.
SPEC_TYPICAL: dict[str, tuple[str, ...]] = {
    **{m: ("2805.30", "2846.90") for m in CONTROLLED_REE},
    **{m: ("8505.11",) for m in MAGNETS},
    "Ga": ("8112.92",), "Ge": ("2825.60",), "Sb": ("8110",), "W": ("8101",),
    "graphite": ("2504", "3801"), "superhard": ("3801",),
}

# Which HS headings each (material, form) may be declared under: SPEC §1's typical headings
# refined by form. A declared hs_code must start with one of them (dots ignored).
_REE_ELEMENT = {
    "ore": ("2530.90", "2612.20", "2846"), "concentrate": ("2530.90", "2612.20", "2846"),
    "oxide": ("2846",), "compound": ("2846",), "metal": ("2805.30",),
    "alloy": ("2805.30", "7202.99"),
    "magnet": ("8505.11", "8505.19"),  # heavy-REE-bearing magnets declared under the element
}
_MAGNET = {"magnet": ("8505.11", "8505.19"), "alloy": ("2805.30", "7202.99", "8505")}

HEADINGS: dict[str, dict[str, tuple[str, ...]]] = {
    **{m: _REE_ELEMENT for m in CONTROLLED_REE | {"La", "Ce", "Pr", "Nd"}},
    "REO-concentrate": {"ore": ("2530.90", "2612.20", "2846"),
                        "concentrate": ("2530.90", "2612.20", "2846"),
                        "oxide": ("2846",), "compound": ("2846",)},
    "SmCo-magnet": _MAGNET,
    "NdFeB-magnet": _MAGNET,
    "Ga": {"ore": ("2606", "2620"), "concentrate": ("2606", "2620"), "oxide": ("2825.90",),
           "compound": ("2825.90", "2850", "2853"), "metal": ("8112.92", "8112.99"),
           "alloy": ("8112.92", "8112.99")},
    "Ge": {"ore": ("2617.90", "2620"), "concentrate": ("2617.90", "2620"), "oxide": ("2825.60",),
           "compound": ("2825.60", "2812", "2827"), "metal": ("8112.92", "8112.99"),
           "alloy": ("8112.92", "8112.99")},
    "Sb": {"ore": ("2617.10",), "concentrate": ("2617.10",), "oxide": ("2825.80",),
           "compound": ("2825.80", "2830.90"), "metal": ("8110",), "alloy": ("8110",)},
    "W": {"ore": ("2611",), "concentrate": ("2611",), "oxide": ("2825.90",),
          "compound": ("2825.90", "2841.80", "2849.90"), "metal": ("8101",),
          "alloy": ("7202.80", "8101")},
    "graphite": {"ore": ("2504",), "concentrate": ("2504",), "compound": ("3801", "2504")},
    # SPEC §1 lists graphite and superhard materials together under 2504 (natural graphite) and
    # 3801 (artificial graphite, graphite preparations); superhard compounds may be declared
    # under 3801 too, besides their own headings (diamond and other superhard powders)
    "superhard": {"ore": ("7102",), "concentrate": ("7105",),
                  "compound": ("7104", "7105", "2849", "2850", "3801")},
}


def _digits(code: str) -> str:
    return code.replace(".", "")


def headings(material: str, form: str) -> tuple[str, ...] | None:
    """The admissible headings, or None when the material does not come in that form."""
    return HEADINGS.get(material, {}).get(form)


def consistent(material: str, form: str, hs_code: str) -> bool:
    return any(_digits(hs_code).startswith(_digits(h)) for h in headings(material, form) or ())


def is_controlled(material: str) -> bool:
    return material in CONTROLLED
