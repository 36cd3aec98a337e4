"""Benchmark of fuzzy match suggestions: N CRM companies x N ERP companies, known truth.

    /work/venv/bin/python benchmarks/matching.py [--n 100000] [--seed 1] [--threshold T]

About half the companies exist on both sides, the ERP copy changed the way real data drifts:
typos, legal form written differently or dropped, case and whitespace, "&"/"og"/"und",
transliterated letters, abbreviated streets, and some moved (new street; half of those also
a new postcode, which blocking by postcode cannot find). The rest are unrelated, and a share of
those are hard negatives: another company in the same postcode whose name shares a surname.
Postcodes are drawn Zipf-like from a pool per country so some blocks are dense, like cities.

Prints generation and matching seconds, candidates, precision and recall of the top-1
suggestion per CRM record at the threshold (and a threshold sweep), and peak memory.
Faker has no nb_NO locale; no_NO is its Norwegian (Bokmål) one.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faker import Faker  # noqa: E402

from ledgerbridge.matching.fuzzy import DEFAULT_THRESHOLD, suggest_matches  # noqa: E402

LOCALES = {"DK": "da_DK", "CH": "de_CH", "NO": "no_NO", "DE": "de_DE"}
POSTCODES = {"DK": 600, "CH": 1200, "NO": 900, "DE": 3000}
TRADES = {
    "DK": ["Byg", "Transport", "Consult", "Elektro", "VVS", "Maler", "Data", "Auto", "Tømrer", "Invest", "Foods"],
    "NO": ["Bygg", "Transport", "Rådgivning", "Elektro", "Rør", "Maling", "Data", "Bil", "Eiendom", "Invest"],
    "CH": ["Bau", "Transporte", "Treuhand", "Elektro", "Sanitär", "Malerei", "Informatik", "Garage", "Immobilien"],
    "DE": ["Bau", "Logistik", "Beratung", "Elektrotechnik", "Sanitär", "Malerbetrieb", "IT", "Autohaus", "Immobilien"],
}
# Ways the same legal form is written (first is the usual one) and what a drifted copy may use.
FORM_VARIANTS = {
    "A/S": ["AS", "a/s", "A.S.", ""], "ApS": ["Aps", "APS", ""], "AS": ["A/S", "as", ""],
    "ASA": ["asa", ""], "AG": ["ag", ""], "GmbH": ["G.m.b.H.", "Gmbh", "GMBH", ""],
    "GmbH & Co. KG": ["GmbH & Co KG", "GmbH u. Co. KG", "GmbH&Co.KG", ""], "KG": [""], "BA": [""],
}
ABBREVIATIONS = [("strasse", "str."), ("straße", "str."), ("Straße", "Str."), ("gade", "g."), ("vej", "v."),
                 ("gata", "gt."), ("gate", "gt."), ("veien", "v."), ("Allee", "Allee")]
CONJ = {"DK": "og", "NO": "og", "CH": "und", "DE": "und"}


class World:
    """Per-country pools drawn once, so generating 2 x 100k records takes seconds, not minutes."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fakers, self.postcodes, self.weights, self.streets, self.last = {}, {}, {}, {}, {}
        for i, (country, locale) in enumerate(LOCALES.items()):
            fake = Faker(locale)
            fake.seed_instance(seed * 100 + i)
            self.fakers[country] = fake
            codes = sorted({fake.postcode() for _ in range(POSTCODES[country] * 2)})[: POSTCODES[country]]
            self.rng.shuffle(codes)
            self.postcodes[country] = [(c, fake.city()) for c in codes]
            self.weights[country] = [1 / (rank + 5) for rank in range(len(codes))]
            self.streets[country] = sorted({fake.street_name() for _ in range(4000)})  # sorted: set order varies per run
            self.last[country] = sorted({fake.last_name() for _ in range(3000)})

    def name(self, country: str) -> str:
        name = self.fakers[country].company()
        if self.rng.random() < 0.6:  # most real firms say what they do; it also makes names less alike
            base, form = split_form(name)
            name = f"{base} {self.rng.choice(TRADES[country])} {form}".strip()
        return name

    def address(self, country: str) -> dict:
        postcode, city = self.rng.choices(self.postcodes[country], self.weights[country])[0]
        return {"street": self.rng.choice(self.streets[country]), "house_number": str(self.rng.randint(1, 200)),
                "postcode": postcode, "city": city}

    def company(self, key: str, country: str | None = None) -> dict:
        country = country or self.rng.choice(list(LOCALES))
        return {"key": key, "name": self.name(country), "country": country, **self.address(country),
                "vat_number": None, "email": None}


def split_form(name: str) -> tuple[str, str]:
    for form in sorted(FORM_VARIANTS, key=len, reverse=True):
        if name.endswith(" " + form):
            return name[: -len(form) - 1], form
    return name, ""


def typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    op = rng.randrange(4)
    if op == 0:
        return text[:i] + text[i + 1:]
    if op == 1:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if op == 2:
        return text[:i] + rng.choice("aeinorst") + text[i + 1:]
    return text[:i] + rng.choice("aeinorst") + text[i:]


