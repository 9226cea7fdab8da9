"""A tenant's resources by the part of the bundle they belong to, from the last run.

A resource's URN names the chain of component types it was created in, so the nearest
of the bundle's components in that chain says which part of the bundle it belongs to;
resources outside every component (a silo's account) belong to the bundle itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

BUNDLE = "bundle"
ADD_ONS = "add-ons"
COMPONENT_GROUPS: dict[str, str] = {
    "tenants:index:TenantNetwork": "network",
    "tenants:index:TenantStorage": "storage",
    "tenants:index:TenantIdentity": "identity",
    "tenants:index:TenantCompute": "compute",
    "tenants:index:TenantAlarms": "alarms",
    "tenants:index:TenantEndpoint": ADD_ONS,
    "tenants:index:TenantTelephony": ADD_ONS,
    "tenants:index:TenantMail": ADD_ONS,
    "tenants:index:TenantConnectivity": ADD_ONS,
}
"""The bundle's component type tokens and the group their resources are shown in."""
GROUPS = ("network", "storage", "identity", "compute", "alarms", ADD_ONS, BUNDLE)
"""Every group, in the order they are shown."""


@dataclass(frozen=True)
class ResourceView:
    """One cloud resource of the tenant's stack."""

    type: str
    name: str
    component: str
    """The component it was created in (`network`, `endpoint`, ...; `bundle` outside any)."""
    id: str | None
    outputs: dict[str, Any]


@dataclass(frozen=True)
class ComponentResources:
    group: str
    resources: list[ResourceView]


@dataclass(frozen=True)
class ResourceInventory:
    """The resources the tenant's last recording run left, grouped by component."""

    tenant_id: str
    mode: str | None
    """`plan` (evaluated offline: nothing exists in the cloud) or `deploy`; None when no
    run has recorded resources yet."""
    operation_id: int | None
    spec_version: int | None
    recorded_at: datetime | None
    groups: list[ComponentResources]

    @property
    def is_plan(self) -> bool:
        return self.mode == "plan"

    @classmethod
    def empty(cls, tenant_id: str) -> ResourceInventory:
        """Before any run recorded resources: every group, none in it."""
        return cls(tenant_id, None, None, None, None, group_by_component([]))


def component_of(urn: str) -> tuple[str, str]:
    """(group, component name) of the resource with this URN."""
    parts = urn.split("::")
    chain = parts[2].split("$") if len(parts) >= 4 else []
    for token in reversed(chain[:-1]):
        group = COMPONENT_GROUPS.get(token)
        if group is not None:
            return group, token.rsplit(":", 1)[-1].removeprefix("Tenant").lower()
    return BUNDLE, BUNDLE


def group_by_component(resources: Iterable[Mapping[str, Any]]) -> list[ComponentResources]:
    """Recorded resources (`RunResource` fields) in every group, each sorted by type and name."""
    grouped: dict[str, list[ResourceView]] = {group: [] for group in GROUPS}
    for resource in resources:
        group, component = component_of(str(resource["urn"]))
        grouped[group].append(
            ResourceView(
                type=str(resource["type"]),
                name=str(resource["name"]),
                component=component,
                id=resource.get("id"),
                outputs=dict(resource.get("outputs") or {}),
            )
        )
    return [
        ComponentResources(group, sorted(views, key=lambda v: (v.component, v.type, v.name)))
        for group, views in grouped.items()
    ]
