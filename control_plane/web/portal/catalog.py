"""The plan and add-on catalog as the pages show it: side by side, with prices and limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from components.plans import (
    CATALOG,
    CONNECTIVITY_ADDON,
    ENDPOINT_ADDON,
    MAIL_ADDON,
    TELEPHONY_ADDON,
    AddonName,
    AddonPricing,
    Plan,
    PlanName,
)
from components.spec import REGIONS_BY_RESIDENCY
from control_plane.billing.render import money

ADDONS_WITHOUT_SETTINGS = (AddonName.ENDPOINT, AddonName.MAIL)
"""Add-ons a tenant can start with on their plan's defaults (the others need settings:
they are set up on the tenant's Add-ons page once it exists)."""


@dataclass(frozen=True)
class AddonOffer:
    name: AddonName
    title: str
    pricing: AddonPricing
    plans: tuple[PlanName, ...]
    """The plans that may have it."""

    @property
    def price(self) -> str:
        p = self.pricing
        return f"{money(p.monthly_per_unit, p.currency)} per {p.unit} a month"

    @property
    def usage_price(self) -> str:
        """`$0.018 per min beyond 100 min included per line each month`."""
        p = self.pricing
        included = f"{p.included_usage_per_unit.normalize():,f} {p.usage_unit}"
        return (
            f"{money(p.usage_price, p.currency)} per {p.usage_unit} beyond {included} "
            f"included per {p.unit} each month"
        )


def plans() -> list[Plan]:
    return sorted(CATALOG.values(), key=lambda p: p.rank)


def plan_features(plan: Plan) -> list[str]:
    """What the plan includes, in words, from its defaults and limits."""
    d, lim = plan.defaults, plan.limits
    level = plan.service_level
    return [
        f"{d.instance_type} workers, {d.min_size}-{d.max_size} by default, up to "
        f"{lim.max_instances}",
        f"Instance types: {', '.join(lim.instance_types)}",
        f"{d.storage_quota_gb} GB storage (up to {lim.storage_quota_gb} GB), "
        f"{lim.max_buckets} bucket(s)",
        f"{d.az_count} availability zone(s) (up to {lim.max_az_count}), NAT {d.nat.value}",
        f"Retention {lim.retention_days[0]}-{lim.retention_days[1]} days",
        "Database table" if lim.table else "No database table",
        "Scheduled scaling" if lim.schedules else "No scheduled scaling",
        f"Availability objective {level.availability_percent}% with service credits"
        if level
        else "Best effort, no availability objective",
    ]


def monthly(plan: Plan) -> str:
    return money(plan.pricing.monthly, plan.pricing.currency)


def price_difference(current: Plan, target: Plan) -> str:
    """`+$250.00` / `-$49.00` a month, from `current` to `target`."""
    delta: Decimal = target.pricing.monthly - current.pricing.monthly
    sign = "+" if delta >= 0 else "-"
    return f"{sign}{money(abs(delta), target.pricing.currency)}"


def addons() -> list[AddonOffer]:
    return [
        AddonOffer(a.name, a.title, a.pricing, tuple(a.offers))
        for a in (ENDPOINT_ADDON, MAIL_ADDON, TELEPHONY_ADDON, CONNECTIVITY_ADDON)
    ]


def regions() -> dict[str, tuple[str, ...]]:
    """Residency (what the data stays in) -> its regions."""
    return {residency.value: regions for residency, regions in REGIONS_BY_RESIDENCY.items()}
