"""The sync configuration: one YAML file, validated with pydantic.

Secrets are never written in the file: a credential names the environment variable that holds
it (`api_key_env: WEBCRM_API_KEY`), and is read only when a connector is built. Errors name the
key path and the problem; they never contain a secret's value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ledgerbridge.model import ENTITIES, Owner, Severity


class ConfigError(Exception):
    pass


_DATABASE_URL = re.compile(r"^(mssql|postgresql|sqlite|mysql|oracle)(\+\w+)?://")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemConfig(Strict):
    system: str  # a registered system's name (ledgerbridge systems lists them)
    base_url: str
    # name -> environment variable holding the secret (e.g. api_key: WEBCRM_API_KEY)
    secrets: dict[str, str] = Field(default_factory=dict)
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    rate_per_second: float | None = None
    timeout_seconds: float = 30.0

    @field_validator("base_url")
    @classmethod
    def http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") and _DATABASE_URL.match(value):
            # A SQL system's database (SQLAlchemy URL): a user name may be given, a password never.
            if parts.password or "pwd=" in value.lower():
                raise ValueError("must not hold a password: name it under secrets.password (an environment variable)")
            return value
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL with a host, like https://api.example.com, "
                             f"or a database URL like mssql+pyodbc://user@host/db, not {value!r}")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: name them under secrets (environment variables)")
        return value

    @field_validator("system")
    @classmethod
    def registered(cls, value: str) -> str:
        from ledgerbridge.systems.registry import names  # the registry imports this module's types

        if value not in names():
            raise ValueError(f"unknown system {value!r}; registered: {', '.join(names())}")
        return value

    @field_validator("secrets")
    @classmethod
    def env_names_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, env in value.items():
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", env):
                raise ValueError(
                    f"secrets.{name} must name an environment variable (like WEBCRM_API_KEY), not hold the secret itself"
                )
        return value

    def secret(self, name: str) -> str:
        env = self.secrets.get(name)
        if env is None:
            raise ConfigError(f"{self.system}: secrets.{name} is not configured")
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{self.system}: environment variable {env} (secrets.{name}) is not set")
        return value


def five_field_cron(value: str | None) -> str | None:
    # Dagster accepts the standard five fields only; checked here so a bad one never breaks the code location.
    if value is not None and (len(value.split()) != 5 or not croniter.is_valid(value)):
        raise ValueError(f"{value!r} is not a cron schedule of five fields (minute hour day month weekday), "
                         "like '*/15 * * * *'")
    return value


CreationTrigger = Literal["always", "first_invoice"] | str  # or a filter like "crm_type == 'Customer'"
_FILTER = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>==|!=)\s*'(?P<value>[^']*)'\s*$")


class EntityConfig(Strict):
    enabled: bool = True
    direction: Literal["both", "crm_to_erp", "erp_to_crm"] = "both"
    default_owner: Owner | None = None  # None: each field's owner from the model
    owners: dict[str, Owner] = Field(default_factory=dict)
    number_policy: Literal["crm", "erp", "hub"] = "erp"
    number_range: tuple[int, int] | None = None
    create_in_erp: CreationTrigger = "always"
    create_in_crm: CreationTrigger = "always"
    schedule: str | None = None  # cron for the periodic ERP -> CRM pull
    # Values a new record gets in the ERP when the hub has none (e-conomic requires a currency,
    # payment terms and a customer group the CRM does not know), and per-country overrides.
    erp_defaults: dict[str, str] = Field(default_factory=dict)
    erp_defaults_by_country: dict[str, dict[str, str]] = Field(default_factory=dict)
    # What a failed check on a field does (block: hold the record; warn: send it without the field),
    # overriding the model's default per field (ledgerbridge.model.Severity).
    severity: dict[str, Severity] = Field(default_factory=dict)
    # What a delete in the CRM does in the ERP, and the other way round (None: the model's default,
    # ledgerbridge.model.Entity.delete_in_erp/_crm): delete, bar or unlink.
    delete_in_erp: Literal["delete", "bar", "unlink"] | None = None
    delete_in_crm: Literal["delete", "bar", "unlink"] | None = None
    # Whether a delete in the system owning the record erases the person everywhere (None: the model's).
    erase_on_delete: bool | None = None
    # With an equality creation trigger (create_in_erp: "crm_type == 'Customer'"): once the record
    # exists in the ERP, a change of that field in the CRM is set back (ledgerbridge.sync.pinning).
    keep_trigger_while_linked: bool = False

    def writes(self, side: str) -> bool:
        """Whether this entity is written to `side` ("crm" or "erp"): enabled, in a direction towards it."""
        return self.enabled and self.direction in ("both", f"{'erp' if side == 'crm' else 'crm'}_to_{side}")

    def erp_defaults_for(self, country: str | None) -> dict[str, str]:
        return {**self.erp_defaults, **self.erp_defaults_by_country.get((country or "").upper(), {})}

    @field_validator("schedule")
    @classmethod
    def five_field_cron(cls, value: str | None) -> str | None:
        return five_field_cron(value)

    @field_validator("create_in_erp", "create_in_crm")
    @classmethod
    def trigger_form(cls, value: str) -> str:
        if value in ("always", "first_invoice", "never") or _FILTER.match(value):
            return value
        raise ValueError("must be 'always', 'never', 'first_invoice' or a filter like \"crm_type == 'Customer'\"")

    @model_validator(mode="after")
    def hub_policy_needs_range(self) -> "EntityConfig":
        if self.number_policy == "hub" and not self.number_range:
            raise ValueError("number_policy 'hub' needs number_range: [first, last]")
        return self


class HubConfig(Strict):
    # `schema` as written in the file, `schema_name` as model_dump() writes it: both load.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str | None = None  # sqlalchemy URL without a password
    url_env: str | None = None  # or: environment variable holding the full URL (with password)
    # A PostgreSQL hub's schema (one per tenant on a shared server, see ledgerbridge.tenants.hub).
    schema_name: str | None = Field(None, alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    def resolved_url(self, default: str) -> str:
        if self.url_env:
            value = os.environ.get(self.url_env)
            if not value:
                raise ConfigError(f"hub: environment variable {self.url_env} (hub.url_env) is not set")
        else:
            value = self.url or default
        return self.confined(value)

    def confined(self, url: str) -> str:
        """`url` confined to hub.schema, when one is set."""
        if self.schema_name is None:
            return url
        from ledgerbridge.tenants.hub import schema_url

        try:
            return schema_url(url, self.schema_name)
        except ValueError as exc:
            raise ConfigError(f"hub.schema: {exc}") from None


class QualityConfig(Strict):
    # The push stops when more than this share of a batch's records newly fails the checks...
    block_threshold: float = Field(0.2, ge=0, le=1)
    # ...and the batch has at least this many records (two bad of five is no mass corruption).
    block_min_records: int = Field(20, ge=1)


class RetryConfig(Strict):
    """When a write that failed for a passing reason (5xx, timeout, 429) is sent again."""

    # The first retry waits this long, each next one twice as long, up to max_delay_seconds.
    first_delay_seconds: float = Field(60.0, ge=0)
    max_delay_seconds: float = Field(3600.0, ge=0)
    # After this many attempts the write is failed for a person to look at (the record is planned
    # again as soon as it changes).
    max_attempts: int = Field(8, ge=1)
    # A create whose answer was lost is looked up before it is sent again. Not finding it counts
    # only in a complete pull that began this long after the create was sent (the system may still
    # have been carrying it out when our call gave up).
    lookup_grace_seconds: float = Field(30.0, ge=0)


_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class EmailConfig(Strict):
    """An SMTP server that sends the notifications as e-mails (ledgerbridge.notify.mail). The login,
    when the server wants one, is named by environment variables, never written here."""

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)  # None: 587 for starttls, 465 for ssl, 25 for none
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str
    recipients: list[str] = Field(min_length=1)
    username_env: str | None = Field(None, pattern=_ENV_NAME)
    password_env: str | None = Field(None, pattern=_ENV_NAME)
    # A private certificate authority's certificate (PEM) the server's certificate is checked against,
    # instead of the system's authorities.
    ca_file: Path | None = None
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("sender")
    @classmethod
    def sender_address(cls, value: str) -> str:
        return _mail_address(value)

    @field_validator("recipients")
    @classmethod
    def recipient_addresses(cls, value: list[str]) -> list[str]:
        return [_mail_address(v) for v in value]

    @field_validator("host")
    @classmethod
    def bare_host(cls, value: str) -> str:
        if "://" in value or "@" in value or "/" in value:
            raise ValueError(f"must be a host name or address, like smtp.example.com, not {value!r}")
        return value

    @model_validator(mode="after")
    def login_in_pairs(self) -> "EmailConfig":
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("username_env and password_env go together (the server's login), or neither")
        if self.username_env is not None and self.security == "none":
            raise ValueError("a login is never sent unencrypted: set security to starttls or ssl")
        return self

    @property
    def resolved_port(self) -> int:
        return self.port or _DEFAULT_SMTP_PORTS[self.security]

    def login(self) -> tuple[str, str] | None:
        """The SMTP login from its environment variables; the error names the variable, never a value."""
        if self.username_env is None or self.password_env is None:
            return None
        values = []
        for key, env in (("username_env", self.username_env), ("password_env", self.password_env)):
            value = os.environ.get(env)
            if not value:
                raise ConfigError(f"notify.email: environment variable {env} (notify.email.{key}) is not set")
            values.append(value)
        return values[0], values[1]


def _mail_address(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not an e-mail address: {exc}") from None


class NotifyConfig(Strict):
    """Who is told when a sync run fails or a check starts failing (see ledgerbridge.notify).

    The notifier sensors run when a webhook or an e-mail server is configured, or `console` is on;
    whatever they tell is also recorded in the hub's notifications table, which the console shows."""

    # The environment variable holding the webhook URL (a Slack/Teams/any URL: it often holds a token).
    webhook_url_env: str | None = Field(None, pattern=_ENV_NAME)
    email: EmailConfig | None = None
    # Record notifications for the console even without a webhook or e-mail.
    console: bool = False
    # Base URLs for the links in a message: the review console and the Dagster UI (a run's page).
    console_url: str | None = None
    dagster_url: str | None = None

    @field_validator("console_url", "dagster_url")
    @classmethod
    def link_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise ValueError(f"must be an http(s) URL with a host and without credentials, not {value!r}")
        return value.rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.webhook_url_env is not None or self.email is not None or self.console


