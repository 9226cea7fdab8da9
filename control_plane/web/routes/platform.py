"""What only the platform's staff do outside one tenant: lift a sign-in lockout."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends

from control_plane.accounts.roles import Permission, PlatformRole
from control_plane.web.deps import ContextDep, PrincipalDep, RowId, platform_access
from control_plane.web.problems import PROBLEM_RESPONSES
from control_plane.web.schemas import UserOut

router = APIRouter(prefix="/users", tags=["platform"], responses=PROBLEM_RESPONSES)


@router.post("/{user_id}/unlock", summary="Lift a sign-in lockout")
def unlock(
    _role: Annotated[PlatformRole, Depends(platform_access(Permission.USERS_UNLOCK))],
    user_id: RowId,
    principal: PrincipalDep,
    context: ContextDep,
) -> UserOut:
    user = context.accounts.unlock(user_id, actor=principal.actor)
    return UserOut.model_validate(dataclasses.asdict(user))
