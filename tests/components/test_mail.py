"""The e-mail add-on: DKIM-signed domain identity, configuration set, metrics and quota alarm."""

from __future__ import annotations

import pytest

from planner.model import TenantPlan
from tests.components.builders import only, plan_of


@pytest.fixture(scope="module")
def pro() -> TenantPlan:
    return plan_of(addons={"mail": {"domain": "news.acme.com", "daily_quota": 10_000}})


def test_domain_identity_signs_with_easy_dkim_and_publishes_its_records(pro: TenantPlan) -> None:
    identity = only(pro, "aws:sesv2/emailIdentity:EmailIdentity")
    assert identity.inputs["emailIdentity"] == "news.acme.com"
    assert identity.inputs["dkimSigningAttributes"] == {"nextSigningKeyLength": "RSA_2048_BIT"}
    tokens = identity.outputs["dkimSigningAttributes"]["tokens"]
    records = [r for r in pro.by_type("aws:route53/record:Record") if "dkim" in r.name]
    # Registration order follows output resolution, which the engine does not fix.
    assert sorted((r.inputs["name"], r.inputs["type"], r.inputs["records"]) for r in records) == (
        sorted(
            (f"{t}._domainkey.news.acme.com", "CNAME", [f"{t}.dkim.amazonses.com"]) for t in tokens
        )
    )
    assert len({r.inputs["zoneId"] for r in records}) == 1


def test_mail_goes_through_the_tenant_configuration_set_with_metrics(pro: TenantPlan) -> None:
    configuration_set = only(pro, "aws:sesv2/configurationSet:ConfigurationSet")
    assert configuration_set.inputs["configurationSetName"] == "tenant-testco"
    assert configuration_set.inputs["deliveryOptions"] == {"tlsPolicy": "REQUIRE"}
    identity = only(pro, "aws:sesv2/emailIdentity:EmailIdentity")
    assert identity.inputs["configurationSetName"] == "tenant-testco"
    destination = only(
        pro, "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination"
    )
    dimensions = destination.inputs["eventDestination"]["cloudWatchDestination"][
        "dimensionConfigurations"
    ]
    assert dimensions == [
        {
            "dimensionName": "ses:configuration-set",
            "dimensionValueSource": "MESSAGE_TAG",
            "defaultDimensionValue": "tenant-testco",
        }
    ]
    assert "SEND" in destination.inputs["eventDestination"]["matchingEventTypes"]


def test_quota_alarm_watches_the_tenant_sends_and_notifies_its_topic(pro: TenantPlan) -> None:
    alarm = next(
        a for a in pro.by_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "mail" in a.name
    )
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/SES", "Send")
    assert alarm.inputs["dimensions"] == {"ses:configuration-set": "tenant-testco"}
    assert alarm.inputs["threshold"] == 8000
    assert alarm.inputs["alarmActions"] == [only(pro, "aws:sns/topic:Topic").outputs["arn"]]
    assert pro.stack_outputs["mail_configuration_set"] == "tenant-testco"


def test_starter_sends_from_the_platform_domain_with_the_plan_quota() -> None:
    plan = plan_of(plan="starter", addons={"mail": {}})
    identity = only(plan, "aws:sesv2/emailIdentity:EmailIdentity")
    assert identity.inputs["emailIdentity"] == "testco.tenants-platform.net"
    alarm = next(
        a for a in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "mail" in a.name
    )
    assert alarm.inputs["threshold"] == 160
