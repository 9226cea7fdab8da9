"""The e-mail add-on: DKIM-signed domain identity, configuration set, metrics and quota alarm."""

from __future__ import annotations

import json
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.names import MAIL_EVENTS_LOG_POLICY
from planner.model import PlannedResource, TenantPlan
from planner.program import ACCOUNT_ID
from tests.components.builders import document, only, plan_of

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
LOG_POLICY = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"
DESTINATION = "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination"


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
    destination = next(
        d
        for d in pro.by_type(DESTINATION)
        if "cloudWatchDestination" in d.inputs["eventDestination"]
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


def named(plan: TenantPlan, type_token: str, suffix: str) -> PlannedResource:
    return next(r for r in plan.by_type(type_token) if r.name.endswith(suffix))


def test_events_go_through_eventbridge_to_the_tenant_mail_log_group(pro: TenantPlan) -> None:
    log_group = named(pro, LOG_GROUP, "mail-events-log")
    assert log_group.inputs["name"] == "/tenants/testco/mail"
    assert log_group.inputs["kmsKeyId"] == only(pro, "aws:kms/key:Key").outputs["arn"]
    assert log_group.inputs["retentionInDays"] > 0
    destination = named(pro, DESTINATION, "mail-events").inputs["eventDestination"]
    assert destination["eventBridgeDestination"] == {
        "eventBusArn": f"arn:aws:events:eu-west-1:{ACCOUNT_ID}:event-bus/default"
    }
    assert {"SEND", "BOUNCE", "COMPLAINT", "DELIVERY_DELAY"} <= set(
        destination["matchingEventTypes"]
    )
    rule = named(pro, EVENT_RULE, "mail-events-rule")
    assert rule.inputs["name"] == "tenant-testco-mail-events"
    target = named(pro, EVENT_TARGET, "mail-events-to-log")
    assert target.inputs["rule"] == rule.outputs["name"]
    assert target.inputs["arn"] == log_group.outputs["arn"]
    assert "roleArn" not in target.inputs  # CloudWatch Logs targets take a resource policy
    # The target is only created once EventBridge may write into the log group.
    assert only(pro, LOG_POLICY).urn in target.dependencies
    assert pro.stack_outputs["mail_configuration_set"] == "tenant-testco"


def test_one_resource_policy_serves_every_tenant_of_the_account_and_region(
    pro: TenantPlan,
) -> None:
    other = plan_of(
        tenant_id="otherco", addons={"mail": {"domain": "mail.other.com", "daily_quota": 500}}
    )
    mine, theirs = only(pro, LOG_POLICY), only(other, LOG_POLICY)
    assert mine.inputs["policyName"] == theirs.inputs["policyName"] == MAIL_EVENTS_LOG_POLICY
    assert mine.inputs["policyDocument"] == theirs.inputs["policyDocument"]
    # Kept when a tenant's stack drops it: the other tenants of the account rely on it.
    assert mine.retain_on_delete is True
    [statement] = document(mine, "policyDocument")["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
    for plan in (pro, other):
        rule_arn = named(plan, EVENT_RULE, "mail-events-rule").outputs["arn"]
        log_arn = named(plan, LOG_GROUP, "mail-events-log").outputs["arn"]
        assert fnmatchcase(rule_arn, statement["Condition"]["ArnLike"]["aws:SourceArn"])
        assert fnmatchcase(f"{log_arn}:log-stream:s", statement["Resource"])
    # Nothing else in the account: not the flow logs, not another account's rules.
    flow_logs = named(pro, LOG_GROUP, "flow-logs").outputs["arn"]
    assert not fnmatchcase(f"{flow_logs}:log-stream:s", statement["Resource"])
    voicemail = f"arn:aws:events:eu-west-1:{ACCOUNT_ID}:rule/tenant-testco-voicemail"
    assert not fnmatchcase(voicemail, statement["Condition"]["ArnLike"]["aws:SourceArn"])


def _ses_event(
    configuration_set: str, kind: str = "Email Sent", event_type: str = "Send"
) -> dict[str, Any]:
    """An SES event as the EventBridge destination puts it on the default bus."""
    detail = {
        "eventType": event_type,
        "mail": {
            "source": "news@news.acme.com",
            "destination": ["someone@example.org"],
            "tags": {"ses:configuration-set": [configuration_set]},
        },
    }
    return {"Source": "aws.ses", "DetailType": kind, "Detail": json.dumps(detail)}


@pytest.fixture
def delivered(pro: TenantPlan) -> Iterator[list[dict[str, Any]]]:
    """The planned rule and target, created in moto's EventBridge; SES events put on the
    default bus; what reached the log group."""
    log_group = named(pro, LOG_GROUP, "mail-events-log")
    rule = named(pro, EVENT_RULE, "mail-events-rule")
    target = named(pro, EVENT_TARGET, "mail-events-to-log")
    with mock_aws():
        logs = boto3.client("logs", region_name="eu-west-1")
        events = boto3.client("events", region_name="eu-west-1")
        logs.create_log_group(logGroupName=log_group.inputs["name"])
        events.put_rule(Name=rule.inputs["name"], EventPattern=rule.inputs["eventPattern"])
        events.put_targets(
            Rule=rule.inputs["name"], Targets=[{"Id": "log", "Arn": target.inputs["arn"]}]
        )
        events.put_events(
            Entries=[
                _ses_event("tenant-testco"),
                _ses_event("tenant-otherco"),
                _ses_event("tenant-testco", "Email Bounced", "Bounce"),
                {"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"},
            ]
        )
        found = logs.filter_log_events(logGroupName=log_group.inputs["name"])["events"]
        yield [json.loads(e["message"]) for e in found]


def test_only_the_tenant_mail_events_reach_its_log_group(delivered: list[dict[str, Any]]) -> None:
    assert sorted(e["detail-type"] for e in delivered) == ["Email Bounced", "Email Sent"]
    assert {e["detail"]["mail"]["tags"]["ses:configuration-set"][0] for e in delivered} == {
        "tenant-testco"
    }
