"""`TenantSpec`: the one contract that flows from the billing edge to the Pulumi program.

A spec holds what the tenant (or an operator) chose; anything left out falls back to the
plan's defaults through the `effective_*` properties, so a plan change re-derives every
default instead of freezing the old plan's values into the spec. Every override is
checked against the plan's hard limits, and all violations are reported together, each
with its field path, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from components.plans import (
    CONNECTIVITY_ADDON,
    ENDPOINT_ADDON,
    MAIL_ADDON,
    TELEPHONY_ADDON,
    AddonName,
    NatStrategy,
    Plan,
    PlanName,
    get_plan,
)

RESERVED_TAG_KEYS = ("tenant", "plan", "managed-by", "cost-center")
"""Tags every taggable resource carries; set by the bundle, never by the spec's `tags`."""

MANAGED_BY = "tenants-platform"

PLATFORM_DOMAIN = "tenants-platform.net"
"""The platform's public Route 53 zone; a tenant's endpoint is `<tenant>.<this>` by default."""


class Residency(StrEnum):
    """Where a tenant's data may live."""

    EU = "eu"
    US = "us"
    APAC = "apac"


REGIONS_BY_RESIDENCY: dict[Residency, tuple[str, ...]] = {
    Residency.EU: ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1"),
    Residency.US: ("us-east-1", "us-east-2", "us-west-2"),
    Residency.APAC: ("ap-southeast-1", "ap-southeast-2", "ap-northeast-1"),
}

SUPPORTED_REGIONS: tuple[str, ...] = tuple(r for rs in REGIONS_BY_RESIDENCY.values() for r in rs)


def residency_of(region: str) -> Residency | None:
    """The residency a region belongs to; `None` for a region no residency allows."""
    return next((res for res, regions in REGIONS_BY_RESIDENCY.items() if region in regions), None)


# CloudWatch Logs accepts only these retention values.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip

_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$"),
    Field(description="Lower-case letters, digits and hyphens, 2-16 characters."),
]
TENANT_ID_PATTERN = r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$"
"""The shape of a tenant id (reserved words and affixes are refused besides); for matching
ids in URLs and paths. Messages say `TENANT_ID_RULE` instead."""
TENANT_ID_RULE = (
    "a tenant id is 3 to 20 lower-case letters, digits and hyphens, starts with a letter "
    "and ends with a letter or digit"
)
RESERVED_TENANT_PREFIXES: dict[str, str] = {
    "xn--": "S3 and DNS reserve it for internationalised (punycode) names",
    "sthree-": "S3 reserves it for its own bucket names (e.g. sthree-configurator)",
    "amzn-s3-demo-": "S3 reserves it for its documentation examples",
}
"""Prefixes a tenant id may not start with: it begins every bucket name of the tenant."""
RESERVED_TENANT_SUFFIXES: dict[str, str] = {
    "-s3alias": "S3 reserves it for access point aliases",
    "--ol-s3": "S3 reserves it for Object Lambda access point aliases",
    "--x-s3": "S3 reserves it for directory buckets",
    "--table-s3": "S3 reserves it for table buckets",
}
"""Suffixes a tenant id may not end with (S3's reserved bucket-name suffixes)."""
RESERVED_TENANT_IDS = frozenset(
    {
        "admin", "administrator", "amazon", "amazonaws", "api", "app", "assets", "auth",
        "aws", "billing", "cdn", "console", "dashboard", "default", "dns", "docs", "ftp",
        "healthz", "help", "hooks", "internal", "localhost", "login", "mail", "metrics",
        "none", "null", "operator", "platform", "portal", "readyz", "root",
        "security", "smtp", "static", "status", "support", "system", "tenants",
        "undefined", "www",
    }
)  # fmt: skip
"""Ids that would read as the platform, AWS or a well-known service in URLs, DNS names,
bucket names and logs (the portal, API and hooks live beside tenant names)."""


def tenant_id_problem(tenant_id: str) -> str | None:
    """Why `tenant_id` cannot name a tenant, or None when it can."""
    shown = tenant_id if len(tenant_id) <= 40 else tenant_id[:37] + "..."
    if re.fullmatch(TENANT_ID_PATTERN, tenant_id) is None:
        return f"tenant id {shown!r} is not valid: {TENANT_ID_RULE}"
    for prefix, why in RESERVED_TENANT_PREFIXES.items():
        if tenant_id.startswith(prefix):
            return (
                f"tenant id {shown!r} starts with {prefix!r}: {why}, and the tenant id "
                f"begins every bucket name of the tenant; {TENANT_ID_RULE}, without the "
                f"reserved prefixes {', '.join(RESERVED_TENANT_PREFIXES)}"
            )
    for suffix, why in RESERVED_TENANT_SUFFIXES.items():
        if tenant_id.endswith(suffix):
            return (
                f"tenant id {shown!r} ends with {suffix!r}: {why}; {TENANT_ID_RULE}, "
                f"without the reserved suffixes {', '.join(RESERVED_TENANT_SUFFIXES)}"
            )
    if tenant_id in RESERVED_TENANT_IDS:
        return (
            f"tenant id {shown!r} is a reserved word: it would read as the platform, AWS or "
            f"a well-known service in URLs, DNS and bucket names (reserved words include "
            f"admin, api, aws, default, null, root and www); {TENANT_ID_RULE}, and is not a "
            f"reserved word"
        )
    return None


