"""Generated companies for the demo: Danish, Swiss and Norwegian, some on both sides, some broken.

The split mirrors a first sync at a real company: most customers exist in only one system, a
good share exist in both (the CRM storing the ERP number for some, only the same VAT number for
others, and a few only look alike: those become match suggestions, never merges), and a few
records carry the mistakes the quality gate must hold back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from faker import Faker

LOCALES = {"DK": "da_DK", "CH": "de_CH", "NO": "no_NO"}
CURRENCY = {"DK": "DKK", "CH": "CHF", "NO": "NOK"}
LEGAL_FORMS = {"DK": ["A/S", "ApS", "I/S"], "CH": ["AG", "GmbH", "SA"], "NO": ["AS", "ASA", "ANS"]}


def _mod11_check(digits: list[int], weights: list[int]) -> int | None:
    remainder = sum(d * w for d, w in zip(digits, weights)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def vat_number(country: str, rng: random.Random) -> str:
    """A VAT / company number with a correct check digit (validated by python-stdnum in tests)."""
    while True:
        if country == "DK":  # CVR: 8 digits, weights 2765432 1, sum % 11 == 0
            digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(6)]
            check = _mod11_check(digits, [2, 7, 6, 5, 4, 3, 2])
            if check is not None:
                return "DK" + "".join(map(str, digits + [check]))
        elif country == "NO":  # organisasjonsnummer: 9 digits, weights 32765432
            digits = [rng.choice([8, 9])] + [rng.randint(0, 9) for _ in range(7)]
            check = _mod11_check(digits, [3, 2, 7, 6, 5, 4, 3, 2])
            if check is not None:
                return "NO" + "".join(map(str, digits + [check])) + "MVA"
        else:  # CH UID: CHE + 8 digits + check, weights 54327654
            digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
            check = _mod11_check(digits, [5, 4, 3, 2, 7, 6, 5, 4])
            if check is not None:
                number = "".join(map(str, digits + [check]))
                return f"CHE-{number[:3]}.{number[3:6]}.{number[6:]} MWST"


def phone_number(country: str, rng: random.Random) -> str:
    """A number phonenumbers accepts as valid for the country, in international format."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.FIXED_LINE)
    national = str(example.national_number)
    while True:
        candidate = national[:2] + "".join(str(rng.randint(0, 9)) for _ in national[2:])
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def break_check_digit(vat: str) -> str:
    digits = [i for i, c in enumerate(vat) if c.isdigit()]
    position = digits[-1]
    return vat[:position] + str((int(vat[position]) + 1) % 10) + vat[position + 1 :]


@dataclass
class DemoData:
    crm_only: list[dict[str, Any]] = field(default_factory=list)
    erp_only: list[dict[str, Any]] = field(default_factory=list)
    # the same company on both sides: (crm values, erp values, how they can be matched)
    pairs: list[tuple[dict[str, Any], dict[str, Any], str]] = field(default_factory=list)
    broken: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (crm values, what is wrong)


def company(country: str, fake: Faker, rng: random.Random) -> dict[str, Any]:
    name = f"{fake.last_name()} {rng.choice(['Consult', 'Trading', 'Tech', 'Bygg', 'Design', 'Logistik', 'Food'])}"
    street = fake.street_name()
    return {
        "name": f"{name} {rng.choice(LEGAL_FORMS[country])}",
        "street": street,
        "house_number": str(rng.randint(1, 180)),
        "postcode": fake.postcode(),
        "city": fake.city(),
        "country": country,
        "vat_number": vat_number(country, rng),
        "email": f"info@{name.split()[0].lower().encode('ascii', 'ignore').decode() or 'firma'}{rng.randint(1, 999)}.example",
        "phone": phone_number(country, rng),
        "crm_type": "Customer",
    }


def erp_view(values: dict[str, Any]) -> dict[str, Any]:
    """The same company as the ERP knows it: with currency and terms, without CRM-only fields."""
    erp = {k: v for k, v in values.items() if k != "crm_type"}
    erp["currency"] = CURRENCY[values["country"]]
    erp["payment_terms"] = "1"
    erp["customer_group"] = "1"
    return erp


