"""The `addons` section of `TenantSpec`: catalog offers, plan limits and field validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from components.plans import (
    ENDPOINT_ADDON,
    TELEPHONY_ADDON,
    AddonName,
    PlanName,
    get_plan,
)
from components.spec import AddonsSpec, TenantSpec, format_validation_error
from planner.stacks import StackFiles
from tests.components.builders import make_spec

PHONE = {"country": "DE", "forward_to": "+4930123456"}


def errors_of(**overrides: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        make_spec(**overrides)
    return format_validation_error(caught.value).splitlines()[1:]


def test_every_plan_offering_an_endpoint_has_the_log_bucket_it_needs() -> None:
    for plan in ENDPOINT_ADDON.offers:
        assert get_plan(plan).limits.access_logs, plan


def test_free_plan_has_no_add_ons() -> None:
    assert errors_of(plan="free", addons={"endpoint": {}, "telephony": PHONE}) == [
        "  addons.endpoint: a public endpoint is not available on plan 'free'; add-on "
        "'endpoint' is offered on plans: starter, pro, enterprise",
        "  addons.telephony: telephony is not available on plan 'free'; add-on 'telephony' "
        "is offered on plans: starter, pro, enterprise",
    ]


def test_every_endpoint_limit_is_reported_at_once() -> None:
    assert errors_of(
        plan="starter",
        network={"az_count": 1},
        addons={"endpoint": {"domain": "app.acme.com", "rate_limit": 500}},
    ) == [
        "  network.az_count: az_count 1 is too small for a public endpoint; a load balancer "
        "needs at least 2",
        "  addons.endpoint.domain: a custom domain is not available on plan 'starter'; the "
        "endpoint is testco.tenants-platform.net",
        "  addons.endpoint.rate_limit: a rate limit needs WAF, which plan 'starter' does not "
        "include",
    ]


def test_rate_limit_outside_the_plan_range_names_the_range() -> None:
    assert errors_of(addons={"endpoint": {"rate_limit": 50}}) == [
        "  addons.endpoint.rate_limit: rate_limit 50 is outside plan 'pro' range 100-20000"
    ]


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ({"zone": "acme.com"}, "zone is set without a custom domain"),
        ({"domain": "app.acme.com", "zone": "globex.com"}, "is not inside zone 'globex.com'"),
        ({"domain": "acme.com"}, "needs a zone: it has no parent zone"),
        ({"domain": "App.acme.com"}, "String should match pattern"),
        ({"health_check_path": "healthz"}, "String should match pattern"),
        ({"waf": True}, "Extra inputs are not permitted"),
    ],
)
def test_bad_endpoint_fields(endpoint: dict[str, Any], message: str) -> None:
    (error,) = errors_of(addons={"endpoint": endpoint})
    assert error.startswith("  addons.endpoint") and message in error


def test_endpoint_defaults_follow_the_plan() -> None:
    pro = make_spec(addons={"endpoint": {}})
    assert pro.endpoint_domain == "testco.tenants-platform.net"
    assert pro.endpoint_zone == "tenants-platform.net"
    assert pro.endpoint_rate_limit == ENDPOINT_ADDON.offers[PlanName.PRO].default_rate_limit
    assert make_spec(plan="starter", addons={"endpoint": {}}).endpoint_rate_limit is None
    custom = make_spec(addons={"endpoint": {"domain": "app.acme.com", "rate_limit": 300}})
    assert (custom.endpoint_domain, custom.endpoint_zone) == ("app.acme.com", "acme.com")
    assert custom.endpoint_rate_limit == 300


def test_telephony_limits_and_region_reported_together() -> None:
    errors = errors_of(
        plan="starter", addons={"telephony": {**PHONE, "lines": 3, "voicemail": True}}
    )
    assert errors == [
        "  region: telephony (Amazon Connect) is not available in region 'eu-west-1'; "
        f"available: {', '.join(TELEPHONY_ADDON.regions)}",
        "  addons.telephony.lines: 3 lines exceed plan 'starter' limit of 2",
        "  addons.telephony.voicemail: voicemail is not available on plan 'starter'",
    ]


@pytest.mark.parametrize(
    ("telephony", "message"),
    [
        ({"forward_to": "030123456"}, "forward_to: String should match pattern"),
        ({"forward_to": "+0301234567"}, "forward_to: String should match pattern"),
        ({"forward_to": "+49301234567890123"}, "forward_to: String should match pattern"),
        ({"country": "de"}, "country: String should match pattern"),
        ({"country": None}, "country: Field required"),
        ({"number_type": "MOBILE"}, "number_type: Input should be 'DID' or 'TOLL_FREE'"),
        ({"lines": 0}, "lines: Input should be greater than or equal to 1"),
        ({"forward_to": None}, "needs forward_to, voicemail or both"),
    ],
)
def test_bad_telephony_fields(telephony: dict[str, Any], message: str) -> None:
    section = {k: v for k, v in {**PHONE, **telephony}.items() if v is not None}
    errors = errors_of(region="eu-central-1", addons={"telephony": section})
    assert len(errors) == 1 and message in errors[0], errors


def test_bad_telephony_section_and_a_plan_limit_elsewhere_are_reported_together() -> None:
    errors = errors_of(
        region="eu-central-1",
        compute={"max_size": 99},
        addons={
            "telephony": {
                **PHONE,
                "lines": 11,
                "hours": {"time_zone": "Mars/Olympus", "opens": "18:00", "days": []},
            }
        },
    )
    assert errors == [
        "  addons.telephony.hours.time_zone: Value error, unknown time zone 'Mars/Olympus'; "
        "use an IANA name like Europe/Berlin (got 'Mars/Olympus')",
        "  addons.telephony.hours.days: Value error, at least one open day is required "
        "(got a list of 0 items)",
        "  compute.max_size: max_size 99 exceeds plan 'pro' limit of 10",
        "  addons.telephony.lines: 11 lines exceed plan 'pro' limit of 10",
    ]


def test_hours_must_open_before_they_close() -> None:
    (error,) = errors_of(
        region="eu-central-1",
        addons={"telephony": {**PHONE, "hours": {"opens": "18:00", "closes": "09:00"}}},
    )
    assert "closes 09:00 is not after opens 18:00" in error


def test_units_count_the_endpoint_and_each_line() -> None:
    spec = make_spec(
        region="eu-central-1",
        addons={"endpoint": {}, "telephony": {**PHONE, "lines": 2}},
    )
    assert spec.addons.units() == {AddonName.ENDPOINT: 1, AddonName.TELEPHONY: 2}
    assert AddonsSpec().units() == {}


def test_addons_survive_a_plan_change_only_within_the_new_plan() -> None:
    spec = make_spec(region="eu-central-1", addons={"telephony": PHONE})
    assert spec.with_plan(PlanName.ENTERPRISE).addons == spec.addons
    with pytest.raises(ValidationError, match="telephony is not available on plan 'free'"):
        TenantSpec.model_validate({**spec.model_dump(mode="json"), "plan": "free"})


SITE = {"name": "hq", "public_ip": "8.8.4.4", "static_routes": ["192.168.10.0/24"]}


def test_connectivity_on_plans_and_within_their_site_limit() -> None:
    assert errors_of(plan="starter", addons={"connectivity": {"sites": [SITE]}}) == [
        "  addons.connectivity: private connectivity is not available on plan 'starter'; "
        "add-on 'connectivity' is offered on plans: pro, enterprise"
    ]
    two = [SITE, {**SITE, "name": "plant"}]
    assert errors_of(addons={"connectivity": {"sites": two}}) == [
        "  addons.connectivity.sites: 2 sites exceed plan 'pro' limit of 1"
    ]
    assert make_spec(addons={"connectivity": {"sites": [SITE]}}).addons.units() == {
        AddonName.CONNECTIVITY: 1
    }


@pytest.mark.parametrize(
    ("site", "message"),
    [
        ({"public_ip": "10.1.2.3"}, "10.1.2.3 is not a public address"),
        ({"public_ip": "300.1.2.3"}, "public_ip: Input is not a valid IPv4 address"),
        ({"bgp_asn": 0}, "bgp_asn: Input should be greater than or equal to 1"),
        (
            {"static_routes": ["10.80.4.0/24"]},
            "office network 10.80.4.0/24 overlaps the tenant VPC 10.80.0.0/20",
        ),
    ],
)
def test_bad_sites(site: dict[str, Any], message: str) -> None:
    errors = errors_of(addons={"connectivity": {"sites": [{**SITE, **site}]}})
    assert len(errors) == 1 and message in errors[0], errors


def test_mail_limits() -> None:
    assert errors_of(plan="free", addons={"mail": {}}) == [
        "  addons.mail: e-mail sending is not available on plan 'free'; add-on 'mail' is "
        "offered on plans: starter, pro, enterprise"
    ]
    assert errors_of(
        plan="starter", addons={"mail": {"domain": "news.acme.com", "daily_quota": 5000}}
    ) == [
        "  addons.mail.domain: a custom sending domain is not available on plan 'starter'; "
        "mail is sent from testco.tenants-platform.net",
        "  addons.mail.daily_quota: daily_quota 5000 exceeds plan 'starter' limit of 1000",
    ]
    spec = make_spec(addons={"mail": {"domain": "news.acme.com"}})
    assert (spec.mail_domain, spec.mail_zone, spec.mail_daily_quota) == (
        "news.acme.com",
        "acme.com",
        5000,
    )
    assert spec.addons.units() == {AddonName.MAIL: 1}


def test_example_stacks_use_every_add_on() -> None:
    files = StackFiles()
    used: dict[AddonName, list[str]] = {}
    for tenant in files.tenants():
        for addon in files.read_spec(tenant).addons.units():
            used.setdefault(addon, []).append(tenant)
    assert set(used) == set(AddonName)
    assert len({t for tenants in used.values() for t in tenants}) >= 2