class RetentionConfig(Strict):
    """How long the hub keeps what it needs only for a while (days); personal data in it goes then."""

    audit_log_days: int = Field(90, ge=1)  # before/after of every write
    outbox_payload_days: int = Field(30, ge=1)  # payloads of writes that are done (confirmed, failed, obsolete)
    inbox_days: int = Field(14, ge=1)  # webhook bodies
    quarantine_resolved_days: int = Field(30, ge=1)  # values of findings that were fixed
    conflict_values_days: int = Field(365, ge=1)  # the values both sides held in a conflict
    notifications_resolved_days: int = Field(180, ge=1)  # notifications that were resolved (no personal data)


class DagsterConfig(Strict):
    """How the Dagster code location shows and schedules this configuration."""

    # Shown as the owners of every asset: e-mail addresses or team names written team:<name>.
    owners: list[str] = Field(default_factory=list)
    # The time zone of every schedule's cron, the nightly reconcile's included (an IANA name).
    timezone: str = "UTC"
    # When the nightly full reconcile runs (catches missed events and deletes); null: never.
    nightly_reconcile: str | None = "0 2 * * *"

    @field_validator("owners")
    @classmethod
    def team_or_email(cls, value: list[str]) -> list[str]:
        for owner in value:
            if owner.startswith("team:") and len(owner) > 5:
                continue
            try:
                _mail_address(owner)
            except ValueError:
                raise ValueError(f"{owner!r} is neither an e-mail address nor a team written team:<name>") from None
        return value

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Copenhagen or UTC") from None
        return value

    @field_validator("nightly_reconcile")
    @classmethod
    def nightly_cron(cls, value: str | None) -> str | None:
        return five_field_cron(value)


