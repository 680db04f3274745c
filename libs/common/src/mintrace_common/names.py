"""Party names reduced to what identifies the party — one folding for every comparison of names
(licence consignee and end user, watchlist screening, split-shipment grouping).

`fold` turns a name into a `Folded`:
- `words`: Latin tokens — NFKC (full-width to half-width), case and accents folded, Cyrillic
  transliterated, punctuation dropped, acronyms written with spaces joined ("O. T. M." = "otm"),
  trailing legal forms (cleanco's list plus ours: "Co., Ltd.", "GmbH", "FZE", …) and a region
  marker before them ("… (HK) Limited") stripped;
- `han`: for a name in Chinese script, simplified characters (OpenCC t2s) without the legal form
  (有限公司, 股份有限公司, (集团)有限公司, 集团, …) or the region marker (香港…, …(香港)…) that
  Chinese enterprise names carry around the trade name;
- `syllables`: the pinyin syllables of the core (pypinyin for Chinese script; a name written in
  pinyin, with or without spaces or tone marks, is segmented into syllables), so that
  "Huaxin Maoyi Youxian Gongsi" and "華信貿易有限公司" compare equal.

`same_party` is equality of folded names (licences); `Watchlist` is the fuzzy screening: Latin
names by a token-sorted rapidfuzz score over sound-alike folded words, names in Chinese script by
characters, and a Chinese name against pinyin by syllables — a shared word is never enough."""

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from cleanco.clean import get_unique_terms, normalize_terms
from rapidfuzz import fuzz

# --- Latin ------------------------------------------------------------------------------------

_OURS = ("fze", "fzco", "fzc", "fz llc", "fzllc", "dmcc", "pvt", "pvt ltd", "private ltd", "jsc",
         "ojsc", "pjsc", "cjsc", "pao", "sdn", "sdn bhd", "tbk", "pt", "co", "co ltd", "cos",
         "company", "limited", "kabushiki kaisha", "yk", "gk", "mbh", "cv", "eg", "sab", "sae", "se",
         "sp zoo", "sp z oo", "sa de cv", "ltda", "kft", "ou", "oue")
_LEGAL = {tuple(t.replace("/", " ").replace("&", " and ").split())
          for t in normalize_terms(get_unique_terms())} | {tuple(t.split()) for t in _OURS}
_LEGAL.discard(())
# cleanco's list is worldwide; some of its short terms are ordinary words in party names
_LEGAL -= {("uk",), ("at",), ("et",), ("ok",), ("ad",), ("ba",), ("da",), ("sd",), ("ps",),
           ("pp",), ("mb",), ("ik",), ("kt",), ("ij",), ("fa",), ("sf",), ("ec",), ("ep",),
           ("ee",), ("ei",), ("ev",), ("ae",), ("oe",), ("og",), ("ud",), ("hb",), ("ky",)}
_LEGAL_MAX = max(map(len, _LEGAL))
_REGIONS = {("hk",), ("hong", "kong"), ("hongkong",), ("xianggang",), ("china",), ("prc",),
            ("zhongguo",), ("macau",), ("macao",), ("aomen",)}
_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r",
     "s", "t", "u", "f", "h", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))
_PARENS = re.compile(r"\(([^()]*)\)")

# --- Chinese ----------------------------------------------------------------------------------

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CN_LEGAL_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "总公司", "公司", "集团",
                  "有限")
CN_REGIONS = ("香港", "中国", "澳门")
_CN_TRAILING = re.compile(r"(?:" + "|".join(CN_LEGAL_FORMS) + r")$")
_CN_PARENS = re.compile(r"\((?:" + "|".join(CN_REGIONS + ("集团", "控股"))
                        + r")\)")
_CN_LEADING = re.compile(r"^(?:" + "|".join(CN_REGIONS) + ")")

# OpenCC's dictionaries and pypinyin's take seconds to load: on first use, not at import (a
# service that compares names calls `load()` before it consumes).


@cache
def _t2s():
    import opencc

    return opencc.OpenCC("t2s").convert


@cache
def _pinyin():
    from pypinyin import lazy_pinyin

    return lambda text: [s.replace("v", "u") for s in lazy_pinyin(text, errors="ignore")]


_TONELESS = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuuuuuunnnm")


@cache
def _syllables() -> frozenset[str]:
    """Every pinyin syllable without tone (ü written u), from pypinyin's readings."""
    from pypinyin.constants import PINYIN_DICT

    readings = ",".join(PINYIN_DICT.values()).translate(_TONELESS)
    return frozenset(readings.split(",")) - {"m", "n", "ng", "hm", "hng", "ê", ""}


