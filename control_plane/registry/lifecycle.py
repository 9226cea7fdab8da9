"""The tenant lifecycle: states, actions, and the one table of allowed transitions.

Requests (provision, update, suspend, ...) move a tenant into an in-progress state when
they are accepted, so the state always says what is underway; the worker's outcome
(`activated`, `suspended`, `retired`, `failed`) settles it. A request in a state that does
not allow it is refused before anything is written.
"""

from __future__ import annotations

from enum import StrEnum


class TenantState(StrEnum):
    PENDING = "pending"
    """Registered; the first `up` is queued and no worker has started it yet."""
    PROVISIONING = "provisioning"
    """The first `up` is running."""
    ACTIVE = "active"
    """The desired spec is applied and compute runs."""
    UPDATING = "updating"
    """A new desired spec (update, plan change, suspend, resume, up) is queued or applying."""
    SUSPENDED = "suspended"
    """Compute is scaled to zero; every data store is kept."""
    DEPROVISIONING = "deprovisioning"
    """The stack is being destroyed."""
    RETIRED = "retired"
    """The stack is gone (data stores retained unless purged); the network is released."""
    FAILED = "failed"
    """The last stack operation failed after its retries; the error is kept."""


class Action(StrEnum):
    # Requests, checked when a use case is called.
    UPDATE = "update"
    SUSPEND = "suspend"
    RESUME = "resume"
    UP = "up"
    DEPROVISION = "deprovision"
    PREVIEW = "preview"
    REFRESH = "refresh"
    # Worker events.
    START = "start"
    """A worker picked up the tenant's job."""
    ACTIVATED = "activated"
    """An `up` succeeded with compute running."""
    SUSPENDED = "suspended"
    """An `up` succeeded with compute at zero."""
    RETIRED = "retired"
    """A destroy succeeded."""
    FAILED = "failed"
    """A stack operation failed for good."""


S = TenantState
A = Action

# (state, action) -> next state. Anything not listed is forbidden.
TRANSITIONS: dict[tuple[TenantState, Action], TenantState] = {
    # Spec changes coalesce into whatever is queued, so they are allowed while in progress.
    (S.PENDING, A.UPDATE): S.PENDING,
    (S.PROVISIONING, A.UPDATE): S.PROVISIONING,
    (S.ACTIVE, A.UPDATE): S.UPDATING,
    (S.UPDATING, A.UPDATE): S.UPDATING,
    (S.SUSPENDED, A.UPDATE): S.UPDATING,
    (S.FAILED, A.UPDATE): S.UPDATING,
    (S.ACTIVE, A.UP): S.UPDATING,
    (S.SUSPENDED, A.UP): S.UPDATING,
    (S.FAILED, A.UP): S.UPDATING,
    (S.ACTIVE, A.SUSPEND): S.UPDATING,
    (S.UPDATING, A.SUSPEND): S.UPDATING,
    (S.FAILED, A.SUSPEND): S.UPDATING,
    (S.SUSPENDED, A.RESUME): S.UPDATING,
    (S.UPDATING, A.RESUME): S.UPDATING,
    (S.FAILED, A.RESUME): S.UPDATING,
    (S.PENDING, A.DEPROVISION): S.DEPROVISIONING,
    (S.PROVISIONING, A.DEPROVISION): S.DEPROVISIONING,
    (S.ACTIVE, A.DEPROVISION): S.DEPROVISIONING,
    (S.UPDATING, A.DEPROVISION): S.DEPROVISIONING,
    (S.SUSPENDED, A.DEPROVISION): S.DEPROVISIONING,
    (S.FAILED, A.DEPROVISION): S.DEPROVISIONING,
    (S.DEPROVISIONING, A.DEPROVISION): S.DEPROVISIONING,
    # Read-only stack operations leave the state alone.
    **{(s, A.PREVIEW): s for s in (S.PENDING, S.ACTIVE, S.UPDATING, S.SUSPENDED, S.FAILED)},
    **{(s, A.REFRESH): s for s in (S.ACTIVE, S.UPDATING, S.SUSPENDED, S.FAILED)},
    # Worker events.
    (S.PENDING, A.START): S.PROVISIONING,
    (S.PROVISIONING, A.ACTIVATED): S.ACTIVE,
    (S.PROVISIONING, A.SUSPENDED): S.SUSPENDED,
    (S.UPDATING, A.ACTIVATED): S.ACTIVE,
    (S.UPDATING, A.SUSPENDED): S.SUSPENDED,
    (S.DEPROVISIONING, A.RETIRED): S.RETIRED,
    (S.PROVISIONING, A.FAILED): S.FAILED,
    (S.UPDATING, A.FAILED): S.FAILED,
    (S.DEPROVISIONING, A.FAILED): S.FAILED,
}


REQUESTS = (A.UPDATE, A.SUSPEND, A.RESUME, A.UP, A.DEPROVISION, A.PREVIEW, A.REFRESH)
"""The actions people ask for; the others are the worker's events."""


class TransitionError(Exception):
    """An action the tenant's current state (or its desired suspension) does not allow."""

    def __init__(
        self,
        tenant_id: str,
        state: TenantState,
        action: Action,
        *,
        suspended: bool | None = None,
    ) -> None:
        allowed = allowed_actions(state, suspended=suspended)
        hint = ", ".join(a.value for a in allowed) if allowed else "none"
        why = ""
        if _contradicts(action, suspended) and (state, action) in TRANSITIONS:
            why = (
                " (it is already suspended or being suspended)"
                if suspended
                else " (it is not suspended)"
            )
        super().__init__(
            f"cannot {action.value} tenant {tenant_id!r} in state {state.value!r}{why}; "
            f"allowed in {state.value!r}: {hint}"
        )
        self.tenant_id = tenant_id
        self.state = state
        self.action = action


def next_state(
    tenant_id: str, state: TenantState, action: Action, *, suspended: bool | None = None
) -> TenantState:
    """The state `action` leads to from `state`, or a `TransitionError` naming both.

    `suspended` is the desired spec's: with it, suspending a tenant that is suspended or
    being suspended, or resuming one that is not, is refused whatever is queued (the state
    `updating` alone cannot tell a suspension from a resumption).
    """
    target = TRANSITIONS.get((state, action))
    if target is None or _contradicts(action, suspended):
        raise TransitionError(tenant_id, state, action, suspended=suspended)
    return target


def allowed_actions(state: TenantState, *, suspended: bool | None = None) -> list[Action]:
    """The requests `state` allows (and the desired suspension, when given), in order."""
    return [a for a in REQUESTS if (state, a) in TRANSITIONS and not _contradicts(a, suspended)]


def _contradicts(action: Action, suspended: bool | None) -> bool:
    if suspended is None:
        return False
    return (action is A.SUSPEND and suspended) or (action is A.RESUME and not suspended)
