"""The add-ons form <-> a JSON merge patch of the spec's `addons`. Each add-on is enabled
by its checkbox (the whole add-on replaced by the form's fields) or removed; a blank field
takes the spec's default. Limits are the spec's: the service validates the merged spec and
names the field and the limit. What each add-on costs and which plans have it is the
catalog's, shown beside the form."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from components.plans import (
    CONNECTIVITY_ADDON,
    ENDPOINT_ADDON,
    MAIL_ADDON,
    TELEPHONY_ADDON,
    AddonName,
    ConnectivityOffer,
    EndpointOffer,
    MailOffer,
    TelephonyOffer,
)
from components.spec import PLATFORM_DOMAIN, TenantSpec, Weekday
from control_plane.web.portal import catalog
from control_plane.web.portal.forms import FormError, lines, number

ON = "on"
"""What a checked checkbox sends."""
FIELDS = (
    "endpoint",
    "endpoint_domain",
    "endpoint_zone",
    "endpoint_health_check_path",
    "endpoint_rate_limit",
    "endpoint_redirect_http",
    "telephony",
    "telephony_lines",
    "telephony_country",
    "telephony_number_type",
    "telephony_forward_to",
    "telephony_forward_timeout_seconds",
    "telephony_voicemail",
    "telephony_time_zone",
    "telephony_days",
    "telephony_opens",
    "telephony_closes",
    "connectivity",
    "connectivity_sites",
    "mail",
    "mail_domain",
    "mail_zone",
    "mail_daily_quota",
    "mail_quota_alarm_percent",
)
SITE_FORMAT = "name | public IP | BGP ASN | static routes (blank: BGP)"
NUMBER_TYPES = {"DID": "Direct dial", "TOLL_FREE": "Toll-free"}
WEEKDAYS = tuple(Weekday)


@dataclass(frozen=True)
class AddonChoice:
    """One add-on as the page shows it to a tenant."""

    offer: catalog.AddonOffer
    """Its title, prices and the plans that may have it."""
    unavailable: str | None
    """Why this tenant cannot have it (and where it could), or None when it can."""


@dataclass(frozen=True)
class PlanOffers:
    """What the tenant's plan gives of each add-on (None: not on this plan)."""

    endpoint: EndpointOffer | None
    telephony: TelephonyOffer | None
    connectivity: ConnectivityOffer | None
    mail: MailOffer | None


def _plans(names: Iterable[str]) -> str:
    return ", ".join(str(n) for n in names)


def choices(spec: TenantSpec) -> list[AddonChoice]:
    """Every add-on of the catalog, each with why this tenant cannot have it, if so."""
    out = []
    for offer in catalog.addons():
        reason = None
        if spec.plan not in offer.plans:
            reason = (
                f"Not on the {spec.plan.value} plan: available on the "
                f"{_plans(offer.plans)} plans (change the plan first)."
            )
        elif offer.name is AddonName.TELEPHONY and spec.region not in TELEPHONY_ADDON.regions:
            reason = (
                f"Not in region {spec.region}: Amazon Connect runs in "
                f"{_plans(TELEPHONY_ADDON.regions)}."
            )
        out.append(AddonChoice(offer, reason))
    return out


def plan_offers(spec: TenantSpec) -> PlanOffers:
    return PlanOffers(
        ENDPOINT_ADDON.offers.get(spec.plan),
        TELEPHONY_ADDON.offers.get(spec.plan),
        CONNECTIVITY_ADDON.offers.get(spec.plan),
        MAIL_ADDON.offers.get(spec.plan),
    )


def feature_plans() -> dict[str, str]:
    """The plans that include each add-on feature some plans lack, e.g. WAF."""
    return {
        "endpoint_domain": _plans(p for p, o in ENDPOINT_ADDON.offers.items() if o.custom_domain),
        "endpoint_waf": _plans(p for p, o in ENDPOINT_ADDON.offers.items() if o.waf),
        "telephony_voicemail": _plans(p for p, o in TELEPHONY_ADDON.offers.items() if o.voicemail),
        "mail_domain": _plans(p for p, o in MAIL_ADDON.offers.items() if o.custom_domain),
    }


def page_values(spec: TenantSpec) -> dict[str, Any]:
    """What the add-ons page shows beside the form."""
    return {
        "choices": choices(spec),
        "feature_plans": feature_plans(),
        "platform_name": f"{spec.tenant_id}.{PLATFORM_DOMAIN}",
        "offers": plan_offers(spec),
        "plan": spec.plan.value,
        "on": ON,
        "site_format": SITE_FORMAT,
        "number_types": NUMBER_TYPES,
        "weekdays": WEEKDAYS,
    }


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _check(value: bool) -> str:
    return ON if value else ""


