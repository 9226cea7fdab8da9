"""The state machine: every allowed transition leads where it should, every other is refused."""

from __future__ import annotations

import itertools

import pytest

from control_plane.registry.lifecycle import (
    TRANSITIONS,
    Action,
    TenantState,
    TransitionError,
    allowed_actions,
    next_state,
)

# The lifecycle as a reader would draw it: state, action -> state.
EXPECTED = """
pending update pending
pending deprovision deprovisioning
pending preview pending
pending start provisioning
provisioning update provisioning
provisioning deprovision deprovisioning
provisioning activated active
provisioning suspended suspended
provisioning failed failed
active update updating
active up updating
active suspend updating
active deprovision deprovisioning
active preview active
active refresh active
updating update updating
updating suspend updating
updating resume updating
updating deprovision deprovisioning
updating preview updating
updating refresh updating
updating activated active
updating suspended suspended
updating failed failed
suspended update updating
suspended up updating
suspended resume updating
suspended deprovision deprovisioning
suspended preview suspended
suspended refresh suspended
deprovisioning deprovision deprovisioning
deprovisioning retired retired
deprovisioning failed failed
failed update updating
failed up updating
failed suspend updating
failed resume updating
failed deprovision deprovisioning
failed preview failed
failed refresh failed
"""

ALLOWED = {
    (TenantState(s), Action(a)): TenantState(t)
    for s, a, t in (line.split() for line in EXPECTED.strip().splitlines())
}


def test_the_table_is_exactly_the_drawn_lifecycle() -> None:
    assert TRANSITIONS == ALLOWED


@pytest.mark.parametrize(("state", "action"), sorted(ALLOWED, key=str))
def test_allowed_transition(state: TenantState, action: Action) -> None:
    assert next_state("acme", state, action) is ALLOWED[(state, action)]


FORBIDDEN = sorted(
    (pair for pair in itertools.product(TenantState, Action) if pair not in ALLOWED), key=str
)


@pytest.mark.parametrize(("state", "action"), FORBIDDEN)
def test_forbidden_transition_names_state_and_action(state: TenantState, action: Action) -> None:
    with pytest.raises(TransitionError) as raised:
        next_state("acme", state, action)
    message = str(raised.value)
    assert f"cannot {action.value} tenant 'acme' in state {state.value!r}" in message
    assert (raised.value.state, raised.value.action) == (state, action)
    allowed = ", ".join(a.value for a in allowed_actions(state)) or "none"
    assert message.endswith(f"allowed in {state.value!r}: {allowed}")


def test_retired_is_final() -> None:
    assert allowed_actions(TenantState.RETIRED) == []
