"""The watchlist matcher: variants of listed names match, clean names do not (measured)."""

import random


from mintrace import demo, scenarios
from mintrace_alerting.config import Rules
from mintrace_common.names import Watchlist, fold, phonetic


CLEAN_NAMES = """
Hanse Magnetics GmbH|Nippon Motor Materials KK|Korea Precision Alloys Co Ltd
Great Lakes Magnet Corp|Lyon Aero Components SA|Milano Elettronica SpA
Oriental Precision Motors Co Ltd|Baltic Magnet Recycling AS|Sunrise Solar Components Inc
Transit Rail Motors SA|Nordic Rare Metals AB|Pacific Alloy Traders Pty Ltd
Hanse Elektromotoren GmbH|Alpine Sensor Systems AG|Seoul Motion Parts Co Ltd
Mumbai Magnetics Pvt Ltd|Sao Paulo Motores Ltda|Quebec Electro Materials Inc
Orient Metals Trading Co Ltd|Rare Earth Transit Logistics BV|Baltic Sea Shipping OU
Sunrise Holdings Group Ltd|Metals Oriental Trading LLC|Transit Alloy Works Sp zoo
Gulf Electric Motors LLC|Istanbul Motor Parts AS|Kyushu Magnet Materials KK
Lombardia Motori SpA|Great Plains Wind Energy LLC|Danube Drives Kft
Oriental Metal Finishing Inc|Baltic Trading House OU|Sunrise Alloy Wheels Pty Ltd
Eastern Transit Metals Ltd|Rare Trading Company SA|Alloy Holdings Canada Inc
Oriental Bank Holdings|Baltic Rail Freight AS|Sun Valley Alloys LLC
Transmetal Industries Ltd|Oriental Traders Ltd|Rare Earth Magnet Solutions GmbH
Vacuumschmelze Partner GmbH|Arnold Magnetic Partners Inc|Neo Performance Partners Ltd
Solvay Rare Earth Partners SA|Lynas Customer Services Pty Ltd|Shin-Etsu Partner KK
TDK Components Europe GmbH|Hitachi Metals Partner KK|Bosch Motor Systems GmbH
Valeo Electrification SA|Siemens Gamesa Components SL|Vestas Nacelles AS
Tesla Motor Supply LLC|General Motors Components Holdings LLC|Toyota Tsusho Materials KK
Umicore Specialty Materials NV|Heraeus Precious Metals GmbH|Plansee Tungsten AG
Wolfram Bergbau Partner GmbH|Almonty Industries Inc|Kennametal Europe GmbH
Sandvik Hard Materials AB|Ceratizit Luxembourg SARL|H.C. Starck Tungsten GmbH
5N Plus Germanium Inc|Umicore Optics Materials NV|Indium Corporation of America
Imerys Graphite Carbon SA|SGL Carbon SE|Tokai Carbon Co Ltd
Syrah Resources Trading Ltd|Nouveau Monde Graphite Inc|Westwater Resources Inc
Skyworks Gallium Partners Inc|Qorvo Materials LLC|Wolfspeed Materials Inc
AXT Substrates Inc|Freiberger Compound Materials GmbH|Sumitomo Electric Materials KK
Oriental Yeast Trading Co Ltd|Transit Systems Holdings Ltd|Metals X Holdings Ltd
Baltic Amber Trading OU|Sunrise Medical Holdings Ltd|Rare Books Trading Ltd
Alloy Steel International Inc|Orient Overseas Container Line Ltd|Baltic International Bank
""".replace("\n", "|").strip("|").split("|")


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