@cache
def _py_forms() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(legal forms, region markers) in pinyin syllables, longest legal form first."""
    legal = sorted({tuple(_pinyin()(f)) for f in CN_LEGAL_FORMS}, key=len, reverse=True)
    return legal, [tuple(_pinyin()(r)) for r in CN_REGIONS]


@dataclass(frozen=True)
class Folded:
    words: tuple[str, ...]
    han: str | None = None
    syllables: tuple[str, ...] | None = None

    @property
    def latin(self) -> str:
        return " ".join(self.words)

    @property
    def key(self) -> str:
        """What equal parties share: the Chinese core, else the Latin words."""
        return self.han if self.han else self.latin


def _ascii_words(text: str) -> list[str]:
    s = unicodedata.normalize("NFKD", text.casefold())
    s = "".join(_CYRILLIC.get(ch, ch) for ch in s if not unicodedata.combining(ch))
    s = s.replace("&", " and ").replace("'", "")
    s = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", s)  # O.T.M. -> otm.
    tokens = re.sub(r"[^a-z0-9]+", " ", s).split()
    merged: list[str] = []
    single_run = False
    for t in tokens:  # runs of single letters are an acronym written with spaces
        if len(t) == 1 and t.isalpha() and single_run:
            merged[-1] += t
        else:
            merged.append(t)
            single_run = len(t) == 1 and t.isalpha()
    return merged


def _strip_latin(words: list[str]) -> list[str]:
    """Without a leading "the" and trailing legal forms; a name made of legal forms only keeps
    them (there is nothing else to compare)."""
    core = words[1:] if words[:1] == ["the"] else list(words)
    stripped = True
    while stripped and core:
        stripped = False
        for n in range(min(_LEGAL_MAX, len(core)), 0, -1):
            if tuple(core[-n:]) in _LEGAL:
                core, stripped = core[:-n], True
                for region in _REGIONS:  # "… (HK) Limited", "… Hong Kong Ltd"
                    if len(core) > len(region) and tuple(core[-len(region):]) == region:
                        core = core[:-len(region)]
                break
    return core or list(words)


def _drop_region_parens(text: str) -> str:
    def repl(m: re.Match) -> str:
        inner = tuple(_ascii_words(m.group(1)))
        return " " if inner in _REGIONS or not inner else m.group(0)
    return _PARENS.sub(repl, text)


def _strip_han(s: str) -> str:
    core = _CN_PARENS.sub("", s)
    while (shorter := _CN_TRAILING.sub("", core)) != core and len(shorter) >= 2:
        core = shorter
    if len(shorter := _CN_LEADING.sub("", core)) >= 2:
        core = shorter
    return core


@lru_cache(maxsize=65536)
def _segment(text: str) -> tuple[str, ...] | None:
    """Fewest pinyin syllables spelling `text` exactly, or None."""
    syllables = _syllables()
    best: list[tuple[str, ...] | None] = [()] + [None] * len(text)
    for end in range(1, len(text) + 1):
        for start in range(max(0, end - 6), end):
            prev = best[start]
            if prev is not None and text[start:end] in syllables and (
                    best[end] is None or len(prev) + 1 < len(best[end])):
                best[end] = (*prev, text[start:end])
    return best[-1]


def _strip_syllables(syl: tuple[str, ...]) -> tuple[str, ...]:
    legal, regions = _py_forms()
    changed = True
    while changed:
        changed = False
        for form in legal:
            if len(syl) > len(form) + 1 and syl[-len(form):] == form:
                syl, changed = syl[:-len(form)], True
                break
    for region in regions:
        if len(syl) > len(region) + 1 and syl[:len(region)] == region:
            syl = syl[len(region):]
    return syl


def _pinyin_of(words: list[str]) -> tuple[str, ...] | None:
    text = re.sub(r"(?<=[a-z])[1-5]", "", "".join(words)).replace("v", "u")
    if not text.isalpha():
        return None
    syl = _segment(text)
    return _strip_syllables(syl) if syl else None


@lru_cache(maxsize=65536)  # the same few thousand parties recur in every batch
def fold(name: str) -> Folded:
    """The comparison form of a party name (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name)
    if _HAN.search(text):
        simplified = re.sub(r"\s+", "", _t2s()(text))
        han = _strip_han(simplified)
        latin = _ascii_words(_HAN.sub(" ", han))
        syllables = tuple(_pinyin()(han))
        return Folded(tuple(latin), han, _strip_syllables(syllables + tuple(latin)))
    words = _ascii_words(_drop_region_parens(text))
    if not words:
        return Folded(())
    core = _strip_latin(words)
    return Folded(tuple(core), None, _pinyin_of(core))


