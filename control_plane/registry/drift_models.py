"""The drift table: what the last drift check of each tenant found.

It shares the registry's `Base`, so one migration history covers the schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.registry.models import Base, utcnow


class DriftCheck(Base):
    """The latest drift check of one tenant; replaced by the next, removed by an `up`."""

    __tablename__ = "drift_checks"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    mode: Mapped[str] = mapped_column(String(16))
    """`deploy` (the engine's `preview_refresh` against the cloud) or `plan` (offline)."""
    spec_version: Mapped[int] = mapped_column(Integer)
    """The desired spec the check compared with."""
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operations.id"))
    resources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """The drifted resources: `{"urn", "type", "name", "change", "properties"}` each."""
