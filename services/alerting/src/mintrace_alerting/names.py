"""Fuzzy matching of party names against the watchlist.

Names are folded before comparison so that the variants evaders use collapse onto one form:
case, accents and punctuation ("O.T.M." = "OTM"), legal suffixes ("Ltd", "FZE", "GmbH"),
simple Cyrillic transliteration and common spelling/transliteration alternations
(ph/f, c/k, z/s, y/i, w/v, doubled letters). Word order is handled by a token-sorted comparison."""

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz, process

LEGAL_SUFFIXES = frozenset("""
ltd limited llc inc incorporated corp corporation co company cos gmbh ag kg ug sa spa srl sarl sas
bv nv fze fzco fzc fzllc dmcc ou oue kk plc pte pty llp lp jsc ojsc pjsc cjsc ooo oao zao ab as asa
oy oyj aps sp zoo sro kft bhd sdn tbk pt lda ltda sl sociedad the and of
""".split())

_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r",
     "s", "t", "u", "f", "h", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))
_FOLDS = [("ph", "f"), ("ck", "k"), ("kh", "h"), ("q", "k"), ("c", "k"), ("x", "ks"), ("z", "s"),
          ("y", "i"), ("w", "v"), ("j", "i")]


def _fold_token(t: str) -> str:
    for a, b in _FOLDS:
        t = t.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", t)


def normalise(name: str) -> str:
    """The comparison form of a name: folded tokens without legal suffixes, in original order."""
    s = unicodedata.normalize("NFKD", name.lower())
    s = "".join(_CYRILLIC.get(ch, ch) for ch in s if not unicodedata.combining(ch))
    s = s.replace("&", " and ")
    s = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", s)  # O.T.M. -> otm.
    tokens = re.sub(r"[^a-z0-9]+", " ", s).split()
    merged: list[str] = []
    for t in tokens:  # runs of single letters are an acronym written with spaces
        if len(t) == 1 and merged and merged[-1].endswith("\x00") and merged[-1][:-1].isalpha():
            merged[-1] = merged[-1][:-1] + t + "\x00"
        else:
            merged.append(t + "\x00" if len(t) == 1 else t)
    tokens = [t.rstrip("\x00") for t in merged]
    kept = [t for t in tokens if t not in LEGAL_SUFFIXES] or tokens
    return " ".join(_fold_token(t) for t in kept)


CONTAINED = 95.0


def score(a: str, b: str, **_) -> float:
    """Similarity of a normalised party name `a` to a normalised listed name `b`, 0-100: the
    best of a token-sorted comparison (word order) and a comparison with spaces removed
    ("Sun Rise" = "Sunrise"); a party name containing every word of a listed name of two words
    or more ("Baltic Rare Trading International") scores CONTAINED."""
    if not a or not b:
        return 0.0
    if min(len(a), len(b)) < 5:
        return 100.0 if a.replace(" ", "") == b.replace(" ", "") else 0.0
    listed = set(b.split())
    if len(listed) >= 2 and listed <= set(a.split()):
        return max(CONTAINED, fuzz.token_sort_ratio(a, b))
    return max(fuzz.token_sort_ratio(a, b),
               fuzz.ratio("".join(sorted(a.split())), "".join(sorted(b.split()))),
               fuzz.ratio(a.replace(" ", ""), b.replace(" ", "")))


@dataclass(frozen=True)
class Hit:
    name: str          # the party name as reported
    listed: str        # the watchlist entry's name
    matched: str       # the listed name or alias that matched
    score: float
    reason: str


class Watchlist:
    def __init__(self, entries: list[tuple[str, list[str], str]], min_score: float) -> None:
        """`entries`: (name, aliases, reason) per watchlist entry."""
        self.min_score = min_score
        self._keys: list[str] = []
        self._meta: list[tuple[str, str, str]] = []
        for name, aliases, reason in entries:
            for variant in (name, *aliases):
                self._keys.append(normalise(variant))
                self._meta.append((name, variant, reason))

    def match(self, party_name: str) -> Hit | None:
        if not self._keys:
            return None
        best = process.extractOne(normalise(party_name), self._keys, scorer=score,
                                  score_cutoff=self.min_score)
        if best is None:
            return None
        _, s, i = best
        listed, variant, reason = self._meta[i]
        return Hit(party_name, listed, variant, round(float(s), 1), reason)
