"""PowerOffice Go API v2 as the contract states it (/work/shared/contracts/poweroffice: openapi-v2.yaml,
NOTES.md, schemas-digest.json), as data both the emulator and the connector read.

Facts marked [?] in the notes are this package's choices; each is named here once, and the
connector takes them from its options where a real tenant may differ.
"""

from __future__ import annotations

# -- auth and limits [V] ------------------------------------------------------------------------
TOKEN_PATH = "/OAuth/Token"  # POST, Basic base64(appKey:clientKey), form grant_type=client_credentials
API_PREFIX = "/v2"
SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"
TOKEN_LIFETIME_SECONDS = 20 * 60  # v2 tokens; no refresh token: ask for a new one
REQUESTS_PER_SECOND = 10  # per subscription key; 429 -> wait at least 1 s
# The connector's own pace: a tenth under the limit, so calls sent evenly never arrive eleven to a
# second through network jitter (each 429 costs a wait of a whole second).
CLIENT_REQUESTS_PER_SECOND = 9
RETRY_AFTER_SECONDS = 1

# -- paging [V spec ResourceParameters]; query names are the object's properties, flattened ----------
DEFAULT_PAGE_SIZE = 5000
MAX_PAGE_SIZE = 20000
FIRST_PAGE = 1  # [?] PageNumber is not said to start at 1 or 0; 1, as the GUI counts pages

# -- numbering [V spec: "Go assigns the next available number if left blank"; an explicit number
# must lie in the ledger's number series]. The series bounds are [?]: Go's defaults as the
# emulator's choice, configurable there.
CUSTOMER_SERIES = (10000, 19999)
SUPPLIER_SERIES = (20000, 29999)

# -- max lengths [V schemas-digest] --------------------------------------------------------------
MAX_LENGTHS = {
    "ExternalImportReference": 50,
    "ExternalCode": 50,
    "AddressLine1": 200,
    "AddressLine2": 200,
    "City": 100,
    "ZipCode": 50,
    "ProductName": 400,
    "ProductCode": 100,
}

# The properties of the read DTOs the emulator answers with (every other property of the DTO is
# left out, which the spec allows: none is required; additionalProperties is false, so nothing else).
CONTACT_CLASSES = {"Customers": "Customer", "Suppliers": "Supplier"}
ADDRESS_FIELDS = ("AddressLine1", "AddressLine2", "City", "ZipCode", "CountryCode")
CUSTOMER_WRITABLE = (
    "Name", "FirstName", "LastName", "LegalName", "IsPerson", "OrganizationNumber", "EmailAddress",
    "InvoiceEmailAddress", "PhoneNumber", "WebsiteUrl", "CurrencyCode", "PaymentTermId", "Number",
    "ExternalNumber", "ExternalImportReference", "IsArchived", "IsVatFree", "ContactGroupIds",
)
SUPPLIER_WRITABLE = (
    "Name", "FirstName", "LastName", "LegalName", "IsPerson", "OrganizationNumber", "EmailAddress",
    "PhoneNumber", "WebsiteUrl", "CurrencyCode", "Number", "ExternalNumber", "ExternalImportReference",
    "IsArchived", "ContactGroupIds",
)
CONTACT_PERSON_WRITABLE = ("FirstName", "LastName", "EmailAddress", "PhoneNumber", "Title", "ExternalCode",
                           "IsActive", "IsDefault")
PRODUCT_WRITABLE = ("Name", "Code", "Description", "Gtin", "IsArchived", "IsStockItem", "UnitPrice", "UnitCost",
                    "ProductGroupId", "ProductType", "UnitOfMeasureCode")
