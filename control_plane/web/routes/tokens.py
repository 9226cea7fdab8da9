"""The caller's own API tokens: list, issue (shown once), revoke."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from fastapi import APIRouter, status

from control_plane.accounts.service import TokenView
from control_plane.web.deps import ContextDep, PrincipalDep, RowId
from control_plane.web.problems import PROBLEM_RESPONSES
from control_plane.web.schemas import IssuedToken, NewToken, TokenOut

router = APIRouter(prefix="/tokens", tags=["tokens"], responses=PROBLEM_RESPONSES)


def _token(view: TokenView) -> TokenOut:
    return TokenOut.model_validate(dataclasses.asdict(view))


@router.get("", summary="The caller's API tokens (never the tokens themselves)")
def list_tokens(principal: PrincipalDep, context: ContextDep) -> list[TokenOut]:
    return [_token(t) for t in context.accounts.tokens(principal)]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Issue a token (shown once)")
def issue_token(body: NewToken, principal: PrincipalDep, context: ContextDep) -> IssuedToken:
    raw, view = context.accounts.issue_token(
        principal,
        name=body.name,
        scope=body.scope,
        tenant_id=body.tenant_id,
        lifetime=timedelta(days=body.expires_in_days),
    )
    return IssuedToken(token=raw, **dataclasses.asdict(view))


@router.delete("/{token_id}", summary="Revoke a token; it stops working on the next request")
def revoke_token(token_id: RowId, principal: PrincipalDep, context: ContextDep) -> TokenOut:
    return _token(context.accounts.revoke_token(principal, token_id))
