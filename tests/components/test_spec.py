"""The tenant contract: every bad input names its field, value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from components.plans import CATALOG, NatStrategy, PlanName
from components.spec import REGIONS_BY_RESIDENCY, Residency, TenantSpec, format_validation_error
from planner.program import plan_spec
from tests.components.builders import BASE_SPEC, merge


def _errors(overrides: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        TenantSpec.model_validate(merge(BASE_SPEC, overrides))
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("overrides", "path", "message"),
    [
        ({"unknown": 1}, "unknown", "Extra inputs are not permitted"),
        ({"tenant_id": "Bad_Id"}, "tenant_id", "tenant id 'Bad_Id' is not valid"),
        ({"tenant_id": "x"}, "tenant_id", "3 to 20 lower-case letters, digits and hyphens"),
        ({"plan": "gold"}, "plan", "'free', 'starter', 'pro' or 'enterprise'"),
        ({"region": "us-east-1"}, "region", "outside residency 'eu'; allowed: eu-west-1"),
        ({"residency": "mars"}, "residency", "'eu', 'us' or 'apac'"),
        ({"network": {"cidr": "not-a-cidr"}}, "network.cidr", "valid IPv4 network"),
        ({"network": {"cidr": "8.8.0.0/16"}}, "network.cidr", "not in a private range"),
        ({"network": {"cidr": "10.0.0.0/8"}}, "network.cidr", "outside /16 to /22"),
        ({"network": {"az_count": 4}}, "network.az_count", "less than or equal to 3"),
        (
            {"plan": "starter", "network": {"az_count": 3}},
            "network.az_count",
            "az_count 3 exceeds plan 'starter' limit of 2",
        ),
        ({"network": {"nat": "none"}}, "network.nat", "'none' is not allowed on plan 'pro'"),
        ({"compute": {"max_size": 11}}, "compute.max_size", "exceeds plan 'pro' limit of 10"),
        ({"compute": {"max_size": "ten"}}, "compute.max_size", "valid integer"),
        ({"compute": {"instance_type": "p4d.24xlarge"}}, "compute.instance_type", "not allowed"),
        (
            {"compute": {"min_size": 5, "max_size": 3}},
            "compute.desired_capacity",
            "min_size <= desired_capacity <= max_size",
        ),
        ({"storage": {"quota_gb": 5000}}, "storage.quota_gb", "exceeds plan 'pro' limit of 1000"),
        ({"storage": {"retention_days": 5}}, "storage.retention_days", "outside plan 'pro' range"),
        (
            {"storage": {"buckets": [{"role": "a1"}, {"role": "a1"}]}},
            "storage.buckets",
            "must be unique",
        ),
        ({"tags": {"tenant": "other"}}, "tags.tenant.[key]", "reserved"),
        ({"alarms": {"contacts": ["not-an-email"]}}, "alarms.contacts.0", "email"),
        (
            {"operator": {"account_id": "123", "external_id": "x" * 20}},
            "operator.account_id",
            "should match pattern",
        ),
    ],
)
def test_bad_input_names_the_field_and_the_rule(
    overrides: dict[str, Any], path: str, message: str
) -> None:
    errors = _errors(overrides)
    assert path in errors, errors
    assert message in errors[path]


def test_every_violation_is_reported_at_once() -> None:
    errors = _errors(
        {
            "plan": "free",
            "region": "eu-central-1",
            "compute": {"instance_type": "m6i.large", "max_size": 4},
            "storage": {"table": {}, "quota_gb": 50},
            "network": {"nat": "single"},
        }
    )
    assert set(errors) == {
        "compute.instance_type",
        "compute.max_size",
        "storage.table",
        "storage.quota_gb",
        "network.nat",
    }


def test_formatted_error_lists_paths_values_and_limits() -> None:
    with pytest.raises(ValidationError) as caught:
        TenantSpec.model_validate(merge(BASE_SPEC, {"compute": {"max_size": 99}, "bogus": True}))
    text = format_validation_error(caught.value)
    assert text.startswith("invalid tenant spec, ")
    assert "compute.max_size: max_size 99 exceeds plan 'pro' limit of 10" in text
    assert "bogus: Extra inputs are not permitted (got True)" in text


def test_spec_is_frozen_and_plan_changes_revalidate() -> None:
    spec = TenantSpec.model_validate(merge(BASE_SPEC, {"compute": {"max_size": 8}}))
    with pytest.raises(ValidationError):
        spec.plan = PlanName.FREE  # type: ignore[misc]
    with pytest.raises(ValidationError) as caught:
        spec.with_plan(PlanName.STARTER)
    assert "compute.max_size" in str(caught.value)


def test_defaults_follow_the_plan_after_a_plan_change() -> None:
    spec = TenantSpec.model_validate(merge(BASE_SPEC, {"plan": "starter"}))
    upgraded = spec.with_plan(PlanName.ENTERPRISE)
    assert upgraded.effective_capacity == (3, 3, 12)
    assert upgraded.effective_nat is NatStrategy.PER_AZ
    assert upgraded.effective_az_count == 3


# --- property tests -------------------------------------------------------------------


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    plan = draw(st.sampled_from(list(PlanName)))
    entry = CATALOG[plan]
    limits = entry.limits
    residency = draw(st.sampled_from(list(Residency)))
    max_size = draw(st.integers(1, limits.max_instances))
    min_size = draw(st.integers(0, max_size))
    desired = draw(st.integers(min_size, max_size))
    low, high = limits.retention_days
    spec: dict[str, Any] = {
        "tenant_id": draw(st.from_regex(r"[a-z][a-z0-9]{2,10}", fullmatch=True)),
        "plan": plan.value,
        "region": draw(st.sampled_from(REGIONS_BY_RESIDENCY[residency])),
        "residency": residency.value,
        "network": {
            "cidr": f"10.{draw(st.integers(0, 255))}.0.0/{draw(st.sampled_from([16, 20, 22]))}",
            "az_count": draw(st.integers(1, limits.max_az_count)),
            "nat": draw(st.sampled_from(limits.nat_strategies)).value,
        },
        "compute": {
            "instance_type": draw(st.sampled_from(limits.instance_types)),
            "min_size": min_size,
            "desired_capacity": desired,
            "max_size": max_size,
        },
        "storage": {
            "buckets": [
                {"role": r}
                for r in draw(
                    st.lists(
                        st.sampled_from(["data", "media", "logs", "exports", "raw"]),
                        min_size=1,
                        max_size=limits.max_buckets,
                        unique=True,
                    )
                )
            ],
            "quota_gb": draw(st.integers(1, limits.storage_quota_gb)),
            "retention_days": draw(st.integers(low, high)),
        },
        "suspended": draw(st.booleans()),
    }
    if limits.table and draw(st.booleans()):
        spec["storage"]["table"] = {}
    return spec


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_valid_specs_always_build_a_bundle(raw: dict[str, Any]) -> None:
    spec = TenantSpec.model_validate(raw)
    plan = plan_spec(spec)
    groups = plan.by_type("aws:autoscaling/group:Group")
    assert len(groups) == 1
    inputs = groups[0].inputs
    assert (inputs["minSize"], inputs["desiredCapacity"], inputs["maxSize"]) == (
        spec.effective_capacity
    )
    assert len(plan.by_type("aws:s3/bucket:Bucket")) == len(spec.storage.buckets) + (
        1 if spec.access_logs else 0
    )


_LIMITED_FIELDS = st.sampled_from(
    [
        ("compute", "max_size", lambda limits: limits.max_instances + 1),
        ("storage", "quota_gb", lambda limits: limits.storage_quota_gb + 1),
        ("network", "az_count", lambda limits: limits.max_az_count + 1),
        ("storage", "retention_days", lambda limits: limits.retention_days[1] + 1),
    ]
)


@settings(max_examples=60, deadline=None)
@given(plan=st.sampled_from(list(PlanName)), field=_LIMITED_FIELDS, extra=st.integers(0, 50))
def test_out_of_limit_overrides_always_fail_naming_the_field(
    plan: PlanName, field: tuple[str, str, Any], extra: int
) -> None:
    section, name, beyond = field
    value = beyond(CATALOG[plan].limits) + extra
    if section == "network" and value > 3:
        value = 3 if CATALOG[plan].limits.max_az_count < 3 else value
    overrides: dict[str, Any] = {"plan": plan.value, section: {name: value}}
    with pytest.raises(ValidationError) as caught:
        TenantSpec.model_validate(merge(BASE_SPEC, overrides))
    paths = {".".join(map(str, e["loc"])) for e in caught.value.errors()}
    assert f"{section}.{name}" in paths
