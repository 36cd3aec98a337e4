"""webCRM's contract tables, transcribed from its Swagger 2.0 spec (api.webcrm.com/swagger).

OrganisationDto, PersonDto, ProductDto, DeliveryDto, QuotationLineDto(+UpdateDto), UserDto,
OpportunityDto: names, types,
maxLength, and which endpoints each resource has. The emulator validates against them, the
mapping derives webCRM's field lengths from them, so they are written once, here.
tests/test_webcrm_emulator.py checks them against the spec file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledgerbridge.systems.vocabulary import Endpoint, parse_timestamp

__all__ = ["parse_timestamp"]  # webCRM's date-times (no offset means UTC): the shared converter

# Compact notation: Name:code, where code is s[maxLen] string, i int32, n double, b boolean,
# d date-time, e:A|B enum; "Plus1-20" expands to Plus1..Plus20. Names lack the DTO prefix.
_DTO_SPECS = {
    "Organisation": """
        Address:s250 Alert:s50 ApprovalStatus:i City:s50 Comment:s CompareName:s500 Country:s50
        CreatedAt:d CreatedBy:s DivisionName:s200 Domain:s50 ExtraCustom1-8:s50 Fax:s50 Gps:s50 Id:i
        ImageFileExtension:s Industry:s50 LastDisplayedAt:d
        LastItemType:e:Undefined|Activity|Opportunity|Delivery|Meeting|SupportCase
        LastItemUpdatedAt:d MarketDataId:s MarketDataProviderId:i Name:s200 NoAds:b History:s
        OutlookSync:i OverlayUrl:s Owner:i Owner2:i PostCode:s ReportTemp:i Sla:i State:s Status:s
        Telephone:s50 TelephoneSearch:s TerritoryId:i Type:s UpdatedAt:d UpdatedBy:s VatCountry:s10
        VatGroup:s20 VatNumber:s50 VatStatus:s VatVerifiedAt:d Www:s50 XDate1-2:d XInt1-8:i
        XMemo1-2:s XText1-8:s50 Plus1-20:s Custom1-15:s Memo:s
    """,
    "Person": """
        Birthday:d BlockMassEmail:b BlockMassEmail2:b CampaignPassword:s CampaignWrongPasswordCount:i
        CheckMark1-10:b Comment:s CreatedAt:d CreatedBy:s DirectPhone:s Email:s Email2:s
        EmailBounces:b Email2Bounces:b FirstName:s Id:i ImageFileExtension:s LastLoginDateTime:d
        LastName:s LoginLog:s MarketDateId:s MemberGroupId:i MemberLanguageId:i MemberNumber:s
        MemberPassword:s MemberStartDate:d MemberStatusId:i MemberWrongPasswordCount:i MiddleName:s
        MobilePhone:s Name:s History:s OrganisationId:i Password:s Salutation:s Skype:s SortOrder:i
        Status:e:Active|Resigned|Other|Guest SupportLanguageId:i TelephoneSearch:s Title:s
        UpdatedAt:d UpdatedBy:s Plus1-20:s Custom1-15:s Memo:s
    """,
    "Product": """
        Combined:s Comment:s CostPrice:n CreatedAt:d CreatedBy:s Discount:n Id:i ListPrice:n
        History:s OrganisationId:i PersonId:i Price:n ProductYear:i Quantity:n SortOrder:i
        StockStatus:s UpdatedAt:d UpdatedBy:s VatCode:s Plus1-20:s Custom1-15:s Memo:s
    """,
    "Delivery": """
        AssignedTo:i AssignedTo2:i Comment:s CreatedAt:d CreatedBy:s CurrencyName:s Description:s
        Discount:n ErpId:s ErpReadOnly:s
        ErpStatus:e:NotReadyForSynchronization|ReadyForSynchronization|Synchronized
        ErpSyncDateTime:d GmRevenue1-12:n History:s Id:i NextFollowUp:d Note:s Number:s
        OpportunityCustom1-15:s OpportunityMemo:s OpportunityPlus1-20:s OrderDate:d OrderGmValue:n
        OrderValue:n OrganisationId:i Percent:i PersonId:i Product:s ProductId:i
        QuotationLanguageId:i Responsible:i Revenue1-12:n Risk:e:NoRisk|Small|Medium|High|Crises
        Search1-2:s SpentTime:s Status:e:New|Planned|OnGoing|Completed|GeneralDelivery Type:i
        UpdatedAt:d UpdatedBy:s UserGroupId:i WinPercent:i WinPercent2:i WinYesNo:b WonDate:d
        Plus1-20:s Custom1-15:s Memo:s
    """,
    "QuotationLine": """
        Comment:s CostPrice:n CreatedAt:d CreatedBy:s Data1-9:s Discount:n Id:i ListPrice:n Memo:s
        OpportunityId:i OrganisationId:i PersonId:i Price:n Quantity:n SortOrder:i StockStatus:s
        UpdatedAt:d UpdatedBy:s VatPercentage:n
    """,
    # Users (the sellers: employees) and Opportunities (the orders, with QuotationLines as their lines).
    "User": """
        AccessId:i AccessLevel:i AddressFormat:e:Scandinavian|UK|US AdvancedGroups:s AuthenticationCode:s
        BccEmail:s BccMode:e:NoTag|TagBeginning|TagEnd BccTag:s BudgetNote:s
        CalendarColorScheme:e:Scheme0|Scheme1|Scheme2|Scheme3|Scheme4|Scheme5|Scheme6|Scheme7|Scheme8|Scheme9|Dashboard
        CreatedAt:d CreatedBy:s CurrencyName:s DateFormat:e:DDhMMhYYYY|YYYYhMMhDD|MMsDDsYYYY|DDpMMpYYYY|YYYYpMMpDD
        DecimalPoint:s DefaultSupportCaseChannel:i DefaultMemberGroupId:i DefaultOpportunity2ndResponsible:i
        DefaultOrganisation2ndResponsible:i Email:s GmtDifference:i GroupId:i Id:i Initials:s IntegrationId:s
        IpRestrict:s IsRestApiEnabled:b IsSpellCheckerEnabled:b IsSupportCaseAvailableStatusEnabled:b LanguageId:i
        LastLoginDateTime:d LastTryDateTime:d LoginCount:i LoginLog:s LoginName:s MobilePhone:s Name:s Password:s
        PasswordInUrl:b PasswordUpdatedAt:d PhoneParameters:s SmsLogin:i SoftCall:s SupportCaseExpirationDateTime:d
        SupportCaseLatest:d SupportCaseNotificationType:e:Never|StatusEmail|StatusEmailAndMessage|Default
        SupportCaseStatus:e:Available|Busy|OffLine|Absent SynchronizationMode:e:Enabled|Disabled Telephone:s
        Territories:s Ticket:s TicketExpirationDateTime:d TimeFormat:e:Hours24|Hours12 Title:s UpdatedAt:d
        UpdatedBy:s WrongPasswordCount:i Custom1-15:s Memo:s
    """,
    "Opportunity": """
        AssignedTo:i AssignedTo2:i Comment:s CreatedAt:d CreatedBy:s CurrencyName:s Description:s Discount:n
        ErpId:s ErpReadOnly:s ErpStatus:e:NotReadyForSynchronization|ReadyForSynchronization|Synchronized
        ErpSyncDateTime:d GmRevenue1-12:n History:s Id:i Level:i LevelText:s Lost1-3:s LostDate:d
        NextFollowUp:d Note:s Number:s OrderDate:d OrderGmValue:n OrderValue:n OrganisationId:i Percent:i
        PersonId:i Product:s ProductId:i QuotationLanguageId:i Revenue1-12:n Search1-2:s SpentTime:s UpdatedAt:d
        UpdatedBy:s UserGroupId:i WinPercent:i WinPercent2:i WinYesNo:b Plus1-20:s Custom1-15:s Memo:s
    """,
}
# Request bodies that are not the read DTO: PUT/POST/PATCH /QuotationLines take a
# QuotationLineUpdateDto, which is QuotationLineDto plus these (accepted, never answered).
_WRITE_EXTRA_SPECS = {"QuotationLine": "LinkedDataId:i"}


@dataclass(frozen=True)
class DtoField:
    name: str
    type: str  # "string", "integer", "number", "boolean", "date-time"
    max_length: int | None = None
    enum: tuple[str, ...] | None = None


_TYPES = {"s": "string", "i": "integer", "n": "number", "b": "boolean", "d": "date-time"}


def _parse_dto(prefix: str, spec: str) -> dict[str, DtoField]:
    fields: dict[str, DtoField] = {}
    for token in spec.split():
        name, code = token.split(":", 1)
        ranged = re.fullmatch(r"(\D+)(\d+)-(\d+)", name)
        names = [f"{ranged[1]}{i}" for i in range(int(ranged[2]), int(ranged[3]) + 1)] if ranged else [name]
        for n in names:
            full = prefix + n
            if code.startswith("e:"):
                fields[full] = DtoField(full, "string", enum=tuple(code[2:].split("|")))
            else:
                fields[full] = DtoField(full, _TYPES[code[0]], int(code[1:]) if code[1:] else None)
    return fields


# resource name -> (DTO prefix, field table)
RESOURCES = {
    "Organisations": "Organisation", "Persons": "Person", "Products": "Product",
    "Deliveries": "Delivery", "QuotationLines": "QuotationLine", "Users": "User", "Opportunities": "Opportunity",
}
DTO_FIELDS: dict[str, dict[str, DtoField]] = {
    resource: _parse_dto(prefix, _DTO_SPECS[prefix]) for resource, prefix in RESOURCES.items()
}
# What a write (POST/PUT/PATCH body) may carry: the DTO, plus the extras of an update DTO.
WRITE_DTO_FIELDS: dict[str, dict[str, DtoField]] = {
    resource: {**DTO_FIELDS[resource], **_parse_dto(prefix, _WRITE_EXTRA_SPECS.get(prefix, ""))}
    for resource, prefix in RESOURCES.items()
}
# The endpoints the spec gives each resource (beyond GET/POST/PATCH /{resource}, GET/PUT /{id}).
# Only Organisations have FindByUpdateDates; Deliveries only FindByCreateDates; Persons, Products
# and QuotationLines no date window at all. POST answers the new id (int32) where the spec says so.
FIND_BY_DATES: dict[str, tuple[str, ...]] = {
    "Organisations": ("Update", "Create"), "Persons": (), "Products": (), "Deliveries": ("Create",),
    "QuotationLines": (), "Users": (), "Opportunities": ("Create",),
}
DELETABLE = frozenset({"Products", "QuotationLines"})
POST_RETURNS_ID = frozenset({"Persons", "Products", "Deliveries", "QuotationLines", "Opportunities"})
# Reference fields webCRM checks on write: (resource, field) -> the resource the id must exist in.
# A quotation line's parent is an opportunity or a delivery (QuotationLineOpportunityId; the DTO
# has no other parent field, and GET /Deliveries/{id}/QuotationLines lists the lines whose parent
# is that delivery): the id must be a delivery's or an opportunity's (targets are tried in order).
REFERENCES: dict[tuple[str, str], str | tuple[str, ...]] = {
    ("Persons", "PersonOrganisationId"): "Organisations",
    ("Deliveries", "DeliveryOrganisationId"): "Organisations",
    ("QuotationLines", "QuotationLineOpportunityId"): ("Deliveries", "Opportunities"),
    ("Opportunities", "OpportunityOrganisationId"): "Organisations",
}


def reference_targets(target: str | tuple[str, ...]) -> tuple[str, ...]:
    return (target,) if isinstance(target, str) else target
# What webCRM itself insists on when writing (beyond the DTO's own `required: [XId]`, which the
# server assigns): an organisation needs a name, a person belongs to an organisation.
REQUIRED: dict[str, tuple[str, ...]] = {
    "Organisations": ("OrganisationName",),
    "Persons": ("PersonOrganisationId",),
    "Products": (),
    "Deliveries": ("DeliveryOrganisationId",),
    "QuotationLines": ("QuotationLineOpportunityId",),
    "Users": ("UserName",),  # the spec requires nothing; a user without a name is no seller [?]
    "Opportunities": ("OpportunityOrganisationId",),
}
# Fields the server stamps; whatever a client sends for them is ignored.
SERVER_FIELDS = ("Id", "CreatedAt", "CreatedBy", "UpdatedAt", "UpdatedBy")

ENTITY_RESOURCE = {
    "debtors": "Organisations", "contacts": "Persons", "items": "Products",
    "invoices": "Deliveries", "invoice_lines": "QuotationLines", "payments": "Deliveries",
    "employees": "Users", "orders": "Opportunities", "order_lines": "QuotationLines",
}
# The parent resource of the entities kept in QuotationLines (a line's parent is either).
LINE_PARENTS = {"invoice_lines": "Deliveries", "order_lines": "Opportunities"}


def id_field(resource: str) -> str:
    return RESOURCES[resource] + "Id"


def updated_field(resource: str) -> str:
    return RESOURCES[resource] + "UpdatedAt"


# The entities' endpoints as data: paging Page/Size (1-based, at most 1000); only Organisations
# have an update-date window (FindByUpdateDates), the others are scanned (see connector.py).
ENDPOINTS: dict[str, Endpoint] = {
    entity: Endpoint(
        path=f"/{resource}",
        id_field=id_field(resource),
        paging="page",
        page_size_max=1000,
        cursor_field=updated_field(resource),
        cursor_kind="timestamp",
        extra={"find_by_dates": FIND_BY_DATES[resource]},
    )
    for entity, resource in ENTITY_RESOURCE.items()
}
