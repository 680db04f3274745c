"""The versioned rules configuration: every threshold and window the detectors use.

Defaults are the national baseline; an operator overrides them with a JSON file named by
`ALERTING_RULES_FILE` (partial documents merge over the defaults). Every alert records `version`,
so a supervisor can tell which thresholds raised it. Bump `version` on every change."""

import json
import os
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "2026.11-4"

    # WATCHLIST_COUNTERPARTY: rapidfuzz score (0-100) on normalised names.
    watchlist_min_score: float = 88.0

    # SPLIT_SHIPMENTS: exports of one material by one exporter to one consignee.
    split_review_threshold_kg: Decimal = Decimal(1000)
    split_review_threshold_kg_by_material: dict[str, Decimal] = {
        "Tb": Decimal(200), "Lu": Decimal(200), "Sc": Decimal(200), "Ga": Decimal(200),
        "Ge": Decimal(200)}
    split_window_hours: float = 72.0
    split_min_shipments: int = 3

    # VOLUME_SPIKE: a producer's daily production of a material vs its trailing baseline.
    spike_types: tuple[str, ...] = ("mining_output", "processing_output")
    spike_baseline_days: int = 7
    spike_min_baseline_days: int = 4
    spike_factor: Decimal = Decimal(3)
    spike_min_excess_kg: Decimal = Decimal(500)

    # PRICE_ANOMALY: declared unit value vs the registry reference price (sales and exports).
    price_low_ratio: Decimal = Decimal("0.5")
    price_high_ratio: Decimal = Decimal("2.5")

    # MASS_BALANCE: per facility and material, cumulative outflows (sales, exports) may exceed
    # inflows (declared opening stock, mined, produced, purchased, imported) by at most this
    # much before alerting.
    mass_tolerance_ratio: Decimal = Decimal("0.05")
    mass_tolerance_kg: Decimal = Decimal(200)
    # evaluated on facts settled this long, so that an input still in flight on another
    # partition does not make its own sale look unexplained
    mass_settle_seconds: float = 5.0

    # UNCONFIRMED_TRANSFER: the buyer must file its domestic_purchase within the window after the
    # sale occurred; `grace` leaves room for a purchase still in flight through the pipeline.
    transfer_window_hours: float = 48.0
    transfer_grace_seconds: float = 20.0
    sweep_interval_seconds: float = 2.0

    # TRANSSHIPMENT_RISK: hubs per controlled material ("*" = every controlled material).
    transshipment_hubs: dict[str, tuple[str, ...]] = {
        "*": ("AE", "SG", "HK", "MY", "TR", "KZ", "AM", "GE", "KG")}

    def review_threshold_kg(self, material: str) -> Decimal:
        return self.split_review_threshold_kg_by_material.get(material,
                                                              self.split_review_threshold_kg)

    def hubs(self, material: str) -> frozenset[str]:
        return frozenset(self.transshipment_hubs.get(material, ())) | frozenset(
            self.transshipment_hubs.get("*", ()))


def load(path: str | None = None) -> Rules:
    """The defaults, overridden by the JSON document at `path` or $ALERTING_RULES_FILE.

    Raises ValueError (pydantic ValidationError) on an unknown key or a bad value: a typo in a
    threshold must stop the service, not be ignored."""
    path = path or os.environ.get("ALERTING_RULES_FILE")
    if not path:
        return Rules()
    return Rules.model_validate({**Rules().model_dump(), **json.loads(Path(path).read_text())})
