"""Resources by component: which part of the bundle a resource belongs to (from its URN, as
the engine and the mocks write it), what of its outputs is kept, and a deployed stack's
state read into the same inventory, secrets masked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from control_plane.inventory import BUNDLE, COMPONENT_GROUPS, GROUPS, component_of
from control_plane.registry.runs import MAX_OUTPUT_CHARS, SECRET_VALUE, scalar_outputs
from control_plane.runners.automation import deployed_inventory

ROOT = Path(__file__).resolve().parents[2]
STACK = "urn:pulumi:acme::tenants::"
SECRET_ENVELOPE = {
    "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
    "ciphertext": "v1:abc",
}


@pytest.mark.parametrize(
    ("urn", "expected"),
    [
        # The engine writes the whole chain of parent types.
        (
            STACK + "pulumi:pulumi:Stack$tenants:index:ServiceBundle$tenants:index:TenantNetwork"
            "$aws:ec2/vpc:Vpc::acme-network-vpc",
            ("network", "network"),
        ),
        # The mocks write the direct parent only.
        (
            STACK + "tenants:index:TenantStorage$aws:s3/bucket:Bucket::acme-data",
            ("storage", "storage"),
        ),
        (
            STACK + "tenants:index:ServiceBundle$tenants:index:TenantEndpoint"
            "$aws:lb/loadBalancer:LoadBalancer::acme-endpoint-alb",
            ("add-ons", "endpoint"),
        ),
        (
            STACK + "tenants:index:ServiceBundle$tenants:index:SiloAccount"
            "$aws:organizations/account:Account::acme-account",
            (BUNDLE, BUNDLE),
        ),
        ("not-a-urn", (BUNDLE, BUNDLE)),
    ],
)
def test_a_resource_belongs_to_its_nearest_bundle_component(
    urn: str, expected: tuple[str, str]
) -> None:
    assert component_of(urn) == expected


def test_every_component_of_the_bundle_has_a_group() -> None:
    tokens = {
        match
        for path in (ROOT / "components").glob("*.py")
        for match in re.findall(r'"(tenants:index:\w+)"', path.read_text())
    }
    assert set(COMPONENT_GROUPS) == tokens - {
        "tenants:index:ServiceBundle",
        "tenants:index:SiloAccount",
    }
    assert set(COMPONENT_GROUPS.values()) | {BUNDLE} == set(GROUPS)


def test_only_short_scalar_outputs_are_kept_and_secrets_are_masked() -> None:
    kept = scalar_outputs(
        {
            "arn": "arn:aws:s3:::acme-data",
            "enabled": True,
            "port": 443,
            "policy": "{" + "x" * MAX_OUTPUT_CHARS + "}",
            "tagsAll": {"tenant": "acme"},
            "password": SECRET_ENVELOPE,
            "bcryptHash": "$2a$10$abc",
        },
        secret=("bcryptHash",),
    )
    assert kept == {
        "arn": "arn:aws:s3:::acme-data",
        "bcryptHash": SECRET_VALUE,
        "enabled": True,
        "password": SECRET_VALUE,
        "port": 443,
    }


def test_a_deployed_stack_state_becomes_the_inventory() -> None:
    deployment = {
        "resources": [
            {"urn": STACK + "pulumi:pulumi:Stack::tenants-acme", "type": "pulumi:pulumi:Stack"},
            {
                "urn": STACK + "pulumi:providers:aws::acme-provider",
                "type": "pulumi:providers:aws",
                "custom": True,
                "id": "b8d0",
            },
            {
                "urn": STACK + "tenants:index:TenantIdentity::acme-identity",
                "type": "tenants:index:TenantIdentity",
                "custom": False,
            },
            {
                "urn": STACK + "tenants:index:TenantIdentity"
                "$aws:secretsmanager/secretVersion:SecretVersion::acme-identity-secret-version",
                "type": "aws:secretsmanager/secretVersion:SecretVersion",
                "custom": True,
                "id": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x|v1",
                "outputs": {"secretString": SECRET_ENVELOPE, "versionId": "v1", "arn": "arn:x"},
                "additionalSecretOutputs": ["arn"],
            },
        ]
    }
    [version] = deployed_inventory(deployment)
    assert (version.name, version.type) == (
        "acme-identity-secret-version",
        "aws:secretsmanager/secretVersion:SecretVersion",
    )
    assert version.outputs == {
        "arn": SECRET_VALUE,
        "secretString": SECRET_VALUE,
        "versionId": "v1",
    }
    assert "ciphertext" not in repr(version) and "v1:abc" not in repr(version)