def _check_tenant_id(tenant_id: str) -> str:
    problem = tenant_id_problem(tenant_id)
    if problem is not None:
        raise PydanticCustomError("tenant_id", "{message}", {"message": problem})
    return tenant_id


TenantId = Annotated[
    str,
    AfterValidator(_check_tenant_id),
    Field(
        description="DNS- and S3-safe slug: lower-case letters, digits and hyphens, 3-20 "
        "characters, starting with a letter; no S3-reserved prefix or suffix, not a reserved "
        "word. It prefixes bucket names, so it is kept short."
    ),
]
CronExpression = Annotated[
    str,
    StringConstraints(
        pattern=r"^\s*(\S+\s+){4}\S+\s*$",
    ),
    Field(description="Five-field cron expression, as Auto Scaling's `recurrence` takes it."),
]


def _check_tag_key(key: str) -> str:
    if key in RESERVED_TAG_KEYS:
        raise ValueError(f"tag {key!r} is set by the platform; reserved: {RESERVED_TAG_KEYS}")
    if key.startswith("aws:") or not re.fullmatch(r"[\w .:/=+@-]{1,128}", key):
        raise ValueError(f"tag key {key!r} must be 1-128 of letters, digits, ' _.:/=+-@'")
    return key


TagKey = Annotated[str, AfterValidator(_check_tag_key)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class IngressRule(_Spec):
    """Traffic the tenant's application security group accepts."""

    port: int = Field(ge=1, le=65535)
    """First port of the range."""
    to_port: int | None = Field(default=None, ge=1, le=65535)
    """Last port of the range; the same as `port` when left out."""
    protocol: Literal["tcp", "udp"] = "tcp"
    """IP protocol."""
    cidr: ipaddress.IPv4Network
    """Source CIDR."""
    description: str = Field(min_length=3, max_length=255)
    """Why this traffic is allowed (shown on the rule)."""

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Self:
        if self.to_port is not None and self.to_port < self.port:
            raise ValueError(f"to_port {self.to_port} is below port {self.port}")
        return self

    @property
    def last_port(self) -> int:
        """Last port of the range."""
        return self.to_port if self.to_port is not None else self.port


class NetworkSpec(_Spec):
    """The tenant's VPC."""

    cidr: ipaddress.IPv4Network
    """VPC CIDR, a private range from /16 to /22; allocated by the control plane."""
    az_count: int | None = Field(default=None, ge=1, le=3)
    """Availability zones to span; plan default when left out."""
    nat: NatStrategy | None = None
    """NAT strategy; plan default when left out."""
    ingress: tuple[IngressRule, ...] = ()
    """Extra ingress to the app security group; HTTPS from inside the VPC is always allowed."""

    @field_validator("cidr")
    @classmethod
    def _private_and_sized(cls, cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not any(cidr.subnet_of(r) for r in _PRIVATE_RANGES):
            raise ValueError(f"{cidr} is not in a private range (10/8, 172.16/12, 192.168/16)")
        if not 16 <= cidr.prefixlen <= 22:
            raise ValueError(f"prefix /{cidr.prefixlen} is outside /16 to /22")
        return cidr


class ScalingSchedule(_Spec):
    """A recurring change of capacity (e.g. office hours)."""

    name: Slug
    """Name of the scheduled action."""
    recurrence: CronExpression
    """When it applies, in cron syntax."""
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=0)
    desired_capacity: int = Field(ge=0)
    time_zone: str = "UTC"
    """IANA time zone of `recurrence`."""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"need min_size <= desired_capacity <= max_size, got "
                f"{self.min_size} <= {self.desired_capacity} <= {self.max_size}"
            )
        return self


class ComputeSpec(_Spec):
    """The tenant's autoscaling workers."""

    instance_type: str | None = None
    """EC2 instance type; plan default when left out."""
    min_size: int | None = Field(default=None, ge=0)
    desired_capacity: int | None = Field(default=None, ge=0)
    max_size: int | None = Field(default=None, ge=0)
    cpu_target_percent: float = Field(default=60.0, ge=20.0, le=90.0)
    """Average CPU the target-tracking policy holds the group at."""
    volume_size_gb: int = Field(default=20, ge=8, le=500)
    """Root EBS volume size."""
    schedules: tuple[ScalingSchedule, ...] = ()
    """Scheduled capacity changes (plans with schedules only)."""


class BucketSpec(_Spec):
    """One S3 bucket of the tenant."""

    role: Slug
    """What the bucket is for (`data`, `uploads`, ...); part of its name."""
    versioning: bool = True
    """Keep object versions (noncurrent ones expire after the retention)."""


class TableSpec(_Spec):
    """The tenant's optional DynamoDB table."""

    hash_key: str = Field(default="pk", pattern=r"^[A-Za-z0-9_.-]{1,255}$")
    range_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,255}$")


class StorageSpec(_Spec):
    """Buckets, quota, retention and the optional table."""

    buckets: tuple[BucketSpec, ...] = (BucketSpec(role="data"),)
    """The tenant's buckets; roles must be unique."""
    quota_gb: int | None = Field(default=None, ge=1)
    """Storage quota across buckets; plan default when left out."""
    retention_days: int | None = Field(default=None, ge=1)
    """Retention of noncurrent versions, access logs and flow logs; plan default if left out."""
    table: TableSpec | None = None
    """A DynamoDB table (plans with tables only)."""

    @field_validator("buckets")
    @classmethod
    def _unique_roles(cls, buckets: tuple[BucketSpec, ...]) -> tuple[BucketSpec, ...]:
        roles = [b.role for b in buckets]
        duplicates = sorted({r for r in roles if roles.count(r) > 1})
        if duplicates:
            raise ValueError(f"bucket roles must be unique; repeated: {duplicates}")
        if not buckets:
            raise ValueError("at least one bucket is required")
        return buckets


