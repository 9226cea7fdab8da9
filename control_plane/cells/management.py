"""The management stack's config, written from the registry: the silo accounts as code.

`tenantctl cells vend` creates a silo account at once (so its tenant can be placed); this
file lists every silo account with its id, so `pulumi up` of the management stack adopts
them by import and keeps them under code (protected, never closed on removal).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.registry.cell_models import CellRecord
from control_plane.settings import Settings
from planner.program import MANAGEMENT_PROJECT

MANAGEMENT_STACK = "silos"


def management_stack_file(stacks_root: Path) -> Path:
    """`<stacks>/management/Pulumi.silos.yaml` (the management project's stackConfigDir)."""
    return stacks_root / "management" / f"Pulumi.{MANAGEMENT_STACK}.yaml"


def write_management_stack(session: Session, settings: Settings, stacks_root: Path) -> Path:
    """Rewrite the management stack's config from every silo cell in the registry."""
    silos = session.scalars(
        select(CellRecord).where(CellRecord.silo_tenant.is_not(None)).order_by(CellRecord.name)
    )
    config: dict[str, object] = {
        f"{MANAGEMENT_PROJECT}:accessRole": settings.silo_access_role,
        f"{MANAGEMENT_PROJECT}:siloAccounts": [
            {"tenant_id": c.silo_tenant, "email": c.account_email, "account_id": c.account_id}
            for c in silos
        ],
    }
    if settings.silo_organizational_unit:
        config[f"{MANAGEMENT_PROJECT}:organizationalUnit"] = settings.silo_organizational_unit
    path = management_stack_file(stacks_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".yaml.tmp")
    partial.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    partial.replace(path)
    return path