def generate(companies: int = 300, seed: int = 7) -> DemoData:
    rng = random.Random(seed)
    fakers = {country: Faker(locale) for country, locale in LOCALES.items()}
    for index, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + index)
    data = DemoData()
    countries = list(LOCALES)
    n_broken = max(3, companies // 25)  # about 4%: well below the gate's 20% mass-corruption threshold
    n_pairs = companies // 4
    n_erp_only = companies // 4
    for i in range(companies):
        country = countries[i % 3]
        values = company(country, fakers[country], rng)
        if i < n_broken:
            data.broken.append(_broken(values, i))
        elif i < n_broken + n_pairs:
            data.pairs.append(_pair(values, i, rng))
        elif i < n_broken + n_pairs + n_erp_only:
            data.erp_only.append(erp_view(values))
        else:
            if rng.random() < 0.2:
                values["crm_type"] = "Prospect"  # not a customer yet: stays in the CRM
            data.crm_only.append(values)
    return data


def suppliers(count: int, seed: int = 7) -> DemoData:
    """Suppliers (creditors): a third only in the ERP, a third only in the CRM, a third in both."""
    rng = random.Random(seed + 100)
    fakers = {country: Faker(locale) for country, locale in LOCALES.items()}
    for index, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + 100 + index)
    data = DemoData()
    countries = list(LOCALES)
    for i in range(count):
        country = countries[i % 3]
        values = {k: v for k, v in company(country, fakers[country], rng).items() if k != "crm_type"}
        values["name"] = values["name"].replace("Consult", "Supply").replace("Design", "Parts")
        erp = {**values, "currency": CURRENCY[country]}
        (data.erp_only.append(erp) if i % 3 == 0 else data.crm_only.append(values) if i % 3 == 1
         else data.pairs.append((values, erp, "erp_id")))
    return data


def _pair(values: dict[str, Any], i: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any], str]:
    erp = erp_view(values)
    crm = dict(values)
    how = ("number", "vat_number", "fuzzy")[i % 3]
    if how == "vat_number":
        crm["vat_number"] = crm["vat_number"].replace("DK", "").replace("MVA", "")  # spelled differently
        if rng.random() < 0.5:
            crm["phone"] = None  # and the CRM lacks a field the ERP has
    elif how == "fuzzy":
        crm["vat_number"] = None
        erp["vat_number"] = None
        crm["name"] = crm["name"].upper().replace(" A/S", " AS").replace(" AG", "")  # looks alike only
    return crm, erp, how


def _broken(values: dict[str, Any], i: int) -> tuple[dict[str, Any], str]:
    problem = i % 6
    if problem == 0:
        values["vat_number"] = break_check_digit(values["vat_number"])
        return values, "VAT number with a wrong check digit"
    if problem == 1:
        values["country"] = "Scandinavia"
        return values, "a country that is no country"
    if problem == 2:
        values["vat_number"] = f"DE{10000 + i}"  # distinct, so they are no duplicates of each other
        return values, "a German VAT number that is too short"
    if problem == 3:
        values["name"] = "   "
        return values, "empty company name"
    if problem == 4:
        values["phone"] = "call me maybe"
        return values, "phone number that is no number"
    values["name"] = values["name"] + " \x07Holding"
    return values, "control character in the name"


# -- the rest of a company's data: people, products, invoices, payments ----------------------

PRODUCTS = [
    ("Consulting hour", "hours", "950.00"), ("Support plan", "months", "1200.00"), ("Installation", "pcs", "2500.00"),
    ("Licence basic", "pcs", "4900.00"), ("Licence pro", "pcs", "8900.00"), ("Training day", "days", "6500.00"),
    ("Spare part kit", "pcs", "340.00"), ("Travel flat rate", "pcs", "450.00"),
]


def products() -> list[dict[str, Any]]:
    return [
        {"number": f"P-{100 + i}", "name": name, "unit": None, "unit_price": price, "cost_price": None}
        for i, (name, _unit, price) in enumerate(PRODUCTS)
    ]


def person(fake: Faker, company_name: str, rng: random.Random) -> dict[str, Any]:
    first, last = fake.first_name(), fake.last_name()
    domain = "".join(c for c in (company_name.split() or ["firma"])[0].lower() if c.isascii() and c.isalnum()) or "firma"
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}@{domain}.example".encode("ascii", "ignore").decode(),
        "title": rng.choice(["CEO", "CFO", "Purchasing", "Accounting", None]),
    }


def invoices_for(customer_numbers: list[str], rng: random.Random, per_customer: int = 2) -> list[dict[str, Any]]:
    """Booked invoices from January to November with 1-4 lines each."""
    from datetime import date, timedelta

    catalogue = products()
    result = []
    for customer in customer_numbers:
        for _ in range(rng.randint(0, per_customer * 2)):
            day = date(2026, 1, 5) + timedelta(days=rng.randint(0, 300))
            lines = []
            for line_number in range(1, rng.randint(2, 5)):
                product = rng.choice(catalogue)
                lines.append({
                    "line_number": line_number, "item_id": product["number"], "description": product["name"],
                    "quantity": str(rng.choice([1, 1, 2, 3, 5, 10])), "unit_price": product["unit_price"],
                })
            result.append({"debtor_id": customer, "invoice_date": day.isoformat(),
                           "due_date": (day + timedelta(days=14)).isoformat(), "currency": "DKK", "lines": lines})
    return result