def drift(world: World, rec: dict, key: str) -> tuple[dict, bool]:
    """The ERP's copy of a CRM company. Returns it and whether its postcode moved."""
    rng, out = world.rng, dict(rec, key=key)
    base, form = split_form(out["name"])
    if form and rng.random() < 0.4:
        form = rng.choice(FORM_VARIANTS[form])
    if rng.random() < 0.25:
        base = typo(rng, base)
    if rng.random() < 0.2:
        base = base.replace("&", CONJ[out["country"]]) if "&" in base else base.replace(f" {CONJ[out['country']]} ", " & ")
    if rng.random() < 0.1:
        base = base.replace("ø", "o").replace("ü", "ue").replace("ö", "oe").replace("å", "aa")
    name = f"{base} {form}".strip()
    r = rng.random()
    name = name.upper() if r < 0.08 else name.lower() if r < 0.15 else name
    if rng.random() < 0.1:
        name = "  " + name.replace(" ", "  ") + " "
    out["name"] = name
    if rng.random() < 0.3:
        for long, short in ABBREVIATIONS:
            if out["street"].endswith(long):
                out["street"] = out["street"][: -len(long)] + short
                break
    if rng.random() < 0.08:
        out["street"] = typo(rng, out["street"])
    moved = False
    r = rng.random()
    if r < 0.08:  # moved: a new street, and for half of them a new postcode too
        new = world.address(out["country"])
        out["street"], out["house_number"] = new["street"], new["house_number"]
        if r < 0.04:
            out["postcode"], out["city"] = new["postcode"], new["city"]
            moved = new["postcode"] != rec["postcode"]
    if rng.random() < 0.03:
        out["postcode"] = None
    if rng.random() < 0.03:
        out["street"] = out["house_number"] = None
    return out, moved


def hard_negative(world: World, rec: dict, key: str) -> dict:
    """Another company in the same postcode whose name shares a surname with `rec`."""
    rng = world.rng
    base, form = split_form(rec["name"])
    words = base.split()
    country = rec["country"]
    trades = set(TRADES[country])
    if any(w in trades for w in words):  # Hansen Byg A/S -> Hansen Transport A/S
        words = [rng.choice(sorted(trades - {w})) if w in trades else w for w in words]
    elif len(words) > 1:  # Jensen & Nielsen -> Jensen & Olsen
        words[-1] = rng.choice(world.last[country])
    else:  # Hansen A/S -> Hansen Maler A/S
        words.append(rng.choice(TRADES[country]))
    return {**world.company(key, country), "name": f"{' '.join(words)} {form}".strip(),
            "postcode": rec["postcode"], "city": rec["city"]}


def generate(n: int, seed: int):
    world = World(seed)
    shared = n // 2
    crm = [world.company(f"c{i}") for i in range(n)]
    erp, truth, moved = [], {}, set()
    for i in range(shared):
        rec, has_moved = drift(world, crm[i], f"e{i}")
        erp.append(rec)
        truth[crm[i]["key"]] = rec["key"]
        if has_moved:
            moved.add(crm[i]["key"])
    for i in range(shared, n):
        if world.rng.random() < 0.3:  # trap both for matched CRM records and for unmatched ones
            erp.append(hard_negative(world, crm[world.rng.randrange(n)], f"e{i}"))
        else:
            erp.append(world.company(f"e{i}"))
    world.rng.shuffle(erp)
    return crm, erp, truth, moved


def evaluate(candidates, truth, threshold: float):
    top1 = {}
    for c in candidates:  # sorted best first, so the first seen per left record is its top-1
        if c.score >= threshold and c.left_key not in top1:
            top1[c.left_key] = c.right_key
    correct = sum(truth.get(left) == right for left, right in top1.items())
    return len(top1), correct / max(len(top1), 1), correct / max(len(truth), 1)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    crm, erp, truth, moved = generate(args.n, args.seed)
    print(f"generated {len(crm)} CRM x {len(erp)} ERP, {len(truth)} true pairs "
          f"({len(moved)} moved postcode) in {time.perf_counter() - t0:.1f} s")
    rss_before = rss_mb()

    t0 = time.perf_counter()
    candidates = suggest_matches(crm, erp, threshold=args.threshold)
    seconds = time.perf_counter() - t0
    suggested, precision, recall = evaluate(candidates, truth, args.threshold)
    reachable = {k: v for k, v in truth.items() if k not in moved}
    _, _, recall_reachable = evaluate(candidates, reachable, args.threshold)
    print(f"suggest_matches: {seconds:.2f} s, {len(candidates)} candidates, "
          f"{suggested} CRM records with a top-1 suggestion (threshold {args.threshold:g})")
    print(f"top-1 precision {precision:.4f}  recall {recall:.4f}  "
          f"(recall of pairs whose postcode did not move {recall_reachable:.4f})")
    print(f"peak RSS {rss_mb():.0f} MB (before matching {rss_before:.0f} MB)")

    # The sweep re-reads the same candidates: top-1 at a higher threshold is the same record.
    low = min(args.threshold, 75.0)
    sweep = candidates if low >= args.threshold else suggest_matches(crm, erp, threshold=low)
    print("threshold  suggested  precision  recall")
    for t in range(int(low), 101, 5):
        s, p, r = evaluate(sweep, truth, t)
        print(f"{t:9d}  {s:9d}  {p:9.4f}  {r:6.4f}")


if __name__ == "__main__":
    main()