class SyncConfig(Strict):
    crm: SystemConfig
    erp: SystemConfig
    hub: HubConfig = HubConfig()
    quality: QualityConfig = QualityConfig()
    retries: RetryConfig = RetryConfig()
    retention: RetentionConfig = RetentionConfig()
    notify: NotifyConfig = NotifyConfig()
    dagster: DagsterConfig = DagsterConfig()
    entities: dict[str, EntityConfig] = Field(default_factory=lambda: {"debtors": EntityConfig()})

    @field_validator("entities")
    @classmethod
    def known_entities(cls, value: dict[str, EntityConfig]) -> dict[str, EntityConfig]:
        for name, entity_config in value.items():
            if name not in ENTITIES:
                raise ValueError(f"unknown entity {name!r}; known: {', '.join(ENTITIES)}")
            fields = ENTITIES[name].field_by_name
            named = [("owners", f) for f in entity_config.owners] + [("erp_defaults", f) for f in entity_config.erp_defaults]
            named += [("severity", f) for f in entity_config.severity]
            named += [("erp_defaults_by_country", f) for d in entity_config.erp_defaults_by_country.values() for f in d]
            for key, field_name in named:
                if field_name not in fields:
                    raise ValueError(f"{name}.{key}: {field_name!r} is not a field of {name}")
        return value

    @model_validator(mode="after")
    def systems_fit_their_roles(self) -> "SyncConfig":
        from ledgerbridge.systems.registry import get  # the registry imports this module's types

        for role in ("crm", "erp"):
            system = get(self.side(role).system)
            if role not in system.roles:
                raise ValueError(f"{role}.system: {system.label} cannot be the {role} "
                                 f"(it is a {'/'.join(sorted(system.roles))})")
        return self

    def owner_of(self, entity: str, field_name: str) -> Owner:
        entity_config = self.entities.get(entity, EntityConfig())
        if field_name in entity_config.owners:
            return entity_config.owners[field_name]
        return entity_config.default_owner or ENTITIES[entity][field_name].owner

    def side(self, side: str) -> SystemConfig:
        """The "crm" or "erp" system's section."""
        if side not in ("crm", "erp"):
            raise ValueError(f"side must be 'crm' or 'erp', not {side!r}")
        return self.crm if side == "crm" else self.erp

    def entity(self, name: str) -> EntityConfig:
        return self.entities.get(name, EntityConfig(enabled=False))


def parse_config(data: dict, source: str = "config") -> SyncConfig:
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None


def load_config(path: str | Path) -> SyncConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return parse_config(data, str(path))


def trigger_allows(trigger: str, values: dict) -> bool | None:
    """Whether a creation trigger lets a record be created now; None means 'decided elsewhere'."""
    if trigger == "always":
        return True
    if trigger == "never":
        return False
    match = _FILTER.match(trigger)
    if match:
        actual = values.get(match["field"])
        equal = (str(actual) if actual is not None else "").casefold() == match["value"].casefold()
        return equal if match["op"] == "==" else not equal
    return None


def equality_trigger(trigger: str) -> tuple[str, str] | None:
    """(field, value) of an equality creation trigger such as "crm_type == 'Customer'", else None."""
    match = _FILTER.match(trigger)
    if not match or match["op"] != "==":
        return None
    return match["field"], match["value"]
