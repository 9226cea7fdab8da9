"""Signing up, confirming the address, signing in and out, password reset, the caller."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request, Response, status

from control_plane.web.deps import (
    ContextDep,
    PrincipalDep,
    clear_session_cookie,
    set_session_cookie,
)
from control_plane.web.problems import PROBLEM_RESPONSES
from control_plane.web.schemas import (
    Code,
    EmailOnly,
    MembershipOut,
    MeOut,
    NewPassword,
    Notice,
    SessionOut,
    SignIn,
    SignUp,
    UserOut,
)

router = APIRouter(tags=["account"], responses=PROBLEM_RESPONSES)


def _user(view: object) -> UserOut:
    assert dataclasses.is_dataclass(view) and not isinstance(view, type)
    return UserOut.model_validate(dataclasses.asdict(view))


@router.post("/account/signup", status_code=status.HTTP_201_CREATED, summary="Create an account")
def sign_up(body: SignUp, context: ContextDep) -> UserOut:
    """The account starts unverified; a confirmation code is mailed to the address."""
    return _user(context.accounts.create_user(body.email, body.password, body.display_name))


@router.post("/account/verify", summary="Confirm the e-mail address with the mailed code")
def verify(body: Code, context: ContextDep) -> UserOut:
    return _user(context.accounts.verify_email(body.token))


@router.post(
    "/account/verify/resend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mail a new confirmation code (same answer whether the account exists or not)",
)
def resend_verification(body: EmailOnly, context: ContextDep) -> Notice:
    context.accounts.resend_verification(body.email)
    return Notice(detail="if the account exists and is unconfirmed, a new code was mailed")


@router.post(
    "/account/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mail a password reset code (same answer whether the account exists or not)",
)
def request_reset(body: EmailOnly, context: ContextDep) -> Notice:
    context.accounts.request_password_reset(body.email)
    return Notice(detail="if the account exists, a reset code was mailed")


@router.post("/account/password-reset/confirm", summary="Set a new password; every session ends")
def confirm_reset(body: NewPassword, context: ContextDep) -> UserOut:
    return _user(context.accounts.reset_password(body.token, body.password))


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    summary="Sign in: sets an HTTP-only session cookie and returns its CSRF token",
)
def sign_in(body: SignIn, request: Request, response: Response, context: ContextDep) -> SessionOut:
    address = request.client.host if request.client else "unknown"
    signed_in = context.accounts.sign_in(body.email, body.password, address=address)
    set_session_cookie(response, context, signed_in.session_token)
    return SessionOut(
        csrf_token=signed_in.csrf_token,
        expires_at=signed_in.expires_at,
        user=_user(signed_in.user),
    )


@router.delete(
    "/sessions/current",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: the session row ends, the cookie is cleared",
)
def sign_out(principal: PrincipalDep, context: ContextDep) -> Response:
    context.accounts.sign_out(principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response)
    return response


@router.get("/me", summary="The caller: account, memberships and how it authenticated")
def me(principal: PrincipalDep, context: ContextDep) -> MeOut:
    return MeOut(
        user=_user(context.accounts.user(principal.user_id)),
        memberships=[
            MembershipOut(tenant_id=t, role=r.value)
            for t, r in sorted(principal.memberships.items())
        ],
        via=principal.via,
        scope=principal.scope,
        token_tenant=principal.token_tenant,
    )
