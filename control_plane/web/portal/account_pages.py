"""Signing up, confirming the address, signing in and out, password reset and accepting an
invitation: the account use cases of `/api/v1` as forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from control_plane.accounts.errors import AccountsError
from control_plane.web.deps import ContextDep, clear_session_cookie, set_session_cookie
from control_plane.web.portal.auth import MaybePrincipal, PagePrincipal, SameSiteForm, safe_next
from control_plane.web.portal.forms import FormText, parse
from control_plane.web.portal.render import page, redirect
from control_plane.web.problems import detail_of, status_of
from control_plane.web.schemas import Accept, Code, EmailOnly, NewPassword, SignIn, SignUp

router = APIRouter(include_in_schema=False)

NextPath = Annotated[str, Query(max_length=512)]
CodeQuery = Annotated[str, Query(max_length=128)]
OptionalField = Annotated[str, Form(max_length=512)]


def _refused(
    request: Request,
    template: str,
    principal: MaybePrincipal,
    errors: list[str],
    *,
    status_code: int = 422,
    **values: str,
) -> HTMLResponse:
    return page(
        request, template, principal=principal, errors=errors, status_code=status_code, **values
    )


def _refusal(error: AccountsError) -> tuple[list[str], int]:
    return [detail_of(error)], status_of(error) or 422


@router.get("/login", name="login")
def login_form(request: Request, principal: MaybePrincipal, next: NextPath = "/") -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(request, "login.html", principal=None, errors=[], email="", next=safe_next(next))


@router.post("/login", dependencies=[SameSiteForm])
def login(
    request: Request,
    context: ContextDep,
    email: FormText,
    password: FormText,
    next: OptionalField = "/",
) -> Response:
    body, errors = parse(SignIn, {"email": email, "password": password})
    status_code = 422
    if body is not None:
        address = request.client.host if request.client else "unknown"
        try:
            signed_in = context.accounts.sign_in(body.email, body.password, address=address)
        except AccountsError as error:
            errors, status_code = _refusal(error)
        else:
            response = redirect(safe_next(next), notice=f"Signed in as {signed_in.user.email}.")
            set_session_cookie(response, context, signed_in.session_token)
            return response
    return _refused(
        request,
        "login.html",
        None,
        errors,
        status_code=status_code,
        email=email,
        next=safe_next(next),
    )


@router.post("/logout", name="logout")
def logout(principal: PagePrincipal, context: ContextDep) -> Response:
    context.accounts.sign_out(principal)
    response = redirect("/login", notice="Signed out.")
    clear_session_cookie(response)
    return response


@router.get("/signup", name="signup")
def signup_form(request: Request, principal: MaybePrincipal) -> Response:
    return page(request, "signup.html", principal=principal, errors=[], email="", display_name="")


@router.post("/signup", dependencies=[SameSiteForm])
def signup(
    request: Request,
    context: ContextDep,
    email: FormText,
    password: FormText,
    display_name: FormText,
) -> Response:
    body, errors = parse(
        SignUp, {"email": email, "password": password, "display_name": display_name}
    )
    status_code = 422
    if body is not None:
        try:
            user = context.accounts.create_user(body.email, body.password, body.display_name)
        except AccountsError as error:
            errors, status_code = _refusal(error)
        else:
            return redirect(
                "/verify",
                notice=f"Account created. We mailed a confirmation code to {user.email}.",
            )
    return _refused(
        request,
        "signup.html",
        None,
        errors,
        status_code=status_code,
        email=email,
        display_name=display_name,
    )


@router.get("/verify", name="verify")
def verify_form(request: Request, principal: MaybePrincipal, code: CodeQuery = "") -> Response:
    return page(request, "verify.html", principal=principal, errors=[], code=code)


@router.post("/verify", dependencies=[SameSiteForm])
def verify(request: Request, context: ContextDep, code: FormText) -> Response:
    body, errors = parse(Code, {"token": code.strip()})
    status_code = 422
    if body is not None:
        try:
            user = context.accounts.verify_email(body.token)
        except AccountsError as error:
            errors, status_code = _refusal(error)
        else:
            return redirect("/login", notice=f"{user.email} is confirmed. Sign in to continue.")
    return _refused(request, "verify.html", None, errors, status_code=status_code, code=code)


@router.post("/verify/resend", name="verify_resend", dependencies=[SameSiteForm])
def resend(request: Request, context: ContextDep, email: FormText) -> Response:
    body, errors = parse(EmailOnly, {"email": email})
    if body is None:
        return _refused(request, "verify.html", None, errors, code="")
    context.accounts.resend_verification(body.email)
    return redirect(
        "/verify", notice="If the account exists and is unconfirmed, a new code was mailed."
    )


@router.get("/password-reset", name="password_reset")
def reset_request_form(request: Request, principal: MaybePrincipal) -> Response:
    return page(request, "reset_request.html", principal=principal, errors=[], email="")


@router.post("/password-reset", dependencies=[SameSiteForm])
def reset_request(request: Request, context: ContextDep, email: FormText) -> Response:
    body, errors = parse(EmailOnly, {"email": email})
    if body is None:
        return _refused(request, "reset_request.html", None, errors, email=email)
    context.accounts.request_password_reset(body.email)
    return redirect(
        "/password-reset/confirm", notice="If the account exists, a reset code was mailed."
    )


@router.get("/password-reset/confirm", name="password_reset_confirm")
def reset_form(request: Request, principal: MaybePrincipal, code: CodeQuery = "") -> Response:
    return page(request, "reset_confirm.html", principal=principal, errors=[], code=code)


@router.post("/password-reset/confirm", dependencies=[SameSiteForm])
def reset(request: Request, context: ContextDep, code: FormText, password: FormText) -> Response:
    body, errors = parse(NewPassword, {"token": code.strip(), "password": password})
    status_code = 422
    if body is not None:
        try:
            context.accounts.reset_password(body.token, body.password)
        except AccountsError as error:
            errors, status_code = _refusal(error)
        else:
            response = redirect("/login", notice="Password changed; every session ended.")
            clear_session_cookie(response)
            return response
    return _refused(request, "reset_confirm.html", None, errors, status_code=status_code, code=code)


@router.get("/invitations/accept", name="invitation_accept")
def accept_form(request: Request, principal: MaybePrincipal, code: CodeQuery = "") -> Response:
    return page(request, "accept.html", principal=principal, errors=[], code=code, display_name="")


@router.post("/invitations/accept", dependencies=[SameSiteForm])
def accept(
    request: Request,
    context: ContextDep,
    *,
    principal: MaybePrincipal,
    code: FormText,
    password: OptionalField = "",
    display_name: OptionalField = "",
) -> Response:
    body, errors = parse(
        Accept, {"token": code.strip(), "password": password, "display_name": display_name}
    )
    status_code = 422
    if body is not None:
        try:
            member = context.accounts.accept_invitation(
                body.token, password=body.password, display_name=body.display_name
            )
        except AccountsError as error:
            errors, status_code = _refusal(error)
        else:
            if principal is not None and principal.user_id == member.user_id:
                return redirect("/", notice=f"You joined as {member.role}.")
            return redirect(
                "/login?next=/", notice=f"You joined as {member.role}. Sign in as {member.email}."
            )
    return _refused(
        request,
        "accept.html",
        principal,
        errors,
        status_code=status_code,
        code=code,
        display_name=display_name,
    )
