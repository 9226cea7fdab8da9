"""The plan catalog: what each plan gives a tenant by default, what it allows, and what it costs.

Limits are hard: a tenant override outside its plan's limits is a validation error (see
`components.spec`). Prices feed the invoices; they are `Decimal` in the catalog's currency.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PlanName(StrEnum):
    """The plans a tenant can subscribe to, cheapest first."""

    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class NatStrategy(StrEnum):
    """How private subnets reach the internet."""

    NONE = "none"
    """No NAT: private subnets reach only S3 (gateway endpoint) and the VPC."""
    SINGLE = "single"
    """One NAT gateway shared by every AZ (cheaper, one AZ of failure)."""
    PER_AZ = "per-az"
    """One NAT gateway per AZ (highly available)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanDefaults(_Frozen):
    """Values a tenant gets when its spec does not override them."""

    instance_type: str
    """EC2 instance type of the tenant's workers."""
    min_size: int
    """Autoscaling group minimum."""
    desired_capacity: int
    """Autoscaling group desired capacity."""
    max_size: int
    """Autoscaling group maximum."""
    az_count: int
    """Availability zones the network spans."""
    nat: NatStrategy
    """NAT strategy of the private subnets."""
    storage_quota_gb: int
    """Storage the tenant may use across its buckets before the quota alarm fires."""
    retention_days: int
    """Days noncurrent object versions, access logs and flow logs are kept."""
    budget_usd: Decimal
    """Monthly AWS cost budget for the tenant's resources."""


class PlanLimits(_Frozen):
    """Hard limits: an override beyond these is rejected."""

    max_instances: int
    """Largest autoscaling maximum."""
    instance_types: tuple[str, ...]
    """Instance types the plan allows."""
    storage_quota_gb: int
    """Largest storage quota."""
    max_buckets: int
    """Most buckets a tenant may have."""
    max_az_count: int
    """Most availability zones."""
    nat_strategies: tuple[NatStrategy, ...]
    """NAT strategies the plan allows."""
    retention_days: tuple[int, int]
    """Inclusive range of retention days."""
    table: bool
    """Whether the plan includes a DynamoDB table."""
    access_logs: bool
    """Whether buckets get server access logs (paid plans)."""
    operator_role: bool
    """Whether the customer may have an operator role in its own AWS account."""
    schedules: bool
    """Whether scheduled scaling actions are allowed."""
    silo_account: bool = False
    """Whether the tenant may have an AWS account of its own (`isolation: silo`)."""


class PlanPricing(_Frozen):
    """Monthly price and overage rates, in `currency`."""

    currency: str = "USD"
    monthly: Decimal
    """Base price for a full billing period."""
    included_instance_hours: Decimal
    """Instance-hours included in the base price per period."""
    instance_hour: Decimal
    """Price of each instance-hour beyond the included ones."""
    included_storage_gb_months: Decimal
    """GB-months of storage included per period."""
    storage_gb_month: Decimal
    """Price of each GB-month beyond the included ones."""
    included_alarm_hours: Decimal
    """Hours of alarm-state monitoring included per period."""
    alarm_hour: Decimal
    """Price of each alarm-hour beyond the included ones (incident handling)."""


class ServiceCredit(_Frozen):
    """A credit the plan gives when the achieved availability falls below a threshold."""

    below_percent: Decimal
    """Achieved availability strictly below this earns the credit."""
    credit_percent: Decimal
    """Share of the period's base charges credited."""


class ServiceLevel(_Frozen):
    """What the plan promises about the tenant's service, and what a miss is worth.

    Availability is the share of five-minute intervals of the month, while the tenant is
    active, in which its autoscaling group had at least one instance in service.
    """

    availability_percent: Decimal
    """The objective, e.g. 99.9."""
    credits: tuple[ServiceCredit, ...]
    """Credit tiers; the largest credit whose threshold is missed applies."""

    @property
    def detection_minutes(self) -> int:
        """Minutes below capacity before the capacity-low alarm pages: a twentieth of the
        monthly error budget (30 days), between 1 and 15, so a page comes well before the
        objective is lost."""
        budget = Decimal(30 * 24 * 60) * (Decimal(100) - self.availability_percent) / 100
        return max(1, min(15, int(budget / 20)))

    def credit_percent(self, achieved_percent: Decimal) -> Decimal:
        missed = [c.credit_percent for c in self.credits if achieved_percent < c.below_percent]
        return max(missed, default=Decimal(0))


class Plan(_Frozen):
    """One entry of the catalog."""

    name: PlanName
    title: str
    defaults: PlanDefaults
    limits: PlanLimits
    pricing: PlanPricing
    service_level: ServiceLevel | None = None
    """None: best effort, no objective and no credits (the free plan)."""
    rank: int = Field(description="Order of the plans, for upgrade/downgrade decisions.")