class AlarmsSpec(_Spec):
    """Who is told and when."""

    contacts: tuple[EmailStr, ...] = ()
    """E-mail addresses subscribed to the tenant's alarm topic."""
    cpu_high_percent: float = Field(default=85.0, ge=50.0, le=100.0)
    """Average CPU above which the CPU alarm fires."""
    storage_quota_percent: float = Field(default=90.0, ge=50.0, le=100.0)
    """Share of the storage quota at which the quota alarm fires."""
    budget_usd: Decimal | None = Field(default=None, gt=0)
    """Monthly AWS cost budget; plan default when left out."""


class OperatorAccess(_Spec):
    """A role the customer assumes from its own AWS account to inspect its bundle."""

    account_id: str = Field(pattern=r"^\d{12}$")
    """The customer's 12-digit AWS account id."""
    external_id: str = Field(pattern=r"^[\w+=,.@:/-]{16,128}$")
    """Shared secret the customer passes as `sts:ExternalId` (16-128 characters)."""


Hostname = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
    ),
    Field(description="Fully qualified lower-case DNS name, without the trailing dot."),
]
E164Number = Annotated[
    str,
    StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$"),
    Field(description="Phone number in E.164 form: '+', country code and number, 8-16 chars."),
]
ClockTime = Annotated[
    str,
    StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$"),
    Field(description="24-hour clock time, HH:MM."),
]


class Weekday(StrEnum):
    """Days as Amazon Connect names them."""

    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


def _check_domain_and_zone(domain: str | None, zone: str | None) -> None:
    if zone is not None and domain is None:
        raise ValueError("zone is set without a custom domain")
    if domain is not None and zone is not None and not domain.endswith(f".{zone}"):
        raise ValueError(f"domain {domain!r} is not inside zone {zone!r}")
    if domain is not None and domain.count(".") < 2 and zone is None:
        raise ValueError(f"domain {domain!r} needs a zone: it has no parent zone")


def _zone_of(domain: str | None, zone: str | None) -> str:
    """The zone of a custom domain (given, else its parent), or the platform's."""
    if domain is None:
        return PLATFORM_DOMAIN
    return zone or domain.split(".", 1)[1]


class EndpointSpec(_Spec):
    """A public HTTPS endpoint (load balancer) in front of the tenant's application."""

    domain: Hostname | None = None
    """Custom domain (plans with custom domains); `<tenant>.<platform domain>` when left out."""
    zone: Hostname | None = None
    """Public Route 53 zone that holds `domain`; its parent domain when left out."""
    health_check_path: str = Field(default="/healthz", pattern=r"^/[A-Za-z0-9._~/-]{0,254}$")
    """Path the load balancer probes over HTTPS on each instance."""
    rate_limit: int | None = Field(default=None, ge=1)
    """Requests per 5 minutes one IP may make before WAF blocks it (WAF plans); plan default."""
    redirect_http: bool = True
    """Also listen on port 80, only to redirect to HTTPS (port 80 is then open to the
    internet on the load balancer); `false` keeps port 80 closed."""

    @model_validator(mode="after")
    def _domain_in_zone(self) -> Self:
        _check_domain_and_zone(self.domain, self.zone)
        return self


class BusinessHours(_Spec):
    """When calls are answered (forwarded); outside them callers reach the fallback."""

    time_zone: str = "UTC"
    """IANA time zone of the hours, e.g. `Europe/Berlin`."""
    days: tuple[Weekday, ...] = (
        Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY,
    )  # fmt: skip
    """Open days."""
    opens: ClockTime = "09:00"
    """Opening time on each open day."""
    closes: ClockTime = "17:00"
    """Closing time on each open day; after `opens`."""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        if zone not in _time_zones():
            raise ValueError(f"unknown time zone {zone!r}; use an IANA name like Europe/Berlin")
        return zone

    @field_validator("days")
    @classmethod
    def _some_unique_days(cls, days: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if not days:
            raise ValueError("at least one open day is required")
        if len(set(days)) != len(days):
            raise ValueError("days must be unique")
        return days

    @model_validator(mode="after")
    def _opens_before_closing(self) -> Self:
        if self.closes <= self.opens:
            raise ValueError(f"closes {self.closes} is not after opens {self.opens}")
        return self


class TelephonySpec(_Spec):
    """Phone lines on Amazon Connect: every line forwards, takes voicemail, or both."""

    lines: int = Field(default=1, ge=1)
    """Phone numbers to claim (within the plan's limit)."""
    country: str = Field(pattern=r"^[A-Z]{2}$")
    """ISO 3166 country code of the numbers, e.g. `DE`."""
    number_type: Literal["DID", "TOLL_FREE"] = "DID"
    """Direct-dial or toll-free numbers."""
    forward_to: E164Number | None = None
    """Where calls are forwarded during business hours."""
    voicemail: bool = False
    """Callers leave a message when closed or when the forward fails (plans with voicemail)."""
    hours: BusinessHours = BusinessHours()
    """When calls are forwarded."""
    forward_timeout_seconds: int = Field(default=30, ge=5, le=600)
    """How long a forwarded call rings before the fallback takes it."""

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if self.forward_to is None and not self.voicemail:
            raise ValueError("telephony needs forward_to, voicemail or both")
        return self


class OfficeSite(_Spec):
    """One customer office reached over a site-to-site VPN (two IPsec tunnels)."""

    name: Slug
    """Name of the site (`hq`, `plant-2`, ...); unique per tenant."""
    public_ip: ipaddress.IPv4Address
    """Public IPv4 address of the customer's VPN device."""
    bgp_asn: int = Field(default=65000, ge=1, le=2_147_483_647)
    """BGP AS number of the customer's device (also required by AWS with static routing)."""
    static_routes: tuple[ipaddress.IPv4Network, ...] = Field(default=(), max_length=20)
    """Office networks routed over the VPN; BGP exchanges routes when left empty."""

    @field_validator("public_ip")
    @classmethod
    def _public(cls, address: ipaddress.IPv4Address) -> ipaddress.IPv4Address:
        if not address.is_global:
            raise ValueError(f"{address} is not a public address")
        return address


class ConnectivitySpec(_Spec):
    """Private connectivity: the tenant's VPC joined to the customer's offices."""

    sites: tuple[OfficeSite, ...]
    """Customer offices (at least one), each a VPN connection."""

    @field_validator("sites")
    @classmethod
    def _unique_sites(cls, sites: tuple[OfficeSite, ...]) -> tuple[OfficeSite, ...]:
        if not sites:
            raise ValueError("at least one site is required")
        names = [s.name for s in sites]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"site names must be unique; repeated: {duplicates}")
        return sites