def load() -> None:
    """Load every dictionary folding needs now (seconds of CPU, once per process), so that a
    service's first batch does not pay for it."""
    fold("華信貿易(香港)有限公司")
    fold("Huaxin Maoyi Youxian Gongsi")


def same_party(a_name: str, a_country: str, b_name: str, b_country: str) -> bool:
    """Same country and the same folded name: the same Chinese core, the same Latin words, or a
    Chinese name and its pinyin spelling."""
    if a_country.strip().upper() != b_country.strip().upper():
        return False
    a, b = fold(a_name), fold(b_name)
    if a.key and a.key == b.key:
        return True
    return bool(a.han) != bool(b.han) and a.syllables is not None and a.syllables == b.syllables


# --- fuzzy screening --------------------------------------------------------------------------

_SOUND_ALIKE = [("ph", "f"), ("ck", "k"), ("kh", "h"), ("q", "k"), ("c", "k"), ("x", "ks"),
                ("z", "s"), ("y", "i"), ("w", "v"), ("j", "i")]
_FILLERS = frozenset({"the", "and", "of"})
CONTAINED = 95.0


def _sound_alike(t: str) -> str:
    for a, b in _SOUND_ALIKE:
        t = t.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", t)


def phonetic(f: Folded) -> str:
    """Latin words folded further for screening: spelling and transliteration alternations
    (ph/f, c/k, z/s, y/i, w/v, doubled letters) and filler words dropped."""
    kept = [w for w in f.words if w not in _FILLERS] or list(f.words)
    return " ".join(_sound_alike(w) for w in kept)


def latin_score(a: str, b: str) -> float:
    """Similarity of a phonetic party name `a` to a phonetic listed name `b`, 0-100: the best of
    a token-sorted comparison (word order) and a comparison with spaces removed ("Sun Rise" =
    "Sunrise"); a party name containing every word of a listed name of two words or more
    ("Baltic Rare Trading International") scores CONTAINED."""
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


def _units_score(a: list[str] | str, b: list[str] | str) -> float:
    """Indel ratio over whole characters or syllables: one shared word of a four-syllable name
    scores 50, a name differing by one syllable in four 75."""
    if not a or not b:
        return 0.0
    if min(len(a), len(b)) < 2:
        return 100.0 if a == b else 0.0
    return fuzz.ratio(a, b)


def score(a: Folded, b: Folded, a_phonetic: str | None = None,
          b_phonetic: str | None = None) -> float:
    """Similarity 0-100 of party `a` to listed name `b`: by characters when both are written in
    Chinese, by pinyin syllables when one is, else by Latin words (their `phonetic` forms may be
    passed in when already computed)."""
    if a.han and b.han:
        return _units_score(a.han, b.han)
    if a.han or b.han:
        return _units_score(list(a.syllables or ()), list(b.syllables or ()))
    return latin_score(phonetic(a) if a_phonetic is None else a_phonetic,
                       phonetic(b) if b_phonetic is None else b_phonetic)


@dataclass(frozen=True)
class Hit:
    name: str          # the party name as reported
    listed: str        # the watchlist entry's name
    matched: str       # the listed name or alias that matched
    score: float
    reason: str


class Watchlist:
    MEMO = 65536  # party names remembered (the same few thousand recur in every batch)

    def __init__(self, entries: list[tuple[str, list[str], str]], min_score: float) -> None:
        """`entries`: (name, aliases, reason) per watchlist entry."""
        self.entries, self.min_score = entries, min_score
        self._variants = [(f, phonetic(f), name, variant, reason)
                          for name, aliases, reason in entries for variant in (name, *aliases)
                          for f in (fold(variant),)]
        self._seen: dict[str, Hit | None] = {}

    def match(self, party_name: str) -> Hit | None:
        """The best-scoring entry at or above `min_score`, if any. Remembered per name: a
        watchlist does not change (a changed registry makes a new one)."""
        try:
            return self._seen[party_name]
        except KeyError:
            pass
        if len(self._seen) >= self.MEMO:
            self._seen.clear()
        hit = self._seen[party_name] = self._match(party_name)
        return hit

    def _match(self, party_name: str) -> Hit | None:
        party = fold(party_name)
        sound = phonetic(party)
        best: tuple[float, int] | None = None
        for i, (listed, listed_sound, *_) in enumerate(self._variants):
            s = score(party, listed, sound, listed_sound)
            if s >= self.min_score and (best is None or s > best[0]):
                best = (s, i)
        if best is None:
            return None
        _, _, name, variant, reason = self._variants[best[1]]
        return Hit(party_name, name, variant, round(float(best[0]), 1), reason)
