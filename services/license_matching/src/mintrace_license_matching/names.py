"""Party names as the licence and the report give them, reduced to what identifies the party:
case, accents, punctuation, spacing and trailing legal-form suffixes do not count."""

import re
import unicodedata
from functools import lru_cache

# Legal forms, after punctuation is gone ("S.p.A." -> "spa", "Co., Ltd." -> "co ltd").
LEGAL_SUFFIXES = frozenset({
    "ab", "ag", "aps", "as", "asa", "bhd", "bv", "co", "company", "corp", "corporation", "cv",
    "eg", "fze", "fzco", "fzc", "fzllc", "gk", "gmbh", "inc", "incorporated", "jsc", "kg", "kk",
    "kabushiki", "kaisha", "limited", "llc", "llp", "lp", "ltd", "ltda", "mbh", "nv", "ooo",
    "oy", "oyj", "ou", "pao", "pjsc", "plc", "pte", "pty", "sa", "sab", "sae", "sarl", "sas",
    "sdn", "se", "spa", "srl", "sro", "yk", "zao",
})
_DOTS = re.compile(r"[.\u00b7\u30fb]")
_PUNCT = re.compile(r"[^\w]+")


@lru_cache(maxsize=65536)  # the same few thousand parties recur in every batch
def normalise(name: str) -> str:
    """'Hanse Magnetics GmbH' and 'HANSE  MAGNETICS, g.m.b.h.' both give 'hanse magnetics'.
    A name made of legal forms only keeps them (there is nothing else to compare)."""
    text = name if name.isascii() else "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    text = text.casefold()
    text = _DOTS.sub("", text).replace("&", " ")
    words = _PUNCT.sub(" ", text).replace("_", " ").split()
    core = list(words)
    while core and core[-1] in LEGAL_SUFFIXES:
        core.pop()
    return " ".join(core or words)


def same_party(a_name: str, a_country: str, b_name: str, b_country: str) -> bool:
    return (a_country.strip().upper() == b_country.strip().upper()
            and normalise(a_name) == normalise(b_name))
