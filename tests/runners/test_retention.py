"""What a destroy keeps, chosen from an exported deployment (the state file's shape)."""

from __future__ import annotations

from typing import Any

import pytest

from control_plane.runners.retention import drop_from_state, plan_retention, unprotect_all

PREFIX = "urn:pulumi:acme::tenants::"
STACK = f"{PREFIX}pulumi:pulumi:Stack::tenants-acme"
BUNDLE = f"{PREFIX}tenants:index:ServiceBundle::acme"
STORAGE = f"{PREFIX}tenants:index:ServiceBundle$tenants:index:TenantStorage::acme-storage"
IN_STORAGE = f"{PREFIX}tenants:index:ServiceBundle$tenants:index:TenantStorage$"
PROVIDER = f"{PREFIX}tenants:index:ServiceBundle$pulumi:providers:aws::acme-aws"
KEY = f"{IN_STORAGE}aws:kms/key:Key::acme-key"
ALIAS = f"{IN_STORAGE}aws:kms/alias:Alias::acme-key-alias"
BUCKET = f"{IN_STORAGE}aws:s3/bucket:Bucket::acme-data"
BUCKET_POLICY = f"{IN_STORAGE}aws:s3/bucketPolicy:BucketPolicy::acme-data-policy"
BUCKET_SSE = (
    f"{IN_STORAGE}aws:s3/bucketServerSideEncryptionConfiguration:"
    "BucketServerSideEncryptionConfiguration::acme-data-sse"
)
TABLE = f"{IN_STORAGE}aws:dynamodb/table:Table::acme-table"
LOG_GROUP = f"{PREFIX}tenants:index:ServiceBundle$aws:cloudwatch/logGroup:LogGroup::acme-flow"
ROLE_POLICY = f"{PREFIX}tenants:index:ServiceBundle$aws:iam/rolePolicy:RolePolicy::acme-workload"
ASG = f"{PREFIX}tenants:index:ServiceBundle$aws:autoscaling/group:Group::acme-asg"


def _resource(urn: str, id_: str | None = None, **extra: Any) -> dict[str, Any]:
    type_token = urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1]
    resource: dict[str, Any] = {"urn": urn, "custom": id_ is not None, "type": type_token}
    if id_ is not None:
        resource["id"] = id_
    resource.update(extra)
    return resource


@pytest.fixture
def deployment() -> dict[str, Any]:
    """A tenant stack as `pulumi stack export` shows it (the parts retention looks at)."""
    return {
        "manifest": {"time": "2025-01-01T00:00:00Z", "magic": "x", "version": "v3.200.0"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:abc"}},
        "resources": [
            _resource(STACK),
            _resource(BUNDLE, parent=STACK),
            _resource(PROVIDER, "prov-1", parent=BUNDLE),
            _resource(STORAGE, parent=BUNDLE),
            _resource(KEY, "1234abcd-kms", parent=STORAGE, protect=True, dependencies=[]),
            _resource(ALIAS, "alias/acme", parent=STORAGE, dependencies=[KEY]),
            _resource(BUCKET, "acme-data-1a2b", parent=STORAGE, protect=True, dependencies=[KEY]),
            _resource(
                BUCKET_POLICY,
                "acme-data-1a2b",
                parent=STORAGE,
                dependencies=[BUCKET],
                propertyDependencies={"bucket": [BUCKET], "policy": [BUCKET]},
            ),
            _resource(BUCKET_SSE, "acme-data-1a2b", parent=STORAGE, dependencies=[BUCKET, KEY]),
            _resource(TABLE, "acme-table", parent=STORAGE, protect=True, dependencies=[KEY]),
            _resource(LOG_GROUP, "/tenants/acme/flow", parent=BUNDLE, dependencies=[KEY]),
            _resource(
                ROLE_POLICY,
                "acme-workload:data",
                parent=BUNDLE,
                dependencies=[BUCKET, TABLE, KEY],
                propertyDependencies={"policy": [BUCKET, TABLE]},
                deletedWith=BUCKET,
            ),
            _resource(ASG, "acme-asg", parent=BUNDLE),
        ],
    }


def test_protected_data_resources_are_kept_with_their_ids(deployment: dict[str, Any]) -> None:
    retention = plan_retention(deployment["resources"])

    assert retention.retained == [
        "Key 1234abcd-kms",
        "Bucket acme-data-1a2b",
        "Table acme-table",
    ]


def test_same_service_configuration_of_kept_data_stays(deployment: dict[str, Any]) -> None:
    retention = plan_retention(deployment["resources"])

    kept_with_data = {r["urn"] for r in retention.kept_with_data}
    # A kept bucket keeps its policy and encryption; a kept key keeps its alias.
    assert kept_with_data == {BUCKET_POLICY, BUCKET_SSE, ALIAS}


def test_everything_else_is_destroyed(deployment: dict[str, Any]) -> None:
    retention = plan_retention(deployment["resources"])

    destroyed = {r["urn"] for r in retention.destroyed}
    # Other services that merely use the data (logs, IAM) go with the stack.
    assert {LOG_GROUP, ROLE_POLICY, ASG, PROVIDER, STACK} <= destroyed
    assert retention.kept_urns.isdisjoint(destroyed)
    assert len(destroyed) + len(retention.kept_urns) == len(deployment["resources"])


def test_nothing_protected_keeps_nothing(deployment: dict[str, Any]) -> None:
    retention = plan_retention(unprotect_all(deployment)["resources"])

    assert retention.retained == []
    assert retention.kept_urns == frozenset()


def test_dropping_kept_resources_leaves_no_dangling_reference(
    deployment: dict[str, Any],
) -> None:
    kept = plan_retention(deployment["resources"]).kept_urns

    edited = drop_from_state(deployment, kept)

    urns = {r["urn"] for r in edited["resources"]}
    assert urns.isdisjoint(kept)
    for resource in edited["resources"]:
        refs = set(resource.get("dependencies", []))
        for deps in resource.get("propertyDependencies", {}).values():
            refs |= set(deps)
        refs.add(resource.get("deletedWith"))
        refs.add(resource.get("parent"))
        refs.discard(None)
        assert refs <= urns, f"{resource['urn']} still refers to {refs - urns}"
    role_policy = next(r for r in edited["resources"] if r["urn"] == ROLE_POLICY)
    assert role_policy["dependencies"] == []
    assert role_policy["propertyDependencies"] == {"policy": []}
    assert "deletedWith" not in role_policy
    # The rest of the deployment (secrets, manifest) is untouched.
    assert edited["secrets_providers"] == deployment["secrets_providers"]


def test_a_dropped_parent_hands_its_children_to_the_grandparent(
    deployment: dict[str, Any],
) -> None:
    edited = drop_from_state(deployment, frozenset({STORAGE}))

    children = [r for r in edited["resources"] if r["urn"].startswith(IN_STORAGE)]
    assert children
    assert all(r["parent"] == BUNDLE for r in children)


def test_the_export_is_not_modified(deployment: dict[str, Any]) -> None:
    before = repr(deployment)

    drop_from_state(deployment, plan_retention(deployment["resources"]).kept_urns)
    unprotect_all(deployment)

    assert repr(deployment) == before


def test_purge_clears_every_protect_flag(deployment: dict[str, Any]) -> None:
    purged = unprotect_all(deployment)

    assert not any(r.get("protect") for r in purged["resources"])
    assert len(purged["resources"]) == len(deployment["resources"])