class MailSpec(_Spec):
    """E-mail sending (SES) from the tenant's domain, DKIM-signed, with a daily quota."""

    domain: Hostname | None = None
    """Sending domain (plans with custom domains); `<tenant>.<platform domain>` if left out."""
    zone: Hostname | None = None
    """Public Route 53 zone holding `domain` (for the DKIM records); its parent if left out."""
    daily_quota: int | None = Field(default=None, ge=1)
    """E-mails per day the tenant expects to send at most; plan default when left out."""
    quota_alarm_percent: float = Field(default=80.0, ge=50.0, le=100.0)
    """Share of the daily quota at which the sending alarm fires."""

    @model_validator(mode="after")
    def _domain_in_zone(self) -> Self:
        _check_domain_and_zone(self.domain, self.zone)
        return self


class AddonsSpec(_Spec):
    """Services added to the plan's bundle; each is allowed and priced per plan."""

    endpoint: EndpointSpec | None = None
    """A public HTTPS endpoint for the application."""
    telephony: TelephonySpec | None = None
    """Phone lines with forwarding and voicemail."""
    connectivity: ConnectivitySpec | None = None
    """Site-to-site VPN to the customer's offices."""
    mail: MailSpec | None = None
    """E-mail sending from the tenant's domain."""

    def units(self) -> dict[AddonName, int]:
        """Billable units of each chosen add-on (the endpoint, or phone lines)."""
        out: dict[AddonName, int] = {}
        if self.endpoint is not None:
            out[AddonName.ENDPOINT] = 1
        if self.telephony is not None:
            out[AddonName.TELEPHONY] = self.telephony.lines
        if self.connectivity is not None:
            out[AddonName.CONNECTIVITY] = len(self.connectivity.sites)
        if self.mail is not None:
            out[AddonName.MAIL] = 1
        return out


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class Isolation(StrEnum):
    """Whether the tenant shares an AWS account with other tenants."""

    POOL = "pool"
    """Placed in a pooled cell: an account shared with other tenants."""
    SILO = "silo"
    """An AWS account of its own, vended through AWS Organizations (plans that allow it)."""


CellName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"),
    Field(description="Lower-case letters, digits and hyphens, 3-40 characters."),
]


def silo_cell_name(tenant_id: str) -> str:
    """The name of the one-tenant cell a silo tenant's account is registered as."""
    return f"silo-{tenant_id}"


class CellPlacement(_Spec):
    """The AWS account (cell) the bundle is deployed into and the role that reaches it."""

    name: CellName
    """The cell's name in the control plane's registry."""
    account_id: str = Field(pattern=r"^\d{12}$")
    """The cell's 12-digit AWS account id."""
    role_arn: str = Field(
        max_length=2048, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$"
    )
    """The role the tenant's AWS provider assumes in the cell's account."""
    external_id: str | None = Field(
        default=None, min_length=2, max_length=1224, pattern=r"^[A-Za-z0-9+=,.@:/_-]+$"
    )
    """`sts:ExternalId` the role's trust policy asks for, if any."""

    @model_validator(mode="after")
    def _role_in_account(self) -> Self:
        role_account = self.role_arn.split(":")[4]
        if role_account != self.account_id:
            raise ValueError(
                f"role {self.role_arn} is in account {role_account}, not the cell's account "
                f"{self.account_id}"
            )
        return self


