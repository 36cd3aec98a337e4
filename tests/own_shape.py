"""Records in the systems' own shapes, written from their contract docs and the real API's answers
(/work/shared/contracts/economic, /work/shared/contracts/webcrm/swagger.json), not made by the
mapping under test: planted with the emulators' insert_raw, so a mistake the mapping makes the same
way in both directions shows.
"""

from __future__ import annotations

# e-conomic GET /customers/:customerNumber, as the demo agreement answers (server fields included;
# the emulator stamps lastUpdated itself).
ECONOMIC_CUSTOMER = {
    "customerNumber": 7001,
    "currency": "EUR",
    "paymentTerms": {"paymentTermsNumber": 2},
    "customerGroup": {"customerGroupNumber": 2},
    "address": "Avenue des Arts No 5",
    "balance": 0.0,
    "dueAmount": 0.0,
    "corporateIdentificationNumber": "BE0403170701",
    "city": "Bruxelles",
    "country": "Belgique",  # typed by a Belgian user, in French
    "email": "facturation@atelier.example.be",
    "name": "Atelier Bruxelles SPRL",
    "zip": "1000",
    "telephoneAndFaxNumber": "+32 2 512 34 56",
    "mobilePhone": "+32 470 12 34 56",
    "website": "https://atelier.example.be",
    "vatZone": {"vatZoneNumber": 2},
    "barred": False,
    "lastUpdated": "2026-11-30T08:15:27Z",
}

# e-conomic GET /products/:productNumber
ECONOMIC_PRODUCT = {
    "productNumber": "ADV-1",
    "name": "Advisory hour",
    "description": "Senior consultant, per hour",
    "costPrice": 400.0,
    "salesPrice": 950.0,
    "recommendedPrice": 1100.0,
    "barCode": "5701234567899",
    "barred": False,
    "unit": {"unitNumber": 2},
    "productGroup": {"productGroupNumber": 2},
    "lastUpdated": "2026-11-30T08:15:27Z",
}

# webCRM GET /Organisations/{id} (OrganisationDto): "" and 0 where nothing is set.
WEBCRM_ORGANISATION = {
    "OrganisationName": "Nordwind Handels GmbH",
    "OrganisationAddress": "Straße des 17. Juni 135",
    "OrganisationPostCode": "10623",
    "OrganisationCity": "Berlin",
    "OrganisationCountry": "Deutschland",
    "OrganisationVatNumber": "DE136695976",
    "OrganisationTelephone": "+49 30 1234567",
    "OrganisationWww": "https://nordwind.example.de",
    "OrganisationType": "Customer",
    "OrganisationExtraCustom1": "",
    "OrganisationOwner": 0,
}
