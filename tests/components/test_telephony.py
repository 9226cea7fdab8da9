"""The telephony add-on: Connect instance, numbers, hours, queue, forwarding and voicemail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.contact_flows import line_flow
from components.spec import PhoneLine
from planner.model import TenantPlan
from tests.components.builders import document, only, plan_of

FLOW = "aws:connect/contactFlow:ContactFlow"
NUMBER = "aws:connect/phoneNumber:PhoneNumber"

LINES = [
    {"name": "sales", "country": "DE", "forward_to": "+4930123456", "voicemail": True},
    {"name": "hotline", "country": "DE", "type": "TOLL_FREE", "forward_to": "+4989765432"},
    {"name": "mailbox", "country": "DE", "voicemail": True},
]


def telephony_plan(**telephony: Any) -> TenantPlan:
    return plan_of(region="eu-central-1", display_name="Test Co", addons={"telephony": telephony})


@pytest.fixture(scope="module")
def pro() -> TenantPlan:
    return telephony_plan(
        lines=LINES,
        hours={"time_zone": "Europe/Berlin", "days": ["MONDAY", "FRIDAY"], "opens": "08:30"},
    )


def flow_of(plan: TenantPlan, line: str) -> dict[str, Any]:
    flow = next(f for f in plan.by_type(FLOW) if f.inputs["name"] == f"line-{line}")
    content: dict[str, Any] = json.loads(flow.inputs["content"])
    return content


def actions_of(flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["Identifier"]: a for a in flow["Actions"]}


def test_one_instance_claims_a_number_per_line_routed_to_its_own_flow(pro: TenantPlan) -> None:
    instance = only(pro, "aws:connect/instance:Instance")
    assert instance.inputs["inboundCallsEnabled"] is True
    assert instance.inputs["outboundCallsEnabled"] is True
    numbers = pro.by_type(NUMBER)
    assert [(n.inputs["countryCode"], n.inputs["type"]) for n in numbers] == [
        ("DE", "DID"),
        ("DE", "TOLL_FREE"),
        ("DE", "DID"),
    ]
    assert all(n.inputs["targetArn"] == instance.outputs["arn"] for n in numbers)
    flows = {f.outputs["contactFlowId"]: f.inputs["name"] for f in pro.by_type(FLOW)}
    routing = pro.by_type(
        "aws:connect/phoneNumberContactFlowAssociation:PhoneNumberContactFlowAssociation"
    )
    by_number = {n.id: n.name for n in numbers}
    assert {
        by_number[r.inputs["phoneNumberId"]]: flows[r.inputs["contactFlowId"]] for r in routing
    } == {
        "testco-telephony-line-sales-number": "line-sales",
        "testco-telephony-line-hotline-number": "line-hotline",
        "testco-telephony-line-mailbox-number": "line-mailbox",
    }
    assert set(pro.stack_outputs["phone_numbers"]) == {"sales", "hotline", "mailbox"}


def test_hours_and_queue_follow_the_spec(pro: TenantPlan) -> None:
    hours = only(pro, "aws:connect/hoursOfOperation:HoursOfOperation")
    assert hours.inputs["timeZone"] == "Europe/Berlin"
    assert [c["day"] for c in hours.inputs["configs"]] == ["MONDAY", "FRIDAY"]
    assert hours.inputs["configs"][0]["startTime"] == {"hours": 8, "minutes": 30}
    assert hours.inputs["configs"][0]["endTime"] == {"hours": 17, "minutes": 0}
    queue = only(pro, "aws:connect/queue:Queue")
    assert queue.inputs["hoursOfOperationId"] == hours.outputs["hoursOfOperationId"]
    for line in ("sales", "hotline", "mailbox"):
        flow = flow_of(pro, line)
        assert flow["StartAction"] == "queue"
        assert actions_of(flow)["queue"]["Parameters"] == {"QueueId": queue.outputs["arn"]}


def test_forwarding_checks_hours_and_falls_back_to_voicemail(pro: TenantPlan) -> None:
    hours = only(pro, "aws:connect/hoursOfOperation:HoursOfOperation")
    actions = actions_of(flow_of(pro, "sales"))
    check = actions["forward-hours"]
    assert check["Parameters"] == {"HoursOfOperationId": hours.outputs["arn"]}
    outcomes = {c["Condition"]["Operands"][0]: c["NextAction"] for c in
                check["Transitions"]["Conditions"]}  # fmt: skip
    assert outcomes == {"True": "forward", "False": "voicemail"}
    forward = actions["forward"]
    assert forward["Type"] == "TransferParticipantToThirdParty"
    assert forward["Parameters"]["ThirdPartyPhoneNumber"] == "+4930123456"
    assert forward["Parameters"]["ThirdPartyConnectionTimeoutSeconds"] == "30"
    assert {e["NextAction"] for e in forward["Transitions"]["Errors"]} == {"voicemail"}


def test_forwarding_without_voicemail_falls_back_to_a_closed_message(pro: TenantPlan) -> None:
    actions = actions_of(flow_of(pro, "hotline"))
    assert "voicemail" not in actions
    assert actions["closed"]["Type"] == "MessageParticipant"
    assert {e["NextAction"] for e in actions["forward"]["Transitions"]["Errors"]} == {"closed"}


def test_every_transition_of_every_flow_leads_to_an_action_of_that_flow(pro: TenantPlan) -> None:
    for line in ("sales", "hotline", "mailbox"):
        actions = actions_of(flow_of(pro, line))
        for action in actions.values():
            transitions = action["Transitions"]
            targets = [transitions.get("NextAction")]
            targets += [t["NextAction"] for t in transitions.get("Errors", [])]
            targets += [t["NextAction"] for t in transitions.get("Conditions", [])]
            assert all(t in actions for t in targets if t is not None), (line, action)
        assert actions["disconnect"]["Type"] == "DisconnectParticipant"


def test_voicemail_records_to_the_tenant_bucket_with_its_key(pro: TenantPlan) -> None:
    storage = only(pro, "aws:connect/instanceStorageConfig:InstanceStorageConfig")
    assert storage.inputs["resourceType"] == "CALL_RECORDINGS"
    s3 = storage.inputs["storageConfig"]["s3Config"]
    data = next(b for b in pro.by_type("aws:s3/bucket:Bucket") if b.name == "testco-storage-data")
    key = only(pro, "aws:kms/key:Key")
    assert s3["bucketName"] == data.outputs["bucket"]
    assert s3["bucketPrefix"] == "voicemail"
    assert s3["encryptionConfig"] == {"encryptionType": "KMS", "keyId": key.outputs["arn"]}
    recording = actions_of(flow_of(pro, "mailbox"))["voicemail"]
    assert recording["Parameters"]["RecordingBehavior"]["IVRRecordingBehavior"] == "Enabled"


def test_new_voicemail_notifies_the_alarm_topic_which_admits_only_tenant_rules(
    pro: TenantPlan,
) -> None:
    rule = only(pro, "aws:cloudwatch/eventRule:EventRule")
    data = next(b for b in pro.by_type("aws:s3/bucket:Bucket") if b.name == "testco-storage-data")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail"] == {
        "bucket": {"name": [data.outputs["bucket"]]},
        "object": {"key": [{"prefix": "voicemail/"}]},
    }
    notification = only(pro, "aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs == {"bucket": data.outputs["bucket"], "eventbridge": True}
    target = only(pro, "aws:cloudwatch/eventTarget:EventTarget")
    topic = only(pro, "aws:sns/topic:Topic")
    assert target.inputs["arn"] == topic.outputs["arn"]
    assert "Test Co" in target.inputs["inputTransformer"]["inputTemplate"]
    statements = document(only(pro, "aws:sns/topicPolicy:TopicPolicy"))["Statement"]
    events = next(s for s in statements if s["Sid"] == "TenantEventRulesPublish")
    assert events["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":rule/tenant-testco-*")
    assert rule.inputs["name"].startswith("tenant-testco-")
    key_policy = document(only(pro, "aws:kms/key:Key"))["Statement"]
    assert any(s["Sid"] == "TenantEventRuleNotifications" for s in key_policy)


def test_forwarding_only_tenants_store_no_recordings() -> None:
    plan = telephony_plan(lines=[LINES[1]])
    assert not plan.by_type("aws:connect/instanceStorageConfig:InstanceStorageConfig")
    assert not plan.by_type("aws:cloudwatch/eventRule:EventRule")
    statements = document(only(plan, "aws:sns/topicPolicy:TopicPolicy"))["Statement"]
    assert all(s["Sid"] != "TenantEventRulesPublish" for s in statements)


def test_a_voicemail_only_line_goes_straight_to_voicemail() -> None:
    line = PhoneLine(name="box", country="US", voicemail=True)
    flow = line_flow(
        line, tenant_name="Acme", queue_arn="q", hours_arn="h", forward_timeout_seconds=30
    )
    actions = actions_of(flow)
    assert actions["queue"]["Transitions"]["NextAction"] == "voicemail"
    assert "forward" not in actions
