"""Fuzzy name + address matching: the last step of the matching cascade, which only *suggests*.

Records that share no exact key (id, stored number, VAT, email) may still be the same company
typed twice. This module scores such pairs and returns `Candidate`s for a person to accept or
reject in the review table; nothing here merges anything.

How a pair is scored
  name     rapidfuzz `ratio` on the normalised name with its tokens sorted (= token_sort_ratio,
           but sorting once per record instead of once per comparison), or as written when that
           is higher (a typo can move a word in the sort order). WRatio was measured
           and rejected: its partial_ratio part rates "Hansen" vs "Hansen Transport" 90 (token
           sort: 55), which suggests hard negatives (different firms, same postcode, shared
           surname); on the 30k benchmark it cost 3.6x the time for precision 0.978 vs 0.995
           at the same recall (0.94).
  address  ratio of the normalised street (spaces removed, so "Bahnhof Str." == "Bahnhofstr.")
           and of the house number, 3:1. Unknown when either side lacks a street; an unknown
           address counts as a neutral 50, so a bare name match scores lower than a full one.
  score    NAME_WEIGHT * name + (1 - NAME_WEIGHT) * address, minus a small penalty when both
           sides carry a legal form and they differ (A/S vs ApS are different companies more
           often than a conversion).

Blocking (which pairs are compared at all): a pair is compared only inside the most specific
block *both* records have, within the same country:
  1. country + postcode, when both have a postcode;
  2. else country + city, when both have a city;
  3. else country + the first 3 letters of the normalised name.
So a record without postcode still meets the other side's records of its city, and one with
neither meets the records whose name starts alike. A missing country is its own country ("");
a company whose postcode changed on one side is not found (the price of blocking, see the
benchmark's recall). Each block is one `rapidfuzz.process.cdist` call with a score cutoff;
only pairs whose name can still reach the threshold are scored on address (`cpdist`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

import numpy as np
from rapidfuzz import fuzz, process

NAME_WEIGHT = 0.7
UNKNOWN_ADDRESS_SCORE = 50.0
LEGAL_FORM_PENALTY = 4.0
DEFAULT_THRESHOLD = 80.0  # benchmarks/matching.py: precision 0.98, recall 0.94 at 100k x 100k
_PREFIX_LEN = 3
_PARALLEL_BLOCK = 250_000  # comparisons above which cdist uses both cores; below, thread start-up costs more


@dataclass(frozen=True, slots=True)
class Candidate:
    left_key: Any
    right_key: Any
    score: float  # 0..100
    evidence: dict = field(compare=False)


# --- normalisation -------------------------------------------------------------------------

# Transliterate before stripping accents: German and Danish write these two ways ("Müller" /
# "Mueller", "Ålborg" / "Aalborg"); NFKD alone would turn ø, æ and ß into nothing useful.
_TRANSLIT = str.maketrans({"ä": "ae", "æ": "ae", "ö": "oe", "ø": "oe", "ü": "ue", "å": "aa",
                           "ß": "ss", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "ı": "i"})
# Single letters joined by dots or slashes are one abbreviation: a/s, g.m.b.h., s.à r.l., e.v.
_DOTTED = re.compile(r"\b(?:[a-z][./]\s?)+[a-z]\b\.?")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_CONJUNCTIONS = frozenset({"and", "og", "und", "och", "et", "en"})

# Trailing legal forms, as token tuples after the steps above ("&" already dropped), and the
# canonical form reported as evidence and compared for the penalty.
_LEGAL_FORMS: dict[tuple[str, ...], str] = {}
for _canon, _variants in {
    "A/S": ["as", "aktieselskab", "aksjeselskap"],
    "ASA": ["asa", "allmennaksjeselskap"],
    "ApS": ["aps", "anpartsselskab"],
    "I/S": ["is"], "K/S": ["ks"], "P/S": ["ps"], "IVS": ["ivs"], "AMBA": ["amba"], "SMBA": ["smba"],
    "AB": ["ab", "aktiebolag"],
    "AG": ["ag", "aktiengesellschaft"],
    "GmbH": ["gmbh", "gesellschaft mit beschraenkter haftung"],
    "GmbH & Co. KG": ["gmbh co kg", "gmbh cokg", "gmbh co kgaa", "gmbh cokgaa"],
    "AG & Co. KG": ["ag co kg", "ag cokg"],
    "KG": ["kg", "kgaa", "co kg", "cokg"], "OHG": ["ohg"], "GbR": ["gbr"], "UG": ["ug", "ug haftungsbeschraenkt"],
    "e.K.": ["ek"], "e.V.": ["ev"], "eG": ["eg"],
    "SA": ["sa"], "Sàrl": ["sarl", "sa rl", "sagl"], "SAS": ["sas"], "SRL": ["srl"], "SpA": ["spa"],
    "Ltd": ["ltd", "limited"], "Inc": ["inc", "incorporated"], "LLC": ["llc"], "PLC": ["plc"],
    "Corp": ["corp", "corporation"], "BV": ["bv"], "NV": ["nv"], "Oy": ["oy", "oyj"], "SE": ["se"],
    "BA": ["ba"], "DA": ["da"], "ANS": ["ans"], "ENK": ["enk"], "NUF": ["nuf"],
    "& Co.": ["co", "cie"],
}.items():
    for _v in _variants:
        _LEGAL_FORMS[tuple(_v.split())] = _canon
_MAX_LEGAL_LEN = max(map(len, _LEGAL_FORMS))
_LEADING_LEGAL = frozenset({"ab", "as", "asa"})  # Nordic forms also written first: "AB Volvo"

# Street suffixes to one spelling each, applied to the end of every street token, longest first.
_STREET_SUFFIXES = [
    ("strasse", "str"), ("strase", "str"), ("straat", "str"),
    ("gaden", "g"), ("gade", "g"), ("gata", "g"), ("gate", "g"), ("gt", "g"),
    ("veien", "v"), ("vejen", "v"), ("vej", "v"), ("vei", "v"),
    ("platz", "pl"), ("plass", "pl"), ("plads", "pl"),
    ("allee", "alle"), ("alle", "alle"),
]


def fold(text: str) -> str:
    """Lower case, transliterated, accents stripped: the alphabet every comparison happens in."""
    if text.isascii():  # most input; skipping the per-character pass halves normalisation time
        return text.lower()
    text = unicodedata.normalize("NFC", text).lower().translate(_TRANSLIT)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)
def _city(city: str) -> str:
    return " ".join(_tokens(city))


def _tokens(text: str) -> list[str]:
    text = _DOTTED.sub(lambda m: re.sub(r"[^a-z]", "", m.group()), fold(text))
    return [t for t in _NON_ALNUM.sub(" ", text).split() if t not in _CONJUNCTIONS]


def normalise_name(name: str | None) -> tuple[str, str | None]:
    """Return (normalised name, canonical legal form or None).

    Legal forms are only removed at the end (and a few Nordic ones at the start), where they
    are legal forms; "AS" inside a name may be a word. A name that is nothing but a legal form
    keeps it, so it still has something to compare.
    """
    tokens = _tokens(name or "")
    legal: list[str] = []
    stripped = True
    while stripped and len(tokens) > 1:
        stripped = False
        for size in range(min(_MAX_LEGAL_LEN, len(tokens) - 1), 0, -1):
            canon = _LEGAL_FORMS.get(tuple(tokens[-size:]))
            if canon:
                legal.insert(0, canon)
                tokens = tokens[:-size]
                stripped = True
                break
    if len(tokens) > 1 and tokens[0] in _LEADING_LEGAL:
        legal.insert(0, _LEGAL_FORMS[(tokens[0],)])
        tokens = tokens[1:]
    return " ".join(tokens), " ".join(legal) or None


@lru_cache(maxsize=1 << 16)  # streets and cities repeat a lot within a country
def normalise_street(street: str | None) -> str:
    out = []
    for token in _tokens(street or ""):
        for suffix, canon in _STREET_SUFFIXES:
            if token.endswith(suffix):
                token = token[: -len(suffix)] + canon
                break
        out.append(token)
    # Spaces dropped: "Bahnhof Str." and "Bahnhofstr." are the same street.
    return "".join(out)


def normalise_postcode(postcode: Any) -> str:
    # "DK-2100", "D 12345", "CH-8000" -> the digits the post uses; country is blocked separately.
    code = re.sub(r"[\s-]", "", str(postcode or "")).upper()
    return re.sub(r"^[A-Z]{1,2}(?=\d)", "", code)


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class _Side:
    """Column-wise normalised view of one side's records."""

    keys: list[Any]
    names: list[str]  # normalised, as written (for evidence and the name-prefix block)
    sorted_names: list[str]  # tokens sorted: ratio on these is token_sort_ratio
    legal: list[str | None]
    streets: list[str]
    houses: list[str]
    blocks: list[tuple[tuple, ...]]  # per record: (postcode block, city block, name block) or None each

    @classmethod
    def of(cls, records: Iterable[dict], key: str) -> _Side:
        side = cls([], [], [], [], [], [], [])
        for rec in records:
            name, form = normalise_name(_text(rec.get("name")))
            country = _text(rec.get("country")).strip().upper()
            postcode = normalise_postcode(rec.get("postcode"))
            city = _city(_text(rec.get("city")))
            prefix = name.replace(" ", "")[:_PREFIX_LEN]
            side.keys.append(rec.get(key))
            side.names.append(name)
            side.sorted_names.append(" ".join(sorted(name.split())))
            side.legal.append(form)
            side.streets.append(normalise_street(_text(rec.get("street"))))
            side.houses.append(re.sub(r"\s+", "", fold(_text(rec.get("house_number")))))
            # No name, nothing to suggest on: two blank names would otherwise score 100.
            side.blocks.append((
                ("postcode", country, postcode) if postcode else None,
                ("city", country, city) if city else None,
                ("name", country, prefix),
            ) if name else (None, None, None))
        return side


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _block_pairs(left: _Side, right: _Side):
    """Yield (block, left indices, right indices): every pair meets in exactly one block, the
    most specific one both records have (see module docstring)."""
    levels = len(left.blocks[0]) if left.blocks else 0
    for level in range(levels):
        groups: dict[tuple, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for side_no, side in enumerate((left, right)):
            for i, blocks in enumerate(side.blocks):
                if blocks[level] is not None:
                    groups[blocks[level]][side_no].append(i)
        for block, (li, ri) in groups.items():
            if not li or not ri:
                continue
            if level == 0:
                yield block, li, ri
                continue
            # Split by which more specific blocks each record has; pair only classes that share
            # none, since pairs sharing one were compared there already.
            def classes(side, idx):
                out = defaultdict(list)
                for i in idx:
                    out[tuple(b is not None for b in side.blocks[i][:level])].append(i)
                return out

            lc, rc = classes(left, li), classes(right, ri)
            for lhas, lidx in lc.items():
                for rhas, ridx in rc.items():
                    if not any(a and b for a, b in zip(lhas, rhas)):
                        yield block, lidx, ridx


def _score(left: _Side, right: _Side, threshold: float, limit: int, same_side: bool) -> list[Candidate]:
    # The best a pair can score with a given name score is a perfect address; below this name
    # score it cannot reach the threshold, so cdist may skip it (score_cutoff -> 0).
    name_cutoff = max(0.0, (threshold - (1 - NAME_WEIGHT) * 100) / NAME_WEIGHT - 0.01)  # slack: float rounding
    li_all, ri_all, name_all, block_all = [], [], [], []
    blocks: list[tuple] = []
    for block, li, ri in _block_pairs(left, right):
        big = len(li) * len(ri) > _PARALLEL_BLOCK
        kw = dict(scorer=fuzz.ratio, score_cutoff=name_cutoff, dtype=np.float32, workers=-1 if big else 1)
        matrix = process.cdist([left.sorted_names[i] for i in li], [right.sorted_names[j] for j in ri], **kw)
        # Also as written: a typo in the first letter of a word can change the sort order
        # ("haugen gruppen" / "haugen ruppen"), which token sorting alone punishes hard.
        np.maximum(matrix, process.cdist([left.names[i] for i in li], [right.names[j] for j in ri], **kw),
                   out=matrix)
        rows, cols = np.nonzero(matrix)
        if same_side:  # each unordered pair once, never a record with itself
            keep = np.asarray(li)[rows] < np.asarray(ri)[cols]
            rows, cols = rows[keep], cols[keep]
        if rows.size:
            li_all.append(np.asarray(li)[rows])
            ri_all.append(np.asarray(ri)[cols])
            name_all.append(matrix[rows, cols])
            block_all.append(np.full(rows.size, len(blocks)))
            blocks.append(block)
    if not li_all:
        return []
    lidx, ridx = np.concatenate(li_all), np.concatenate(ri_all)
    name = np.concatenate(name_all).astype(np.float64)
    block_no = np.concatenate(block_all)

    lstreet = [left.streets[i] for i in lidx]
    rstreet = [right.streets[j] for j in ridx]
    street = process.cpdist(lstreet, rstreet, scorer=fuzz.ratio, dtype=np.float64)
    lhouse = [left.houses[i] for i in lidx]
    rhouse = [right.houses[j] for j in ridx]
    house = process.cpdist(lhouse, rhouse, scorer=fuzz.ratio, dtype=np.float64)
    has_street = np.array([bool(a and b) for a, b in zip(lstreet, rstreet)], dtype=bool)
    has_house = np.array([bool(a and b) for a, b in zip(lhouse, rhouse)], dtype=bool)
    address = np.where(has_house, 0.75 * street + 0.25 * house, street)
    address = np.where(has_street, address, UNKNOWN_ADDRESS_SCORE)

    lforms = [left.legal[i] for i in lidx]
    rforms = [right.legal[j] for j in ridx]
    penalty = np.array([LEGAL_FORM_PENALTY if a and b and a != b else 0.0 for a, b in zip(lforms, rforms)])
    # Rounded before the threshold so a reported 80.0 never falls below a threshold of 80.
    score = np.round(np.clip(NAME_WEIGHT * name + (1 - NAME_WEIGHT) * address - penalty, 0.0, 100.0), 2)

    keep = np.nonzero(score >= threshold)[0]
    # Best first per left record, then the first `limit` of each left record.
    keep = keep[np.lexsort((-score[keep], lidx[keep]))]
    out: list[Candidate] = []
    taken: dict[int, int] = defaultdict(int)
    for k in keep:
        i, j = int(lidx[k]), int(ridx[k])
        if taken[i] >= limit:
            continue
        taken[i] += 1
        out.append(Candidate(left.keys[i], right.keys[j], round(float(score[k]), 2), {
            "name_score": round(float(name[k]), 2),
            "address_score": round(float(address[k]), 2) if has_street[k] else None,
            "legal_forms": [lforms[k], rforms[k]],
            "legal_form_penalty": float(penalty[k]),
            "block": "/".join(blocks[block_no[k]]),
            "left_name": left.names[i],
            "right_name": right.names[j],
            "left_street": lstreet[k],
            "right_street": rstreet[k],
        }))
    out.sort(key=lambda c: -c.score)
    return out


def suggest_matches(left: list[dict], right: list[dict], *, key: str = "key",
                    threshold: float = DEFAULT_THRESHOLD, limit_per_record: int = 3) -> list[Candidate]:
    """Suggest right records that may be the same company as a left record, best first.

    At most `limit_per_record` candidates per left record, each scoring >= threshold (0..100).
    `evidence` says why: name and address scores, legal forms, block, normalised values.
    """
    return _score(_Side.of(left, key), _Side.of(right, key), threshold, limit_per_record, same_side=False)


def find_duplicates(records: list[dict], *, key: str = "key", threshold: float = DEFAULT_THRESHOLD,
                    limit_per_record: int = 3) -> list[Candidate]:
    """Likely duplicates within one side: each pair once, left_key the record that comes first."""
    side = _Side.of(records, key)
    return _score(side, side, threshold, limit_per_record, same_side=True)
