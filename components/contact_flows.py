"""The Amazon Connect inbound contact flow (Flow language, version 2019-10-30) of a tenant.

Every call is first attributed to the tenant's queue. With forwarding, the flow checks the business
hours: open, the call goes to the customer's number; closed, or when that number does not
answer in time, the fallback takes it. The fallback is voicemail (the IVR part of the call
is recorded to the instance's call-recording storage) or a closed message.
"""

from __future__ import annotations

from typing import Any

from components.spec import TelephonySpec

FLOW_VERSION = "2019-10-30"
VOICEMAIL_SECONDS = 120
"""Longest message a caller can leave."""

_DISCONNECT = "disconnect"


def _action(
    identifier: str,
    type_: str,
    parameters: dict[str, Any],
    next_action: str | None = None,
    *,
    errors: tuple[str, ...] = (),
    conditions: list[dict[str, Any]] | None = None,
    on_error: str | None = None,
) -> dict[str, Any]:
    """One action; its errors go to `on_error`, else to the next action, else hang up."""
    transitions: dict[str, Any] = {}
    if next_action is not None:
        transitions["NextAction"] = next_action
    if errors:
        target = on_error or next_action or _DISCONNECT
        transitions["Errors"] = [{"NextAction": target, "ErrorType": e} for e in errors]
    if conditions:
        transitions["Conditions"] = conditions
    return {
        "Identifier": identifier,
        "Type": type_,
        "Parameters": parameters,
        "Transitions": transitions,
    }


def _voicemail(tenant_name: str) -> list[dict[str, Any]]:
    return [
        _action(
            "voicemail",
            "UpdateContactRecordingBehavior",
            # Only the automated (IVR) part is recorded: the caller's message.
            {"RecordingBehavior": {"RecordedParticipants": [], "IVRRecordingBehavior": "Enabled"}},
            "voicemail-prompt",
            errors=("NoMatchingError",),
        ),
        _action(
            "voicemail-prompt",
            "MessageParticipant",
            {"Text": f"You have reached {tenant_name}. Please leave a message after the tone."},
            "voicemail-record",
            errors=("NoMatchingError",),
        ),
        _action(
            "voicemail-record",
            "GetParticipantInput",
            {
                "Text": "Press the hash key or hang up when you are done.",
                "InputTimeLimitSeconds": str(VOICEMAIL_SECONDS),
                "StoreInput": "False",
            },
            _DISCONNECT,
            errors=("InputTimeLimitExceeded", "NoMatchingCondition", "NoMatchingError"),
        ),
    ]


def _closed(tenant_name: str) -> list[dict[str, Any]]:
    return [
        _action(
            "closed",
            "MessageParticipant",
            {"Text": f"You have reached {tenant_name}. Nobody can take your call now."},
            _DISCONNECT,
            errors=("NoMatchingError",),
        )
    ]


def inbound_flow(
    telephony: TelephonySpec, *, tenant_name: str, queue_arn: str, hours_arn: str
) -> dict[str, Any]:
    """The flow every line of the tenant runs, as the `content` of a `CONTACT_FLOW`."""
    fallback = "voicemail" if telephony.voicemail else "closed"
    start = "forward-hours" if telephony.forward_to is not None else fallback
    actions = [
        _action(
            "queue",
            "UpdateContactTargetQueue",
            {"QueueId": queue_arn},
            start,
            errors=("NoMatchingError",),
        )
    ]
    if telephony.forward_to is not None:
        actions += [
            _action(
                "forward-hours",
                "CheckHoursOfOperation",
                {"HoursOfOperationId": hours_arn},
                errors=("NoMatchingError",),
                # An unmatched hours check must not drop the call either.
                on_error=fallback,
                conditions=[
                    {
                        "NextAction": "forward",
                        "Condition": {"Operator": "Equals", "Operands": ["True"]},
                    },
                    {
                        "NextAction": fallback,
                        "Condition": {"Operator": "Equals", "Operands": ["False"]},
                    },
                ],
            ),
            _action(
                "forward",
                "TransferParticipantToThirdParty",
                {
                    "ThirdPartyPhoneNumber": telephony.forward_to,
                    "ThirdPartyConnectionTimeoutSeconds": str(telephony.forward_timeout_seconds),
                    # The flow resumes only when the forward fails, into the fallback.
                    "ContinueFlowExecution": "False",
                },
                fallback,
                errors=("CallFailed", "ConnectionTimeLimitExceeded", "NoMatchingError"),
            ),
        ]
    actions += _voicemail(tenant_name) if telephony.voicemail else _closed(tenant_name)
    actions.append(_action(_DISCONNECT, "DisconnectParticipant", {}))
    return {"Version": FLOW_VERSION, "StartAction": "queue", "Actions": actions}
