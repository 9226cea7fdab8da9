"""What a deprovisioning destroy keeps: the tenant's data stores and their own configuration.

Data resources (buckets, KMS keys, tables) are registered with `protect=True`. A destroy that
retains data leaves them in the cloud; the resources of the same service that configure them
(bucket policy, encryption, versioning, public access block, key alias, ...) stay too, because
deleting those would strip a kept bucket of its encryption or its TLS-only policy.

Both runners use this: the Automation runner on the exported state, the offline runner on
its recorded plan. Resources are plain mappings with the state file's keys: `urn`, `type`,
`id`, `protect`, `parent` (a URN) and `dependencies` (URNs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

StateResource = Mapping[str, Any]


@dataclass(frozen=True)
class RetentionPlan:
    """How a destroy splits a stack's resources."""

    kept: tuple[StateResource, ...]
    """Protected data resources, left in the cloud."""
    kept_with_data: tuple[StateResource, ...]
    """Same-service resources that configure a kept one (its policy, encryption, alias...)."""
    destroyed: tuple[StateResource, ...]
    """Everything else."""

    @property
    def kept_urns(self) -> frozenset[str]:
        return frozenset(str(r["urn"]) for r in (*self.kept, *self.kept_with_data))

    @property
    def retained(self) -> list[str]:
        """One line per kept data resource, its kind and physical id: `Bucket acme-data-1a2b`."""
        return [retained_label(r) for r in self.kept]


def _service(type_token: str) -> str:
    """`aws:s3/bucketPolicy:BucketPolicy` -> `aws:s3`."""
    return type_token.split("/", 1)[0]


def retained_label(resource: StateResource) -> str:
    kind = str(resource["type"]).rsplit(":", 1)[-1]
    physical = resource.get("id") or str(resource["urn"]).rsplit("::", 1)[-1]
    return f"{kind} {physical}"


def plan_retention(resources: Sequence[StateResource]) -> RetentionPlan:
    """Split resources into kept data, its same-service configuration, and the rest."""
    kept = [r for r in resources if r.get("protect") and r.get("custom", True)]
    kept_urns = {str(r["urn"]) for r in kept}
    kept_services = {str(r["urn"]): _service(str(r["type"])) for r in kept}
    kept_with_data: list[StateResource] = []
    destroyed: list[StateResource] = []
    for resource in resources:
        urn = str(resource["urn"])
        if urn in kept_urns:
            continue
        service = _service(str(resource["type"]))
        refs = {*resource.get("dependencies", ()), resource.get("parent")}
        if any(kept_services.get(str(ref)) == service for ref in refs if ref):
            kept_with_data.append(resource)
        else:
            destroyed.append(resource)
    return RetentionPlan(tuple(kept), tuple(kept_with_data), tuple(destroyed))


def drop_from_state(deployment: Mapping[str, Any], urns: frozenset[str]) -> dict[str, Any]:
    """The deployment without `urns`, every reference to them removed.

    This is `pulumi state delete --force` for many resources at once: the engine then
    neither deletes them nor rejects the state for dangling references. A resource whose
    parent is dropped moves up to that parent's own parent.
    """
    resources: list[Mapping[str, Any]] = list(deployment.get("resources") or [])
    parent_of = {str(r["urn"]): r.get("parent") for r in resources}

    def surviving_parent(urn: str | None) -> str | None:
        while urn is not None and urn in urns:
            urn = parent_of.get(urn)
        return urn

    kept: list[dict[str, Any]] = []
    for resource in resources:
        if str(resource["urn"]) in urns:
            continue
        edited = dict(resource)
        if resource.get("parent") is not None:
            edited["parent"] = surviving_parent(resource["parent"])
        if "dependencies" in resource:
            edited["dependencies"] = [d for d in resource["dependencies"] if d not in urns]
        if "propertyDependencies" in resource:
            edited["propertyDependencies"] = {
                prop: [d for d in deps if d not in urns]
                for prop, deps in resource["propertyDependencies"].items()
            }
        if resource.get("deletedWith") in urns:
            del edited["deletedWith"]
        kept.append(edited)
    return {**deployment, "resources": kept}


def unprotect_all(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The deployment with every resource's `protect` flag cleared (a purge destroys data)."""
    resources = [
        {**r, "protect": False} if r.get("protect") else dict(r)
        for r in deployment.get("resources") or []
    ]
    return {**deployment, "resources": resources}
