"""Demo records stored in TribeCRM's own shape (written here by hand, not through the mapping under
test). Records are model values; references hold Tribe ids returned by earlier seeds."""

from __future__ import annotations

from typing import Any

from ledgerbridge.systems.tribecrm.emulator import CONTACT, CUSTOMER, ORGANIZATION, PRODUCT, SUPPLIER


def _organization(values: dict[str, Any], number_property: str) -> dict[str, Any]:
    return {
        "Name": values.get("name"), number_property: values.get("number"), "VATNumber": values.get("vat_number"),
        "EmailAddress": values.get("email"), "PhoneNumber": values.get("phone"), "Website": values.get("website"),
        "ImportId": values.get("erp_id"),
        "VisitingAddress": {"Street": values.get("street"), "HouseNumber": values.get("house_number"),
                            "Postalcode": values.get("postcode"), "City": values.get("city"),
                            "Country": {"Code": values.get("country")} if values.get("country") else None},
    }


def seed(emulator, entity: str, records: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for values in records:
        if entity in ("debtors", "creditors"):
            role, number = (CUSTOMER, "DebtorNumber") if entity == "debtors" else (SUPPLIER, "CreditorNumber")
            if entity == "debtors" and values.get("crm_type") not in (None, "Customer"):
                # a prospect: an organisation without a customer relationship (no debtor yet)
                ids.append(emulator.insert(ORGANIZATION, _organization(values, number), fire=False)["ID"])
                continue
            row = emulator.insert(role, {"Organization": _organization(values, number)}, fire=False)
            ids.append(row["Organization"]["ID"])
        elif entity == "contacts":
            first, _, last = (values.get("name") or "").rpartition(" ")
            row = emulator.insert(CONTACT, {
                "Relation": {"ID": values["debtor_id"]}, "Person": {"FirstName": first or None, "LastName": last or "-"},
                "EmailAddress": values.get("email"), "PhoneNumber": values.get("phone"),
                "MobilePhoneNumber": values.get("mobile")}, fire=False)
            ids.append(row["ID"])
        elif entity == "items":
            row = emulator.insert(PRODUCT, {
                "Code": values.get("number"), "Name": values.get("name"), "Description": values.get("description"),
                "SalesPrice": float(values["unit_price"]) if values.get("unit_price") is not None else None,
                "PurchasePrice": float(values["cost_price"]) if values.get("cost_price") is not None else None},
                fire=False)
            ids.append(row["ID"])
        else:
            raise KeyError(f"tribecrm: the demo does not seed {entity}")
    return ids
