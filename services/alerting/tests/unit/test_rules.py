"""Each rule on positive and near-miss cases, without broker or database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from mintrace_common.examples import supervision_record as record

from mintrace_alerting import rules as R
from mintrace_alerting.config import Rules
from mintrace_common.models import Money
from mintrace_common.names import Watchlist

NOW = datetime(2026, 11, 21, tzinfo=UTC)
RULES = Rules()
WATCHLIST = Watchlist([("Oriental Transit Metals FZE", ["OTM FZE"], "diversion"),
                       ("Baltic Rare Trading OU", ["Baltik Rare Trading"], "transshipment")],
                      RULES.watchlist_min_score)
PRICES = {("Dy", "oxide"): Decimal(260)}


def test_watchlisted_consignee_written_differently_is_flagged():
    for name in ["ORIENTAL-TRANSIT METALS F.Z.E.", "Oriyental Tranzit Metals LLC",
                 "Transit Metals Oriental", "O.T.M. FZE", "Baltic Rare Trading Intl OU"]:
        [a] = R.watchlist_alerts(record(consignee=(name, "AE")), WATCHLIST, NOW, RULES)
        assert a.type == "WATCHLIST_COUNTERPARTY" and a.report_ids == ["R-1"], name
        assert a.rule_version == RULES.version and a.severity == "critical"


def test_similar_but_clean_names_are_not_flagged():
    for name in ["Oriental Precision Motors Co Ltd", "Baltic Sea Shipping OU",
                 "Transit Rail Motors SA", "Metals Trading Oriental Co", "OTK Inc"]:
        assert R.watchlist_alerts(record(consignee=(name, "JP")), WATCHLIST, NOW, RULES) == [], name


def test_price_far_below_reference_is_flagged_and_near_reference_is_not():
    [a] = R.price_alerts(record(kg="1000", usd="52000"), PRICES, NOW, RULES)  # 20 % of 260
    assert a.type == "PRICE_ANOMALY" and a.severity == "high"
    assert R.price_alerts(record(kg="1000", usd="156000"), PRICES, NOW, RULES) == []  # 60 %
    assert R.price_alerts(record(kg="1000", usd="900000"), PRICES, NOW, RULES)  # 3.5x


def _valued(rec, amount: str, currency: str, value_usd: str | None):
    report = rec.report.model_copy(update={"value": Money(amount=amount, currency=currency)})
    return rec.model_copy(update={"report": report, "value_usd": value_usd and Decimal(value_usd)})


def test_price_is_judged_on_the_value_routing_converted_at_the_registry_rate():
    # 6.5 million KRW for a tonne of Dy oxide is about 4,700 USD: 2 % of the reference
    under = _valued(record(kg="1000"), "6500000", "KRW", "4680")
    [a] = R.price_alerts(under, PRICES, NOW, RULES)
    assert a.details["declared"] == "6500000 KRW" and Decimal(a.details["unit_usd_per_kg"]) == Decimal("4.68")
    fair = _valued(record(kg="1000"), "360000000", "KRW", "259200")
    assert R.price_alerts(fair, PRICES, NOW, RULES) == []


def test_a_value_without_a_rate_is_not_judged_as_if_it_were_usd():
    no_rate = _valued(record(kg="1000"), "52000", "MNT", None)  # 52,000 MNT taken as USD: 20 %
    assert R.price_alerts(no_rate, PRICES, NOW, RULES) == []


def test_price_of_a_purchase_is_not_judged_only_the_sellers_declaration():
    rec = record(type_="domestic_purchase", kg="1000", usd="1000", counterparty_report_id="S-1")
    assert R.price_alerts(rec, PRICES, NOW, RULES) == []


def test_transshipment_hub_or_foreign_end_user_is_flagged():
    [hub] = R.transshipment_alerts(record(consignee=("Lion City Metals", "SG")), NOW, RULES)
    assert "hub" in hub.summary
    [elsewhere] = R.transshipment_alerts(
        record(consignee=("Rotterdam Brokers", "NL"), end_user=("Great Lakes", "US")), NOW, RULES)
    assert "end user in US" in elsewhere.summary
    assert R.transshipment_alerts(record(), NOW, RULES) == []
    # light rare earths are not controlled: a hub destination is no transshipment risk
    assert R.transshipment_alerts(record(material="Nd", consignee=("X", "SG")), NOW, RULES) == []


def _group(quantities: list[int], hours_apart: float, new: int = -1, episodes=()):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    ships = [R.Shipment(f"E-{i}", t0 + timedelta(hours=i * hours_apart), Decimal(q))
             for i, q in enumerate(quantities)]
    return R.SplitGroup("P", "360000", "Dy", "hanse magnetiks", ships,
                        frozenset({ships[new].report_id}), list(episodes))


def test_small_exports_crossing_the_threshold_together_are_a_split():
    alert, episode, _ = R.split_decision(_group([400, 350, 420], 12), NOW, RULES)
    assert alert.type == "SPLIT_SHIPMENTS" and alert.report_ids == ["E-0", "E-1", "E-2"]
    assert episode is not None


@pytest.mark.parametrize("quantities,hours", [
    ([400, 350], 12),            # only two shipments
    ([300, 300, 300], 12),       # together still under the threshold
    ([400, 350, 420], 40),       # spread beyond the 72 h window
    ([1200, 1300, 1100], 12),    # each over the threshold: reviewed anyway
])
def test_near_miss_split_patterns_raise_nothing(quantities, hours):
    assert R.split_decision(_group(quantities, hours), NOW, RULES)[0] is None


def test_a_split_already_alerted_is_extended_not_alerted_again():
    g = _group([400, 350, 420, 380], 12)
    first = g.shipments[0].occurred_at
    alert, _, extends = R.split_decision(
        _group([400, 350, 420, 380], 12, episodes=[(first, first + timedelta(hours=24))]),
        NOW, RULES)
    assert alert is None and extends == first


def _daily(total: int, baseline: list[int]) -> R.DailyVolume:
    return R.DailyVolume("P", "150000", "REO-concentrate", "mining_output", "2026-11-10",
                         Decimal(total), ["M-1"], Decimal(sum(baseline)), len(baseline))


def test_daily_volume_far_above_its_own_baseline_is_a_spike():
    a = R.spike_alert(_daily(120_000, [25_000, 22_000, 27_000, 24_000, 26_000]), NOW, RULES)
    assert a.type == "VOLUME_SPIKE" and a.report_ids == ["M-1"]


def test_busy_days_and_short_histories_are_not_spikes():
    assert R.spike_alert(_daily(45_000, [25_000] * 7), NOW, RULES) is None      # 1.8x
    assert R.spike_alert(_daily(120_000, [25_000] * 3), NOW, RULES) is None     # 3 days only
    assert R.spike_alert(_daily(500, [100] * 7), NOW, RULES) is None           # 5x, but tiny


def _balance(inflow: int, outflow: int, alerted: int = 0) -> R.Balance:
    return R.Balance("F-1", "P", "360000", "REO-concentrate", Decimal(inflow), Decimal(outflow),
                     Decimal(alerted), ["S-9"])


def test_selling_more_than_came_in_beyond_tolerance_is_a_mass_balance_alert():
    alert, keep = R.balance_decision(_balance(100_000, 120_000), NOW, RULES)
    assert alert.type == "MASS_BALANCE" and alert.report_ids == ["S-9"] and keep == 20_000


def test_mass_balance_within_tolerance_or_already_alerted_raises_nothing():
    assert R.balance_decision(_balance(100_000, 104_000), NOW, RULES)[0] is None  # 4 % over
    assert R.balance_decision(_balance(100_000, 120_000, 20_000), NOW, RULES)[0] is None
    alert, keep = R.balance_decision(_balance(100_000, 90_000, 20_000), NOW, RULES)
    assert alert is None and keep == 0  # back in balance: a new deficit alerts again


def test_a_facility_with_no_input_and_no_declared_stock_holds_nothing():
    alert, keep = R.balance_decision(_balance(0, 1_500), NOW, RULES)
    assert alert.type == "MASS_BALANCE" and Decimal(alert.details["deficit_kg"]) == 1_500
    assert keep == 1_500
    assert R.balance_decision(_balance(0, 150), NOW, RULES)[0] is None  # within 200 kg


def test_declared_opening_stock_counts_as_input_within_the_tolerance():
    stocked = lambda out: R.Balance("F-1", "P", "360000", "Dy", Decimal(0),  # noqa: E731
                                    Decimal(out), Decimal(0), ["S-1"], Decimal(2_000))
    assert R.balance_decision(stocked(1_800), NOW, RULES)[0] is None
    assert R.balance_decision(stocked(2_250), NOW, RULES)[0] is None  # 5 % + 200 kg = 300
    alert, _ = R.balance_decision(stocked(3_000), NOW, RULES)           # under-declared
    assert alert is not None and alert.details["opening_kg"] == "2000"
    assert Decimal(alert.details["deficit_kg"]) == 1_000


def test_unconfirmed_transfer_is_due_only_after_the_window():
    sale = R.PendingSale("P", "S-1", "B", "360000", NOW - timedelta(hours=47))
    assert not R.transfer_due(sale, NOW, RULES)
    assert R.transfer_due(sale, NOW + timedelta(hours=2), RULES)
    a = R.unconfirmed_alert(sale, NOW, RULES)
    assert a.type == "UNCONFIRMED_TRANSFER" and a.report_ids == ["S-1"]


def test_every_alert_id_is_deterministic_per_condition():
    a1 = R.split_decision(_group([400, 350, 420], 12), NOW, RULES)[0]
    a2 = R.split_decision(_group([400, 350, 420], 12), NOW + timedelta(hours=1), RULES)[0]
    assert a1.alert_id == a2.alert_id