_BURSTABLE_SMALL = ("t3.micro", "t4g.micro")
_BURSTABLE = ("t3.small", "t3.medium", "t4g.small", "t4g.medium")
_GENERAL = ("t3.large", "m6i.large", "m7g.large", "c6i.large", "c7g.large")
_LARGE = ("m6i.xlarge", "m7g.xlarge", "c6i.xlarge", "r6i.large", "r6i.xlarge", "m6i.2xlarge")

CATALOG: dict[PlanName, Plan] = {
    PlanName.FREE: Plan(
        name=PlanName.FREE,
        title="Free",
        rank=0,
        defaults=PlanDefaults(
            instance_type="t3.micro",
            min_size=1,
            desired_capacity=1,
            max_size=1,
            az_count=1,
            nat=NatStrategy.NONE,
            storage_quota_gb=5,
            retention_days=7,
            budget_usd=Decimal("25"),
        ),
        limits=PlanLimits(
            max_instances=1,
            instance_types=_BURSTABLE_SMALL,
            storage_quota_gb=5,
            max_buckets=1,
            max_az_count=1,
            nat_strategies=(NatStrategy.NONE,),
            retention_days=(7, 30),
            table=False,
            access_logs=False,
            operator_role=False,
            schedules=False,
        ),
        pricing=PlanPricing(
            monthly=Decimal("0"),
            included_instance_hours=Decimal("750"),
            instance_hour=Decimal("0.0200"),
            included_storage_gb_months=Decimal("5"),
            storage_gb_month=Decimal("0.10"),
            included_alarm_hours=Decimal("0"),
            alarm_hour=Decimal("0.00"),
        ),
    ),
    PlanName.STARTER: Plan(
        name=PlanName.STARTER,
        service_level=ServiceLevel(
            availability_percent=Decimal("99.5"),
            credits=(
                ServiceCredit(below_percent=Decimal("99.5"), credit_percent=Decimal("10")),
                ServiceCredit(below_percent=Decimal("99.0"), credit_percent=Decimal("25")),
            ),
        ),
        title="Starter",
        rank=1,
        defaults=PlanDefaults(
            instance_type="t3.small",
            min_size=1,
            desired_capacity=1,
            max_size=2,
            az_count=2,
            nat=NatStrategy.SINGLE,
            storage_quota_gb=50,
            retention_days=30,
            budget_usd=Decimal("150"),
        ),
        limits=PlanLimits(
            max_instances=3,
            instance_types=_BURSTABLE_SMALL + _BURSTABLE,
            storage_quota_gb=100,
            max_buckets=2,
            max_az_count=2,
            nat_strategies=(NatStrategy.NONE, NatStrategy.SINGLE),
            retention_days=(14, 90),
            table=True,
            access_logs=True,
            operator_role=False,
            schedules=True,
        ),
        pricing=PlanPricing(
            monthly=Decimal("49.00"),
            included_instance_hours=Decimal("1500"),
            instance_hour=Decimal("0.0300"),
            included_storage_gb_months=Decimal("50"),
            storage_gb_month=Decimal("0.08"),
            included_alarm_hours=Decimal("24"),
            alarm_hour=Decimal("0.50"),
        ),
    ),
    PlanName.PRO: Plan(
        name=PlanName.PRO,
        service_level=ServiceLevel(
            availability_percent=Decimal("99.9"),
            credits=(
                ServiceCredit(below_percent=Decimal("99.9"), credit_percent=Decimal("10")),
                ServiceCredit(below_percent=Decimal("99.5"), credit_percent=Decimal("25")),
                ServiceCredit(below_percent=Decimal("99.0"), credit_percent=Decimal("50")),
            ),
        ),
        title="Pro",
        rank=2,
        defaults=PlanDefaults(
            instance_type="t3.medium",
            min_size=2,
            desired_capacity=2,
            max_size=6,
            az_count=2,
            nat=NatStrategy.SINGLE,
            storage_quota_gb=500,
            retention_days=90,
            budget_usd=Decimal("900"),
        ),
        limits=PlanLimits(
            max_instances=10,
            instance_types=_BURSTABLE + _GENERAL,
            storage_quota_gb=1000,
            max_buckets=5,
            max_az_count=3,
            nat_strategies=(NatStrategy.SINGLE, NatStrategy.PER_AZ),
            retention_days=(30, 365),
            table=True,
            access_logs=True,
            operator_role=True,
            schedules=True,
        ),
        pricing=PlanPricing(
            monthly=Decimal("299.00"),
            included_instance_hours=Decimal("2920"),
            instance_hour=Decimal("0.0500"),
            included_storage_gb_months=Decimal("500"),
            storage_gb_month=Decimal("0.05"),
            included_alarm_hours=Decimal("48"),
            alarm_hour=Decimal("1.00"),
        ),
    ),
    PlanName.ENTERPRISE: Plan(
        name=PlanName.ENTERPRISE,
        service_level=ServiceLevel(
            availability_percent=Decimal("99.95"),
            credits=(
                ServiceCredit(below_percent=Decimal("99.95"), credit_percent=Decimal("10")),
                ServiceCredit(below_percent=Decimal("99.9"), credit_percent=Decimal("25")),
                ServiceCredit(below_percent=Decimal("99.0"), credit_percent=Decimal("50")),
            ),
        ),
        title="Enterprise",
        rank=3,
        defaults=PlanDefaults(
            instance_type="m6i.large",
            min_size=3,
            desired_capacity=3,
            max_size=12,
            az_count=3,
            nat=NatStrategy.PER_AZ,
            storage_quota_gb=5000,
            retention_days=365,
            budget_usd=Decimal("6000"),
        ),
        limits=PlanLimits(
            max_instances=50,
            instance_types=_GENERAL + _LARGE,
            storage_quota_gb=20000,
            max_buckets=10,
            max_az_count=3,
            nat_strategies=(NatStrategy.SINGLE, NatStrategy.PER_AZ),
            retention_days=(90, 3653),
            table=True,
            access_logs=True,
            operator_role=True,
            schedules=True,
            silo_account=True,
        ),
        pricing=PlanPricing(
            monthly=Decimal("1999.00"),
            included_instance_hours=Decimal("8760"),
            instance_hour=Decimal("0.0400"),
            included_storage_gb_months=Decimal("5000"),
            storage_gb_month=Decimal("0.03"),
            included_alarm_hours=Decimal("168"),
            alarm_hour=Decimal("0.75"),
        ),
    ),
}