def form_values(spec: TenantSpec) -> dict[str, str]:
    """The form's fields for the current desired spec; a disabled add-on shows the spec's
    defaults, ready to be enabled."""
    addons = spec.addons
    values = dict.fromkeys(FIELDS, "")
    endpoint = addons.endpoint
    values |= {
        "endpoint": _check(endpoint is not None),
        "endpoint_domain": _text(endpoint and endpoint.domain),
        "endpoint_zone": _text(endpoint and endpoint.zone),
        "endpoint_health_check_path": endpoint.health_check_path if endpoint else "/healthz",
        "endpoint_rate_limit": _text(endpoint and endpoint.rate_limit),
        "endpoint_redirect_http": _check(endpoint.redirect_http if endpoint else True),
    }
    telephony = addons.telephony
    values |= {"telephony": _check(telephony is not None), "telephony_number_type": "DID"}
    values |= {
        "telephony_lines": "1",
        "telephony_forward_timeout_seconds": "30",
        "telephony_time_zone": "UTC",
        "telephony_days": ",".join(WEEKDAYS[:5]),
        "telephony_opens": "09:00",
        "telephony_closes": "17:00",
    }
    if telephony is not None:
        values |= {
            "telephony_lines": str(telephony.lines),
            "telephony_country": telephony.country,
            "telephony_number_type": telephony.number_type,
            "telephony_forward_to": _text(telephony.forward_to),
            "telephony_forward_timeout_seconds": str(telephony.forward_timeout_seconds),
            "telephony_voicemail": _check(telephony.voicemail),
            "telephony_time_zone": telephony.hours.time_zone,
            "telephony_days": ",".join(telephony.hours.days),
            "telephony_opens": telephony.hours.opens,
            "telephony_closes": telephony.hours.closes,
        }
    connectivity = addons.connectivity
    values |= {
        "connectivity": _check(connectivity is not None),
        "connectivity_sites": "\n".join(
            " | ".join(
                [site.name, str(site.public_ip), str(site.bgp_asn)]
                + ([" ".join(str(r) for r in site.static_routes)] if site.static_routes else [])
            )
            for site in (connectivity.sites if connectivity else ())
        ),
    }
    mail = addons.mail
    values |= {
        "mail": _check(mail is not None),
        "mail_domain": _text(mail and mail.domain),
        "mail_zone": _text(mail and mail.zone),
        "mail_daily_quota": _text(mail and mail.daily_quota),
        "mail_quota_alarm_percent": f"{mail.quota_alarm_percent:g}" if mail else "80",
    }
    return values


def _blank_is_default(value: str) -> str | None:
    return value.strip() or None


def _sites(value: str, problems: list[str]) -> list[dict[str, Any]]:
    sites = []
    for n, line in lines(value, "addons.connectivity.sites", problems):
        parts = [p.strip() for p in line.split("|")]
        if not 2 <= len(parts) <= 4:
            problems.append(f"addons.connectivity.sites line {n}: expected `{SITE_FORMAT}`")
            continue
        site: dict[str, Any] = {"name": parts[0], "public_ip": parts[1]}
        asn = (
            number(parts[2], f"addons.connectivity.sites line {n}", problems)
            if len(parts) > 2
            else None
        )
        if asn is not None:
            site["bgp_asn"] = asn
        if len(parts) == 4 and parts[3]:
            site["static_routes"] = re.split(r"[\s,]+", parts[3])
        sites.append(site)
    return sites


def to_patch(values: dict[str, str]) -> dict[str, Any]:
    """The merge patch of `addons` the form asks for; `FormError` names every field that
    does not parse. An enabled add-on is sent whole, so a blank field resets to default."""
    problems: list[str] = []
    addons: dict[str, Any] = dict.fromkeys(AddonName, None)
    if values["endpoint"] == ON:
        addons[AddonName.ENDPOINT] = {
            "domain": _blank_is_default(values["endpoint_domain"]),
            "zone": _blank_is_default(values["endpoint_zone"]),
            "health_check_path": _blank_is_default(values["endpoint_health_check_path"]),
            "rate_limit": number(
                values["endpoint_rate_limit"], "addons.endpoint.rate_limit", problems
            ),
            "redirect_http": values["endpoint_redirect_http"] == ON,
        }
    if values["telephony"] == ON:
        days = [d.strip() for d in values["telephony_days"].split(",") if d.strip()]
        addons[AddonName.TELEPHONY] = {
            "lines": number(values["telephony_lines"], "addons.telephony.lines", problems),
            "country": _blank_is_default(values["telephony_country"].upper()),
            "number_type": _blank_is_default(values["telephony_number_type"]),
            "forward_to": _blank_is_default(values["telephony_forward_to"].replace(" ", "")),
            "forward_timeout_seconds": number(
                values["telephony_forward_timeout_seconds"],
                "addons.telephony.forward_timeout_seconds",
                problems,
            ),
            "voicemail": values["telephony_voicemail"] == ON,
            "hours": {
                "time_zone": _blank_is_default(values["telephony_time_zone"]),
                "days": days,
                "opens": _blank_is_default(values["telephony_opens"]),
                "closes": _blank_is_default(values["telephony_closes"]),
            },
        }
    if values["connectivity"] == ON:
        addons[AddonName.CONNECTIVITY] = {"sites": _sites(values["connectivity_sites"], problems)}
    if values["mail"] == ON:
        addons[AddonName.MAIL] = {
            "domain": _blank_is_default(values["mail_domain"]),
            "zone": _blank_is_default(values["mail_zone"]),
            "daily_quota": number(values["mail_daily_quota"], "addons.mail.daily_quota", problems),
            "quota_alarm_percent": number(
                values["mail_quota_alarm_percent"],
                "addons.mail.quota_alarm_percent",
                problems,
                float,
            ),
        }
    if problems:
        raise FormError(problems)
    return {"addons": {str(name): value for name, value in addons.items()}}
