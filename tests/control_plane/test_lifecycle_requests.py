"""Suspend and resume are judged by the desired spec, not by what happens to be queued."""

from __future__ import annotations

import pytest

from control_plane.registry.lifecycle import (
    REQUESTS,
    TRANSITIONS,
    Action,
    TenantState,
    TransitionError,
    allowed_actions,
    next_state,
)


@pytest.mark.parametrize("state", list(TenantState))
def test_suspending_a_suspended_tenant_is_refused_in_every_state(state: TenantState) -> None:
    with pytest.raises(TransitionError, match=f"cannot suspend tenant 'acme' in state '{state}"):
        next_state("acme", state, Action.SUSPEND, suspended=True)
    assert Action.SUSPEND not in allowed_actions(state, suspended=True)


@pytest.mark.parametrize("state", list(TenantState))
def test_resuming_a_running_tenant_is_refused_in_every_state(state: TenantState) -> None:
    with pytest.raises(TransitionError, match=f"cannot resume tenant 'acme' in state '{state}"):
        next_state("acme", state, Action.RESUME, suspended=False)
    assert Action.RESUME not in allowed_actions(state, suspended=False)


def test_updating_allows_the_opposite_request() -> None:
    updating = TenantState.UPDATING
    assert next_state("acme", updating, Action.RESUME, suspended=True) is updating
    assert next_state("acme", updating, Action.SUSPEND, suspended=False) is updating


@pytest.mark.parametrize("state", list(TenantState))
def test_the_allowed_list_names_requests_only(state: TenantState) -> None:
    for suspended in (None, True, False):
        assert set(allowed_actions(state, suspended=suspended)) <= set(REQUESTS)
    forbidden = next(a for a in Action if (state, a) not in TRANSITIONS)
    with pytest.raises(TransitionError) as raised:
        next_state("acme", state, forbidden)
    for event in ("start", "activated", "suspended", "retired", "failed"):
        assert event not in str(raised.value).rsplit(":", 1)[1].split(", ")
