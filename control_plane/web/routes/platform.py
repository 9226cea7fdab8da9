"""What only the platform's staff do outside one tenant: lift a sign-in lockout."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends

from control_plane.accounts.roles import Permission, PlatformRole
from control_plane.web.deps import ContextDep, RowId, platform_access
from control_plane.web.problems import PROBLEM_RESPONSES
from control_plane.web.schemas import UserOut

router = APIRouter(prefix="/users", tags=["platform"], responses=PROBLEM_RESPONSES)


@router.post("/{user_id}/unlock", summary="Lift a sign-in lockout")
def unlock(
    _role: Annotated[PlatformRole, Depends(platform_access(Permission.USERS_UNLOCK))],
    user_id: RowId,
    context: ContextDep,
) -> UserOut:
    return UserOut.model_validate(dataclasses.asdict(context.accounts.unlock(user_id)))