class TenantSpec(_Spec):
    """Everything that defines one tenant's service bundle."""

    tenant_id: TenantId
    """DNS-safe tenant slug; the stack name."""
    display_name: str | None = Field(default=None, max_length=128)
    """Human name of the customer."""
    plan: PlanName
    """Subscribed plan; drives defaults and limits."""
    region: str
    """AWS region of the bundle; must belong to `residency`."""
    residency: Residency
    """Where the tenant's data may live."""
    cost_center: str = Field(default="saas-tenants", pattern=r"^[\w.:/=+@-]{1,64}$")
    """Value of the `cost-center` tag."""
    suspended: bool = False
    """Compute scaled to zero (non-payment); data is kept."""
    network: NetworkSpec
    compute: ComputeSpec = ComputeSpec()
    storage: StorageSpec = StorageSpec()
    alarms: AlarmsSpec = AlarmsSpec()
    operator: OperatorAccess | None = None
    """Optional customer operator role (plans with operator roles only)."""
    addons: AddonsSpec = AddonsSpec()
    """Add-on services (public endpoint, telephony), within the plan's offers."""
    tags: dict[TagKey, Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict, max_length=40
    )
    """Extra tags for every taggable resource; the four platform tags are reserved."""
    isolation: Isolation = Isolation.POOL
    """`pool` (a shared cell) or `silo` (an account of its own); fixed for the tenant's life."""
    cell: CellPlacement | None = None
    """The cell the control plane placed the tenant in, fixed for its life like `region`.
    Left out, the bundle deploys with the ambient credentials' account (no cells set up)."""

    @property
    def plan_entry(self) -> Plan:
        """The catalog entry of this spec's plan."""
        return get_plan(self.plan)

    @property
    def effective_instance_type(self) -> str:
        return self.compute.instance_type or self.plan_entry.defaults.instance_type

    @property
    def effective_capacity(self) -> tuple[int, int, int]:
        """(min, desired, max) of the autoscaling group; all zero while suspended."""
        if self.suspended:
            return (0, 0, 0)
        return self.configured_capacity

    @property
    def configured_capacity(self) -> tuple[int, int, int]:
        """(min, desired, max) the tenant runs at when not suspended."""
        d = self.plan_entry.defaults
        c = self.compute
        max_size = c.max_size if c.max_size is not None else d.max_size
        min_size = c.min_size if c.min_size is not None else min(d.min_size, max_size)
        # A defaulted desired capacity follows the (possibly overridden) bounds.
        desired = (
            c.desired_capacity
            if c.desired_capacity is not None
            else max(min_size, min(d.desired_capacity, max_size))
        )
        return (min_size, desired, max_size)

    @property
    def effective_az_count(self) -> int:
        return self.network.az_count or self.plan_entry.defaults.az_count

    @property
    def effective_nat(self) -> NatStrategy:
        return self.network.nat or self.plan_entry.defaults.nat

    @property
    def effective_quota_gb(self) -> int:
        return self.storage.quota_gb or self.plan_entry.defaults.storage_quota_gb

    @property
    def effective_retention_days(self) -> int:
        return self.storage.retention_days or self.plan_entry.defaults.retention_days

    @property
    def log_retention_days(self) -> int:
        """The retention rounded up to a value CloudWatch Logs accepts."""
        wanted = self.effective_retention_days
        return next(v for v in LOG_RETENTION_DAYS if v >= wanted)

    @property
    def effective_budget_usd(self) -> Decimal:
        return self.alarms.budget_usd or self.plan_entry.defaults.budget_usd

    @property
    def access_logs(self) -> bool:
        return self.plan_entry.limits.access_logs

    @property
    def endpoint_domain(self) -> str:
        """The endpoint's DNS name: the custom domain, else `<tenant>.<platform domain>`."""
        endpoint = self.addons.endpoint
        if endpoint is not None and endpoint.domain is not None:
            return endpoint.domain
        return f"{self.tenant_id}.{PLATFORM_DOMAIN}"

    @property
    def endpoint_zone(self) -> str:
        """The public Route 53 zone the endpoint's records and certificate validation go in."""
        endpoint = self.addons.endpoint
        return _zone_of(endpoint.domain, endpoint.zone) if endpoint else PLATFORM_DOMAIN

    @property
    def mail_domain(self) -> str:
        """The sending domain: the custom one, else `<tenant>.<platform domain>`."""
        mail = self.addons.mail
        if mail is not None and mail.domain is not None:
            return mail.domain
        return f"{self.tenant_id}.{PLATFORM_DOMAIN}"

    @property
    def mail_zone(self) -> str:
        """The public Route 53 zone the sending domain's DKIM records go in."""
        mail = self.addons.mail
        return _zone_of(mail.domain, mail.zone) if mail else PLATFORM_DOMAIN

    @property
    def mail_daily_quota(self) -> int | None:
        """E-mails per day the tenant may send; `None` without the mail add-on."""
        mail = self.addons.mail
        offer = MAIL_ADDON.offers.get(self.plan)
        if mail is None or offer is None:
            return None
        return mail.daily_quota or offer.default_daily_quota

    @property
    def endpoint_rate_limit(self) -> int | None:
        """Per-IP WAF rate limit of the endpoint; `None` when the plan has no WAF."""
        endpoint = self.addons.endpoint
        offer = ENDPOINT_ADDON.offers.get(self.plan)
        if endpoint is None or offer is None or not offer.waf:
            return None
        return endpoint.rate_limit or offer.default_rate_limit

    @property
    def platform_tags(self) -> dict[str, str]:
        """The four reserved tags, then the spec's own."""
        return {
            "tenant": self.tenant_id,
            "plan": self.plan.value,
            "managed-by": MANAGED_BY,
            "cost-center": self.cost_center,
            **self.tags,
        }

    @model_validator(mode="wrap")
    @classmethod
    def _report_every_error(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Field errors stop pydantic before the plan checks run; report both kinds at once.

        The fields that failed are dropped and the rest validated again, so plan-limit and
        residency violations elsewhere in the spec join the field errors in one report.
        """
        try:
            return handler(data)
        except ValidationError as first:
            if not isinstance(data, dict):
                raise
            pruned = copy.deepcopy(data)
            errors = first.errors()
            limits: list[InitErrorDetails] = []
            # A part that still fails once its bad field is gone (a line left with nothing to
            # do, a section missing a required field) is dropped itself on the next round.
            for _ in range(_PRUNE_ROUNDS):
                for error in errors:
                    loc = error["loc"]
                    _prune(pruned, loc[:-1] if error["type"] == "missing" and loc[1:] else loc)
                pruned = _drop_pruned(pruned)
                # Required fields that no plan check reads get a neutral stand-in.
                pruned.setdefault("tenant_id", "placeholder")
                network = pruned.get("network")
                if isinstance(network, dict):
                    network.setdefault("cidr", "10.0.0.0/16")
                try:
                    candidate = handler(pruned)
                except ValidationError as again:
                    limits = [_as_details(e) for e in again.errors() if e["type"] == "tenant_spec"]
                    errors = [e for e in again.errors() if e["type"] != "tenant_spec"]
                    if limits or not errors:
                        break
                else:
                    limits = _violations(candidate)
                    break
            if limits:
                raise ValidationError.from_exception_data(
                    cls.__name__, [*map(_as_details, first.errors()), *limits]
                ) from None
            raise

    @model_validator(mode="after")
    def _within_plan_and_residency(self) -> Self:
        errors = list(_violations(self))
        if errors:
            raise ValidationError.from_exception_data("TenantSpec", errors)
        return self

    def with_plan(self, plan: PlanName) -> TenantSpec:
        """This spec on another plan, re-validated against the new plan's limits."""
        return TenantSpec.model_validate({**self.model_dump(mode="json"), "plan": plan.value})


_PRUNE_ROUNDS = 4


def _prune(data: Any, loc: tuple[str | int, ...]) -> None:
    """Delete the deepest existing part of `loc` from nested dicts and lists."""
    node = data
    for part in loc[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            continue
        return
    last = loc[-1] if loc else None
    if isinstance(node, dict) and last in node:
        del node[last]
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        # Marked, not deleted: the other errors' indices into this list must stay valid.
        node[last] = _PRUNED


def _drop_pruned(data: Any) -> Any:
    """`data` without the list elements `_prune` marked."""
    if isinstance(data, dict):
        return {k: _drop_pruned(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_drop_pruned(v) for v in data if v is not _PRUNED]
    return data


_PRUNED = object()


def _as_details(error: ErrorDetails) -> InitErrorDetails:
    """An error already rendered, carried over with its type, location and message."""
    return InitErrorDetails(
        type=PydanticCustomError(error["type"], "{message}", {"message": error["msg"]}),
        loc=error["loc"],
        input=error["input"],
    )


def _error(loc: tuple[str | int, ...], value: Any, message: str) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("tenant_spec", "{message}", {"message": message}),
        loc=loc,
        input=value,
    )


def _violations(spec: TenantSpec) -> list[InitErrorDetails]:
    """Every place the spec breaks its plan's limits or its residency."""
    plan = spec.plan_entry
    limits = plan.limits
    name = plan.name.value
    out: list[InitErrorDetails] = []

    allowed_regions = REGIONS_BY_RESIDENCY[spec.residency]
    if spec.region not in allowed_regions:
        out.append(
            _error(
                ("region",),
                spec.region,
                f"region {spec.region!r} is outside residency {spec.residency.value!r}; "
                f"allowed: {', '.join(allowed_regions)}",
            )
        )

    instance_type = spec.effective_instance_type
    if instance_type not in limits.instance_types:
        out.append(
            _error(
                ("compute", "instance_type"),
                instance_type,
                f"instance type {instance_type!r} is not allowed on plan {name!r}; "
                f"allowed: {', '.join(limits.instance_types)}",
            )
        )

    min_size, desired, max_size = spec.configured_capacity
    if max_size > limits.max_instances:
        out.append(
            _error(
                ("compute", "max_size"),
                max_size,
                f"max_size {max_size} exceeds plan {name!r} limit of {limits.max_instances}",
            )
        )
    if not min_size <= desired <= max_size:
        out.append(
            _error(
                ("compute", "desired_capacity"),
                desired,
                f"need min_size <= desired_capacity <= max_size, got "
                f"{min_size} <= {desired} <= {max_size}",
            )
        )
    for i, schedule in enumerate(spec.compute.schedules):
        if not limits.schedules:
            out.append(
                _error(
                    ("compute", "schedules", i),
                    schedule.name,
                    f"scheduled scaling is not available on plan {name!r}",
                )
            )
        elif schedule.max_size > limits.max_instances:
            out.append(
                _error(
                    ("compute", "schedules", i, "max_size"),
                    schedule.max_size,
                    f"max_size {schedule.max_size} exceeds plan {name!r} limit of "
                    f"{limits.max_instances}",
                )
            )

    if spec.effective_az_count > limits.max_az_count:
        out.append(
            _error(
                ("network", "az_count"),
                spec.effective_az_count,
                f"az_count {spec.effective_az_count} exceeds plan {name!r} limit of "
                f"{limits.max_az_count}",
            )
        )
    if spec.effective_nat not in limits.nat_strategies:
        allowed = ", ".join(s.value for s in limits.nat_strategies)
        out.append(
            _error(
                ("network", "nat"),
                spec.effective_nat.value,
                f"NAT strategy {spec.effective_nat.value!r} is not allowed on plan {name!r}; "
                f"allowed: {allowed}",
            )
        )

    if spec.effective_quota_gb > limits.storage_quota_gb:
        out.append(
            _error(
                ("storage", "quota_gb"),
                spec.effective_quota_gb,
                f"quota_gb {spec.effective_quota_gb} exceeds plan {name!r} limit of "
                f"{limits.storage_quota_gb}",
            )
        )
    if len(spec.storage.buckets) > limits.max_buckets:
        out.append(
            _error(
                ("storage", "buckets"),
                len(spec.storage.buckets),
                f"{len(spec.storage.buckets)} buckets exceed plan {name!r} limit of "
                f"{limits.max_buckets}",
            )
        )
    low, high = limits.retention_days
    if not low <= spec.effective_retention_days <= high:
        out.append(
            _error(
                ("storage", "retention_days"),
                spec.effective_retention_days,
                f"retention_days {spec.effective_retention_days} is outside plan {name!r} "
                f"range {low}-{high}",
            )
        )
    if spec.storage.table is not None and not limits.table:
        out.append(
            _error(("storage", "table"), "table", f"a table is not available on plan {name!r}")
        )
    if spec.isolation is Isolation.SILO and not limits.silo_account:
        out.append(
            _error(
                ("isolation",),
                spec.isolation.value,
                f"a silo account is not available on plan {name!r}; allowed: pool",
            )
        )
    silo_cell = silo_cell_name(spec.tenant_id)
    if spec.cell is not None and (spec.isolation is Isolation.SILO) != (
        spec.cell.name == silo_cell
    ):
        wanted = (
            f"its own cell {silo_cell!r}" if spec.isolation is Isolation.SILO else "a pool cell"
        )
        out.append(
            _error(
                ("cell", "name"),
                spec.cell.name,
                f"a {spec.isolation.value} tenant is placed in {wanted}",
            )
        )
    if spec.operator is not None and not limits.operator_role:
        out.append(
            _error(
                ("operator",),
                spec.operator.account_id,
                f"an operator role is not available on plan {name!r}",
            )
        )
    out.extend(_endpoint_violations(spec))
    out.extend(_telephony_violations(spec))
    out.extend(_connectivity_violations(spec))
    out.extend(_mail_violations(spec))
    return out


def _offered_on(addon: AddonName, offers: Mapping[PlanName, object]) -> str:
    return f"add-on {addon.value!r} is offered on plans: {', '.join(p.value for p in offers)}"


def _endpoint_violations(spec: TenantSpec) -> list[InitErrorDetails]:
    endpoint = spec.addons.endpoint
    if endpoint is None:
        return []
    name = spec.plan.value
    offer = ENDPOINT_ADDON.offers.get(spec.plan)
    if offer is None:
        return [
            _error(
                ("addons", "endpoint"),
                name,
                f"a public endpoint is not available on plan {name!r}; "
                + _offered_on(AddonName.ENDPOINT, ENDPOINT_ADDON.offers),
            )
        ]
    out: list[InitErrorDetails] = []
    if spec.effective_az_count < 2:
        out.append(
            _error(
                ("network", "az_count"),
                spec.effective_az_count,
                f"az_count {spec.effective_az_count} is too small for a public endpoint; "
                "a load balancer needs at least 2",
            )
        )
    if endpoint.domain is not None and not offer.custom_domain:
        out.append(
            _error(
                ("addons", "endpoint", "domain"),
                endpoint.domain,
                f"a custom domain is not available on plan {name!r}; the endpoint is "
                f"{spec.tenant_id}.{PLATFORM_DOMAIN}",
            )
        )
    if endpoint.rate_limit is not None:
        low, high = offer.rate_limit
        if not offer.waf:
            out.append(
                _error(
                    ("addons", "endpoint", "rate_limit"),
                    endpoint.rate_limit,
                    f"a rate limit needs WAF, which plan {name!r} does not include",
                )
            )
        elif not low <= endpoint.rate_limit <= high:
            out.append(
                _error(
                    ("addons", "endpoint", "rate_limit"),
                    endpoint.rate_limit,
                    f"rate_limit {endpoint.rate_limit} is outside plan {name!r} range {low}-{high}",
                )
            )
    return out


def _telephony_violations(spec: TenantSpec) -> list[InitErrorDetails]:
    telephony = spec.addons.telephony
    if telephony is None:
        return []
    name = spec.plan.value
    offer = TELEPHONY_ADDON.offers.get(spec.plan)
    if offer is None:
        return [
            _error(
                ("addons", "telephony"),
                name,
                f"telephony is not available on plan {name!r}; "
                + _offered_on(AddonName.TELEPHONY, TELEPHONY_ADDON.offers),
            )
        ]
    out: list[InitErrorDetails] = []
    if spec.region not in TELEPHONY_ADDON.regions:
        out.append(
            _error(
                ("region",),
                spec.region,
                f"telephony (Amazon Connect) is not available in region {spec.region!r}; "
                f"available: {', '.join(TELEPHONY_ADDON.regions)}",
            )
        )
    if telephony.lines > offer.max_lines:
        out.append(
            _error(
                ("addons", "telephony", "lines"),
                telephony.lines,
                f"{telephony.lines} lines exceed plan {name!r} limit of {offer.max_lines}",
            )
        )
    if telephony.voicemail and not offer.voicemail:
        out.append(
            _error(
                ("addons", "telephony", "voicemail"),
                True,
                f"voicemail is not available on plan {name!r}",
            )
        )
    return out


def _connectivity_violations(spec: TenantSpec) -> list[InitErrorDetails]:
    connectivity = spec.addons.connectivity
    if connectivity is None:
        return []
    name = spec.plan.value
    offer = CONNECTIVITY_ADDON.offers.get(spec.plan)
    if offer is None:
        return [
            _error(
                ("addons", "connectivity"),
                name,
                f"private connectivity is not available on plan {name!r}; "
                + _offered_on(AddonName.CONNECTIVITY, CONNECTIVITY_ADDON.offers),
            )
        ]
    out: list[InitErrorDetails] = []
    if len(connectivity.sites) > offer.max_sites:
        out.append(
            _error(
                ("addons", "connectivity", "sites"),
                len(connectivity.sites),
                f"{len(connectivity.sites)} sites exceed plan {name!r} limit of {offer.max_sites}",
            )
        )
    for i, site in enumerate(connectivity.sites):
        for j, route in enumerate(site.static_routes):
            if route.overlaps(spec.network.cidr):
                out.append(
                    _error(
                        ("addons", "connectivity", "sites", i, "static_routes", j),
                        str(route),
                        f"office network {route} overlaps the tenant VPC {spec.network.cidr}",
                    )
                )
    return out


def _mail_violations(spec: TenantSpec) -> list[InitErrorDetails]:
    mail = spec.addons.mail
    if mail is None:
        return []
    name = spec.plan.value
    offer = MAIL_ADDON.offers.get(spec.plan)
    if offer is None:
        return [
            _error(
                ("addons", "mail"),
                name,
                f"e-mail sending is not available on plan {name!r}; "
                + _offered_on(AddonName.MAIL, MAIL_ADDON.offers),
            )
        ]
    out: list[InitErrorDetails] = []
    if mail.domain is not None and not offer.custom_domain:
        out.append(
            _error(
                ("addons", "mail", "domain"),
                mail.domain,
                f"a custom sending domain is not available on plan {name!r}; mail is sent "
                f"from {spec.tenant_id}.{PLATFORM_DOMAIN}",
            )
        )
    if mail.daily_quota is not None and mail.daily_quota > offer.max_daily_quota:
        out.append(
            _error(
                ("addons", "mail", "daily_quota"),
                mail.daily_quota,
                f"daily_quota {mail.daily_quota} exceeds plan {name!r} limit of "
                f"{offer.max_daily_quota}",
            )
        )
    return out


def _pattern_meanings(*aliases: Any) -> dict[str, str]:
    """pattern -> the description people read, for the constrained string types."""
    meanings: dict[str, str] = {}
    for alias in aliases:
        metadata = get_args(alias)[1:]
        patterns = [m.pattern for m in metadata if isinstance(m, StringConstraints)]
        descriptions = [getattr(m, "description", None) for m in metadata]
        described = [d for d in descriptions if d]
        if patterns and described:
            meanings[str(patterns[0])] = described[0].rstrip(".")
    return meanings


_PATTERN_MEANINGS = _pattern_meanings(Slug, TenantId, CronExpression)


MAX_ECHOED_VALUE = 80
"""Characters of a bad value an error message shows (the rest is elided)."""
MAX_ERROR_MESSAGE = 400
"""Characters of one error's message."""
MAX_ERRORS_SHOWN = 50
"""Errors listed in one report; the rest are counted."""


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with what was elided said."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def format_validation_error(error: ValidationError) -> str:
    """One line per offending field: `path: message (got value)`, each value clipped; a
    value that misses a pattern gets what the field allows in words, never the regular
    expression."""
    lines = []
    items = error.errors(include_url=False)
    for item in items[:MAX_ERRORS_SHOWN]:
        path = clip(".".join(str(p) for p in item["loc"]) or "<spec>", MAX_ECHOED_VALUE)
        message = clip(item["msg"], MAX_ERROR_MESSAGE)
        pattern = (item.get("ctx") or {}).get("pattern")
        if item["type"] == "string_pattern_mismatch" and pattern in _PATTERN_MEANINGS:
            message = f"allowed: {_PATTERN_MEANINGS[pattern]}"
        if item["type"] not in ("tenant_spec", "tenant_id", "missing"):
            message = f"{message} (got {_echo(item['input'])})"
        lines.append(f"  {path}: {message}")
    count = len(items)
    if count > MAX_ERRORS_SHOWN:
        lines.append(f"  ... and {count - MAX_ERRORS_SHOWN} more errors")
    return f"invalid tenant spec, {count} error{'s' if count != 1 else ''}:\n" + "\n".join(lines)


def _echo(value: Any) -> str:
    """A bad value as shown in an error, never more than `MAX_ECHOED_VALUE` characters.

    Containers are described, not printed: their repr could be huge (even unbounded, for
    a value built from shared references) before any clipping happened.
    """
    if isinstance(value, dict | list | tuple | set):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, str | bytes) and len(value) > MAX_ECHOED_VALUE:
        return f"{value[:MAX_ECHOED_VALUE]!r}... ({len(value)} characters)"
    return clip(repr(value), MAX_ECHOED_VALUE)
