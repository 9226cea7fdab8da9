"""`tenantctl sync`: hand-edited stack files of registered tenants become spec changes.

The registry is the source of truth and writes each registered tenant's stack file. A
pull request that edits one is taken in here, after merge: validated like any request,
recorded with the commit's author as actor, and queued like any update. Tenants whose file
equals the registry are left alone, so running it on every merge is safe.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from control_plane.cli.context import (
    USER_ERRORS,
    ActorOption,
    JsonOption,
    actor_name,
    out,
    print_json,
    service,
)
from control_plane.registry.lifecycle import TenantState
from control_plane.service import TenantService

GIT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SyncResult:
    tenant_id: str
    outcome: str
    """`synced`, `in sync`, `not registered` or `refused`."""
    detail: str
    actor: str | None = None
    job_id: int | None = None


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(
    tenants: Annotated[
        list[str] | None, typer.Argument(help="Tenants to sync (default: every stack file).")
    ] = None,
    *,
    actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply edited stack files of registered tenants as spec changes (apply on merge).

    The actor is `--actor`, else the author of the last commit that touched the file,
    else the login name. Exit code 1 when any file was refused; the others still sync.
    """
    with service() as tenant_service:
        names = tenants or tenant_service.stacks.tenants()
        states = {view.tenant_id: view.state for view in tenant_service.tenants()}
        results = [_sync_one(tenant_service, states.get(name), name, actor) for name in names]
    if as_json:
        print_json(results)
    else:
        for result in results:
            _print(result)
    if any(r.outcome == "refused" for r in results):
        raise typer.Exit(1)


def _sync_one(
    tenant_service: TenantService, state: str | None, tenant_id: str, actor: str | None
) -> SyncResult:
    if state is None:
        return SyncResult(
            tenant_id,
            "not registered",
            f"`tenantctl tenants create {tenant_id} --from-stack` registers it",
        )
    if state == TenantState.RETIRED:
        return SyncResult(tenant_id, "in sync", "retired: its stack file is not applied")
    who = actor or commit_author(tenant_service.stacks.path(tenant_id)) or actor_name(None)
    try:
        accepted = tenant_service.sync_from_stack(tenant_id, actor=who)
    except USER_ERRORS as error:
        return SyncResult(tenant_id, "refused", str(error), actor=who)
    if accepted.job_id is None:
        return SyncResult(tenant_id, "in sync", "the stack file equals the registry")
    return SyncResult(
        tenant_id,
        "synced",
        f"spec v{accepted.spec_version}, {accepted.message}",
        actor=who,
        job_id=accepted.job_id,
    )


def commit_author(path: Path) -> str | None:
    """`Name <email>` of the last commit that touched `path`, when it is in a git work tree."""
    git = shutil.which("git")
    if git is None or not path.exists():
        return None
    try:
        answer = subprocess.run(
            [git, "log", "-1", "--format=%an <%ae>", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    author = answer.stdout.strip()
    return author[:128] if answer.returncode == 0 and author else None


def _print(result: SyncResult) -> None:
    colour = {"synced": "green", "refused": "red", "not registered": "yellow"}.get(
        result.outcome, "dim"
    )
    extra = f" (job {result.job_id}, by {escape(result.actor or '')})" if result.job_id else ""
    out.print(
        f"{result.tenant_id}: [{colour}]{result.outcome}[/]{extra}: {escape(result.detail)}",
        highlight=False,
        soft_wrap=True,
    )
