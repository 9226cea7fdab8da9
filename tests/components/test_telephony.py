"""The telephony add-on: Connect instance, numbers, hours, queue, forwarding and voicemail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.contact_flows import inbound_flow
from components.spec import TelephonySpec
from planner.model import TenantPlan
from tests.components.builders import document, only, plan_of

FLOW = "aws:connect/contactFlow:ContactFlow"
NUMBER = "aws:connect/phoneNumber:PhoneNumber"
ROUTING = "aws:connect/phoneNumberContactFlowAssociation:PhoneNumberContactFlowAssociation"
FORWARD_AND_VOICEMAIL = {
    "lines": 3,
    "country": "DE",
    "number_type": "TOLL_FREE",
    "forward_to": "+4930123456",
    "voicemail": True,
}


def telephony_plan(**telephony: Any) -> TenantPlan:
    return plan_of(region="eu-central-1", display_name="Test Co", addons={"telephony": telephony})


@pytest.fixture(scope="module")
def pro() -> TenantPlan:
    return telephony_plan(
        **FORWARD_AND_VOICEMAIL,
        hours={"time_zone": "Europe/Berlin", "days": ["MONDAY", "FRIDAY"], "opens": "08:30"},
    )


def flow_of(plan: TenantPlan) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(only(plan, FLOW).inputs["content"])
    return content


def actions_of(flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["Identifier"]: a for a in flow["Actions"]}


def flow_for(**telephony: Any) -> dict[str, dict[str, Any]]:
    spec = TelephonySpec.model_validate({"country": "US", **telephony})
    return actions_of(inbound_flow(spec, tenant_name="Acme", queue_arn="q", hours_arn="h"))


def test_one_instance_claims_each_line_and_routes_it_to_the_inbound_flow(
    pro: TenantPlan,
) -> None:
    instance = only(pro, "aws:connect/instance:Instance")
    assert instance.inputs["inboundCallsEnabled"] is True
    assert instance.inputs["outboundCallsEnabled"] is True
    numbers = pro.by_type(NUMBER)
    assert [(n.inputs["countryCode"], n.inputs["type"]) for n in numbers] == [
        ("DE", "TOLL_FREE")
    ] * 3
    assert all(n.inputs["targetArn"] == instance.outputs["arn"] for n in numbers)
    flow = only(pro, FLOW)
    routing = pro.by_type(ROUTING)
    assert sorted(r.inputs["phoneNumberId"] for r in routing) == sorted(n.id for n in numbers)
    assert {r.inputs["contactFlowId"] for r in routing} == {flow.outputs["contactFlowId"]}
    # Registration order follows output resolution, which the engine does not fix.
    assert sorted(pro.stack_outputs["phone_numbers"]) == sorted(
        n.outputs["phoneNumber"] for n in numbers
    )


def test_hours_and_queue_follow_the_spec(pro: TenantPlan) -> None:
    hours = only(pro, "aws:connect/hoursOfOperation:HoursOfOperation")
    assert hours.inputs["timeZone"] == "Europe/Berlin"
    assert [c["day"] for c in hours.inputs["configs"]] == ["MONDAY", "FRIDAY"]
    assert hours.inputs["configs"][0]["startTime"] == {"hours": 8, "minutes": 30}
    assert hours.inputs["configs"][0]["endTime"] == {"hours": 17, "minutes": 0}
    queue = only(pro, "aws:connect/queue:Queue")
    assert queue.inputs["hoursOfOperationId"] == hours.outputs["hoursOfOperationId"]
    flow = flow_of(pro)
    assert flow["StartAction"] == "queue"
    assert actions_of(flow)["queue"]["Parameters"] == {"QueueId": queue.outputs["arn"]}


def test_forwarding_checks_hours_and_falls_back_to_voicemail(pro: TenantPlan) -> None:
    hours = only(pro, "aws:connect/hoursOfOperation:HoursOfOperation")
    actions = actions_of(flow_of(pro))
    check = actions["forward-hours"]
    assert check["Parameters"] == {"HoursOfOperationId": hours.outputs["arn"]}
    conditions = check["Transitions"]["Conditions"]
    outcomes = {c["Condition"]["Operands"][0]: c["NextAction"] for c in conditions}
    assert outcomes == {"True": "forward", "False": "voicemail"}
    forward = actions["forward"]
    assert forward["Type"] == "TransferParticipantToThirdParty"
    assert forward["Parameters"]["ThirdPartyPhoneNumber"] == "+4930123456"
    assert forward["Parameters"]["ThirdPartyConnectionTimeoutSeconds"] == "30"
    assert {e["NextAction"] for e in forward["Transitions"]["Errors"]} == {"voicemail"}


def test_forwarding_without_voicemail_falls_back_to_a_closed_message() -> None:
    actions = flow_for(forward_to="+12125550143", forward_timeout_seconds=45)
    assert "voicemail" not in actions
    assert actions["closed"]["Type"] == "MessageParticipant"
    assert {e["NextAction"] for e in actions["forward"]["Transitions"]["Errors"]} == {"closed"}
    assert actions["forward"]["Parameters"]["ThirdPartyConnectionTimeoutSeconds"] == "45"


def test_voicemail_only_goes_straight_to_voicemail() -> None:
    actions = flow_for(voicemail=True)
    assert actions["queue"]["Transitions"]["NextAction"] == "voicemail"
    assert "forward" not in actions and "closed" not in actions


@pytest.mark.parametrize(
    "telephony",
    [
        {"voicemail": True},
        {"forward_to": "+12125550143"},
        {"forward_to": "+12125550143", "voicemail": True},
    ],
)
def test_every_transition_leads_to_an_action_of_the_flow(telephony: dict[str, Any]) -> None:
    actions = flow_for(**telephony)
    for action in actions.values():
        transitions = action["Transitions"]
        targets = [transitions.get("NextAction")]
        targets += [t["NextAction"] for t in transitions.get("Errors", [])]
        targets += [t["NextAction"] for t in transitions.get("Conditions", [])]
        assert all(t in actions for t in targets if t is not None), action
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
    recording = actions_of(flow_of(pro))["voicemail"]
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
    plan = telephony_plan(country="DE", forward_to="+4930123456")
    assert len(plan.by_type(NUMBER)) == 1
    assert not plan.by_type("aws:connect/instanceStorageConfig:InstanceStorageConfig")
    assert not plan.by_type("aws:cloudwatch/eventRule:EventRule")
    statements = document(only(plan, "aws:sns/topicPolicy:TopicPolicy"))["Statement"]
    assert all(s["Sid"] != "TenantEventRulesPublish" for s in statements)
    key_policy = document(only(plan, "aws:kms/key:Key"))["Statement"]
    assert all(s["Sid"] != "TenantEventRuleNotifications" for s in key_policy)


def test_adding_a_line_adds_a_number_and_changes_nothing_else(pro: TenantPlan) -> None:
    more = telephony_plan(
        **{**FORWARD_AND_VOICEMAIL, "lines": 4},
        hours={"time_zone": "Europe/Berlin", "days": ["MONDAY", "FRIDAY"], "opens": "08:30"},
    )
    before = {r.name: r.inputs for r in pro.resources}
    after = {r.name: r.inputs for r in more.resources}
    assert sorted(set(after) - set(before)) == [
        "testco-telephony-line-4-number",
        "testco-telephony-line-4-routing",
    ]
    assert all(after[name] == inputs for name, inputs in before.items())
