"""Demo records stored in PowerOffice Go's own shape (written here by hand, not through the mapping
under test). Records are model values; references hold Go ids returned by earlier seeds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledgerbridge.systems.address import join_street

CENT = Decimal("0.01")


def _contact(values: dict[str, Any]) -> dict[str, Any]:
    number = values.get("number")
    return {
        "Name": values.get("name"),
        "Number": int(number) if number and str(number).isdigit() else None,
        "OrganizationNumber": values.get("vat_number"),
        "EmailAddress": values.get("email"),
        "PhoneNumber": values.get("phone"),
        "WebsiteUrl": values.get("website"),
        "CurrencyCode": values.get("currency") or "NOK",
        "IsArchived": bool(values.get("barred")),
        "MailAddress": {
            "AddressLine1": join_street(values.get("street"), values.get("house_number")),
            "ZipCode": values.get("postcode"),
            "City": values.get("city"),
            "CountryCode": values.get("country") or "NO",
        },
    }


def seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for values in records:
        if entity in ("debtors", "creditors"):
            kind = "Customers" if entity == "debtors" else "Suppliers"
            body = _contact(values)
            low, high = emulator.series[kind]
            if body["Number"] is not None and not low <= body["Number"] <= high:
                body["Number"] = None  # outside Go's series: Go gives it one of its own
            ids.append(str(emulator.insert_contact(kind, body)["Id"]))
        elif entity == "contacts":
            first, _, last = (values.get("name") or "-").rpartition(" ")
            person = emulator.create_person(int(values["debtor_id"]), {
                "FirstName": first or "-", "LastName": last, "EmailAddress": values.get("email"),
                "PhoneNumber": values.get("phone"), "Title": values.get("title")})
            ids.append(f"{person['ContactId']}/{person['Id']}")
        elif entity == "items":
            product = emulator.insert_product({
                "Code": values.get("number"), "Name": values.get("name"), "Description": values.get("description"),
                "UnitPrice": float(values["unit_price"]) if values.get("unit_price") is not None else None,
                "UnitCost": float(values["cost_price"]) if values.get("cost_price") is not None else None,
                "Gtin": values.get("ean")})
            ids.append(str(product["Id"]))
        elif entity == "invoices":
            products = {p["Code"]: p["Id"] for p in emulator.all_raw("Products")}
            lines = [{"ProductId": products.get(line.get("item_id")), "Description": line.get("description"),
                      "Quantity": line.get("quantity") or 1, "ProductUnitPrice": line.get("unit_price") or 0}
                     for line in values.get("lines", [])]
            invoice = emulator.insert_invoice(int(values["debtor_id"]), lines, voucher_date=str(values["invoice_date"]),
                                              due_date=str(values.get("due_date") or values["invoice_date"]),
                                              currency=values.get("currency") or "NOK")
            ids.append(invoice["Id"])
        elif entity == "payments":  # {"invoice_id", "share"}: a share of the invoice's total was paid
            total = Decimal(str(next(i for i in emulator.all_raw("OutgoingInvoices") if i["Id"] == values["invoice_id"])["TotalAmount"]))
            emulator.pay(values["invoice_id"], (total * Decimal(values["share"])).quantize(CENT))
            ids.append(values["invoice_id"])
        else:
            raise KeyError(f"poweroffice: the demo does not seed {entity}")
    return ids
