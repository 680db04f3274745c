"""The watchlist matcher: variants of listed names match, clean names do not (measured)."""

import random

from alerting_clean_names import CLEAN_NAMES

from mintrace import demo, scenarios
from mintrace_alerting.config import Rules
from mintrace_common.names import Watchlist, fold, phonetic

WATCHLIST = Watchlist([(e["name"], e["aliases"], e["reason"]) for e in demo.WATCHLIST],
                      Rules().watchlist_min_score)


def normalise(name: str) -> str:
    return phonetic(fold(name))


def test_normalisation_folds_case_punctuation_suffixes_and_transliteration():
    assert normalise("ORIENTAL-TRANSIT METALS F.Z.E.") == normalise("Oriental Transit Metals")
    assert normalise("Oriyental Tranzit Metals LLC") == normalise("Oriental Transit Metals FZE")
    assert normalise("Baltik Rare Trading OÜ") == normalise("Baltic Rare Trading OU")
    assert normalise("O. T. M. FZE") == "otm"


def test_no_clean_name_matches_the_watchlist():
    hits = {n: WATCHLIST.match(n) for n in CLEAN_NAMES}
    false_positives = {n: h.listed for n, h in hits.items() if h}
    assert len(CLEAN_NAMES) >= 90
    assert false_positives == {}


def test_generated_evasion_variants_all_match_their_entry():
    rng = random.Random(6)
    misses = []
    for _ in range(300):
        entry = rng.choice(demo.LATIN_WATCHLIST)
        variant = scenarios.watchlist_variants(entry["name"], rng)
        hit = WATCHLIST.match(variant)
        if hit is None or hit.listed != entry["name"]:
            misses.append((variant, entry["name"]))
    assert misses == []