def get_plan(name: PlanName | str) -> Plan:
    """The catalog entry for `name`; a `KeyError` names the known plans."""
    try:
        return CATALOG[PlanName(name)]
    except ValueError:
        known = ", ".join(p.value for p in PlanName)
        raise KeyError(f"unknown plan {name!r}; known plans: {known}") from None


class AddonName(StrEnum):
    """Services a tenant can add to its plan's bundle."""

    ENDPOINT = "endpoint"
    """A public HTTPS endpoint: load balancer, certificate, DNS name, WAF on some plans."""
    TELEPHONY = "telephony"
    """Phone lines on Amazon Connect: call forwarding and voicemail."""
    CONNECTIVITY = "connectivity"
    """Site-to-site VPN from the tenant's VPC to the customer's offices."""
    MAIL = "mail"
    """E-mail sending from the tenant's domain on SES, DKIM-signed."""


class EndpointOffer(_Frozen):
    """What the public endpoint gives a tenant on one plan."""

    waf: bool
    """Whether AWS WAF (managed rule groups and a per-IP rate limit) guards the endpoint."""
    rate_limit: tuple[int, int]
    """Inclusive range of the per-IP rate limit, in requests per 5 minutes (WAF plans)."""
    default_rate_limit: int
    """Rate limit when the spec does not set one (WAF plans)."""
    custom_domain: bool
    """Whether the tenant may bring its own domain instead of `<tenant>.<platform domain>`."""


class TelephonyOffer(_Frozen):
    """What telephony gives a tenant on one plan."""

    max_lines: int
    """Most phone numbers the tenant may claim."""
    voicemail: bool
    """Whether lines may take voicemail."""


class ConnectivityOffer(_Frozen):
    """What private connectivity gives a tenant on one plan."""

    max_sites: int
    """Most customer sites (one VPN connection, two tunnels, each)."""


class MailOffer(_Frozen):
    """What e-mail sending gives a tenant on one plan."""

    max_daily_quota: int
    """Largest daily sending quota (e-mails per day)."""
    default_daily_quota: int
    """Daily sending quota when the spec does not set one."""
    custom_domain: bool
    """Whether the tenant may send from its own domain instead of `<tenant>.<platform>`."""


class AddonPricing(_Frozen):
    """Monthly fee per unit (the endpoint, or one phone line) and usage above the included."""

    currency: str = "USD"
    unit: str
    """What the monthly fee is counted in."""
    monthly_per_unit: Decimal
    """Price of one unit for a full billing period."""
    usage_unit: str
    """What usage is metered in."""
    included_usage_per_unit: Decimal
    """Usage included per unit and full period."""
    usage_price: Decimal
    """Price of each usage unit beyond the included ones."""


class EndpointAddon(_Frozen):
    name: Literal[AddonName.ENDPOINT] = AddonName.ENDPOINT
    title: str = "Public endpoint"
    offers: dict[PlanName, EndpointOffer]
    """The plans that may have the add-on, and what each gets."""
    pricing: AddonPricing


