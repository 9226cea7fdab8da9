"""`TenantSpec`: the one contract that flows from the billing edge to the Pulumi program.

A spec holds what the tenant (or an operator) chose; anything left out falls back to the
plan's defaults through the `effective_*` properties, so a plan change re-derives every
default instead of freezing the old plan's values into the spec. Every override is
checked against the plan's hard limits, and all violations are reported together, each
with its field path, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

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

from components.plans import NatStrategy, Plan, PlanName, get_plan

RESERVED_TAG_KEYS = ("tenant", "plan", "managed-by", "cost-center")
"""Tags every taggable resource carries; set by the bundle, never by the spec's `tags`."""

MANAGED_BY = "tenants-platform"


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
TenantId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$"),
    Field(
        description="DNS-safe slug: lower-case letters, digits and hyphens, 3-20 characters, "
        "starting with a letter; it prefixes bucket names, so it is kept short."
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
            for error in first.errors():
                _prune(pruned, error["loc"])
            # Required fields that no plan check reads get a neutral stand-in.
            pruned.setdefault("tenant_id", "placeholder")
            network = pruned.get("network")
            if isinstance(network, dict):
                network.setdefault("cidr", "10.0.0.0/16")
            try:
                candidate = handler(pruned)
            except ValidationError as second:
                limits = [_as_details(e) for e in second.errors() if e["type"] == "tenant_spec"]
            else:
                limits = _violations(candidate)
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
    return out


def format_validation_error(error: ValidationError) -> str:
    """One line per offending field: `path: message (got value)`."""
    lines = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in item["loc"]) or "<spec>"
        message = item["msg"]
        if item["type"] not in ("tenant_spec", "missing"):
            message = f"{message} (got {item['input']!r})"
        lines.append(f"  {path}: {message}")
    count = len(lines)
    return f"invalid tenant spec, {count} error{'s' if count != 1 else ''}:\n" + "\n".join(lines)
