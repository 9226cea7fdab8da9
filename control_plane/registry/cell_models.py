"""The cell tables: AWS accounts tenants are spread over, and where each tenant was placed.

They share the registry's `Base`, so one migration history covers the schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.registry.models import Base, utcnow


class CellRecord(Base):
    """One AWS account tenants are deployed into, with the quotas read from it."""

    __tablename__ = "cells"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12), unique=True)
    role_arn: Mapped[str] = mapped_column(String(2048))
    """The role the control plane (and each tenant's provider) assumes in the account."""
    external_id: Mapped[str | None] = mapped_column(String(1224))
    regions: Mapped[list[str]]
    """Regions the cell serves, in the order they were given."""
    headroom_percent: Mapped[int] = mapped_column(Integer)
    """Share of every quota kept free (for drift, manual work and the next upgrade)."""
    quotas: Mapped[dict[str, Any]]
    """Quota values as read: `{"<region>": {quota key: value}, "account": {...}}`."""
    quotas_read_at: Mapped[datetime]
    silo_tenant: Mapped[str | None] = mapped_column(String(32), unique=True)
    """The one tenant of a silo account; empty for a pooled cell."""
    account_email: Mapped[str | None] = mapped_column(String(64))
    """A silo account's root e-mail address (the management stack declares it)."""
    drained: Mapped[bool] = mapped_column(Boolean, default=False)
    """A drained cell keeps its tenants and takes no new ones."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantPlacement(Base):
    """The cell a tenant lives in, fixed for its life, and what its plan reserves there."""

    __tablename__ = "cell_placements"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    cell_name: Mapped[str] = mapped_column(ForeignKey("cells.name"), index=True)
    region: Mapped[str] = mapped_column(String(32))
    plan: Mapped[str] = mapped_column(String(32))
    consumption: Mapped[dict[str, Any]]
    """Quota units the plan's bundle takes (`{quota key: count}`), from its offline plan."""
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