class TelephonyAddon(_Frozen):
    name: Literal[AddonName.TELEPHONY] = AddonName.TELEPHONY
    title: str = "Telephony"
    offers: dict[PlanName, TelephonyOffer]
    """The plans that may have the add-on, and what each gets."""
    pricing: AddonPricing
    regions: tuple[str, ...]
    """Regions where Amazon Connect runs (of the platform's supported regions)."""


_CONNECT_REGIONS = (
    "us-east-1", "us-west-2", "eu-central-1", "eu-west-2", "ap-southeast-1", "ap-southeast-2",
    "ap-northeast-1",
)  # fmt: skip


class ConnectivityAddon(_Frozen):
    name: Literal[AddonName.CONNECTIVITY] = AddonName.CONNECTIVITY
    title: str = "Private connectivity"
    offers: dict[PlanName, ConnectivityOffer]
    """The plans that may have the add-on, and what each gets."""
    pricing: AddonPricing


class MailAddon(_Frozen):
    name: Literal[AddonName.MAIL] = AddonName.MAIL
    title: str = "E-mail"
    offers: dict[PlanName, MailOffer]
    """The plans that may have the add-on, and what each gets."""
    pricing: AddonPricing


ENDPOINT_ADDON = EndpointAddon(
    # Free tenants have one AZ and no log bucket: a load balancer needs two and logs access.
    offers={
        PlanName.STARTER: EndpointOffer(
            waf=False, rate_limit=(0, 0), default_rate_limit=0, custom_domain=False
        ),
        PlanName.PRO: EndpointOffer(
            waf=True, rate_limit=(100, 20_000), default_rate_limit=2_000, custom_domain=True
        ),
        PlanName.ENTERPRISE: EndpointOffer(
            waf=True, rate_limit=(100, 100_000), default_rate_limit=5_000, custom_domain=True
        ),
    },
    pricing=AddonPricing(
        unit="endpoint",
        monthly_per_unit=Decimal("18.00"),
        usage_unit="LCU-h",
        included_usage_per_unit=Decimal("720"),
        usage_price=Decimal("0.0100"),
    ),
)

TELEPHONY_ADDON = TelephonyAddon(
    offers={
        PlanName.STARTER: TelephonyOffer(max_lines=2, voicemail=False),
        PlanName.PRO: TelephonyOffer(max_lines=10, voicemail=True),
        PlanName.ENTERPRISE: TelephonyOffer(max_lines=50, voicemail=True),
    },
    pricing=AddonPricing(
        unit="line",
        monthly_per_unit=Decimal("5.00"),
        usage_unit="min",
        included_usage_per_unit=Decimal("100"),
        usage_price=Decimal("0.0180"),
    ),
    regions=_CONNECT_REGIONS,
)

CONNECTIVITY_ADDON = ConnectivityAddon(
    offers={
        PlanName.PRO: ConnectivityOffer(max_sites=1),
        PlanName.ENTERPRISE: ConnectivityOffer(max_sites=4),
    },
    pricing=AddonPricing(
        unit="site",
        monthly_per_unit=Decimal("45.00"),
        usage_unit="connection-h",
        included_usage_per_unit=Decimal("744"),
        usage_price=Decimal("0.0600"),
    ),
)

MAIL_ADDON = MailAddon(
    offers={
        PlanName.STARTER: MailOffer(
            max_daily_quota=1_000, default_daily_quota=200, custom_domain=False
        ),
        PlanName.PRO: MailOffer(
            max_daily_quota=20_000, default_daily_quota=5_000, custom_domain=True
        ),
        PlanName.ENTERPRISE: MailOffer(
            max_daily_quota=200_000, default_daily_quota=50_000, custom_domain=True
        ),
    },
    pricing=AddonPricing(
        unit="domain",
        monthly_per_unit=Decimal("9.00"),
        usage_unit="thousand e-mails",
        included_usage_per_unit=Decimal("10"),
        usage_price=Decimal("0.15"),
    ),
)

ADDON_PRICING: dict[AddonName, AddonPricing] = {
    AddonName.ENDPOINT: ENDPOINT_ADDON.pricing,
    AddonName.TELEPHONY: TELEPHONY_ADDON.pricing,
    AddonName.CONNECTIVITY: CONNECTIVITY_ADDON.pricing,
    AddonName.MAIL: MAIL_ADDON.pricing,
}
ADDON_TITLES: dict[AddonName, str] = {
    AddonName.ENDPOINT: ENDPOINT_ADDON.title,
    AddonName.TELEPHONY: TELEPHONY_ADDON.title,
    AddonName.CONNECTIVITY: CONNECTIVITY_ADDON.title,
    AddonName.MAIL: MAIL_ADDON.title,
}
