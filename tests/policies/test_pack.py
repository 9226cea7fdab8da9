"""The pack: thin assembly, importable rules, complete metadata, the issue's coverage."""

from __future__ import annotations

import importlib
import re
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import EnforcementLevel, Policy, StackValidationPolicy

from policies.define import covered_types
from policies.frameworks import Framework, controls_of, parse_frameworks
from policies.pack import ALL_POLICIES, PACK_NAME, RULE_MODULES

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
NAME = re.compile(
    r"^(aws-[a-z0-9]+(-[a-z0-9]+)*-(missing|disallow|enable|disable|configure|enforce)(-[a-z0-9]+)*"
    r"|tenant(-[a-z0-9]+)+)$"
)


def test_main_only_assembles_the_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []

    class RecordingPack:
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs)

    monkeypatch.setattr("pulumi_policy.PolicyPack", RecordingPack)
    runpy.run_path(str(PACK_DIR / "__main__.py"), run_name="__main__")
    [kwargs] = built
    assert kwargs["name"] == PACK_NAME
    assert kwargs["policies"] == list(ALL_POLICIES)
    assert kwargs["enforcement_level"] is EnforcementLevel.MANDATORY


@pytest.mark.parametrize("module", [m.__name__ for m in RULE_MODULES])
def test_every_rule_module_imports_on_its_own(module: str) -> None:
    imported = importlib.import_module(module)
    assert any(isinstance(v, Policy) for v in vars(imported).values())


def test_pack_manifest_is_a_python_pack() -> None:
    manifest = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"


def test_at_least_thirty_policies_with_unique_conventional_names() -> None:
    names = [p.name for p in ALL_POLICIES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    assert [n for n in names if not NAME.match(n)] == []


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda p: p.name)
def test_metadata_is_complete(policy: Policy) -> None:
    assert policy.description.endswith(".")
    assert policy.severity is not None
    assert policy.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
    assert policy.remediation_steps
    controls = controls_of(policy)
    assert controls, "every policy serves at least one framework control"
    assert policy.framework is not None
    assert policy.framework.name == controls[0].framework.full_name
    if policy.config_schema is not None:
        for name, schema in policy.config_schema.properties.items():
            assert "default" in schema and "description" in schema, name


def test_issue_coverage() -> None:
    names = {p.name for p in ALL_POLICIES}
    required = {
        "aws-s3-bucket-enforce-kms-encryption",
        "aws-s3-bucket-enable-bucket-key",
        "aws-s3-bucket-disallow-public-acl",
        "aws-s3-bucket-configure-public-access-block",
        "aws-s3-bucket-enforce-tls-only",
        "aws-s3-bucket-enable-versioning",
        "aws-s3-bucket-missing-access-logging",
        "aws-s3-bucket-enforce-owner-ownership",
        "aws-kms-key-enable-rotation",
        "aws-kms-key-disallow-lockout-bypass",
        "aws-kms-key-disallow-wildcard-principal",
        "aws-vpc-security-group-disallow-public-ingress",
        "aws-vpc-security-group-disallow-unrestricted-egress",
        "aws-vpc-security-group-missing-rule-description",
        "aws-ec2-default-security-group-disallow-rules",
        "aws-ec2-vpc-missing-flow-logs",
        "aws-ec2-subnet-disallow-public-ip-on-launch",
        "aws-ec2-launch-template-disallow-public-ip",
        "aws-ec2-launch-template-enforce-ebs-encryption",
        "aws-ec2-launch-template-enforce-imdsv2",
        "aws-ec2-launch-template-disallow-secrets-in-user-data",
        "aws-autoscaling-group-missing-launch-template",
        "tenant-autoscaling-group-enforce-plan-capacity",
        "aws-iam-policy-disallow-admin-access",
        "aws-iam-policy-disallow-privilege-escalation",
        "aws-iam-role-disallow-wildcard-trust",
        "aws-iam-role-disallow-admin-attachment",
        "aws-iam-role-missing-permissions-boundary",
        "aws-dynamodb-table-enforce-kms-encryption",
        "aws-dynamodb-table-enable-point-in-time-recovery",
        "aws-sns-topic-enforce-encryption",
        "aws-cloudwatch-log-group-configure-retention",
        "aws-cloudwatch-log-group-enforce-kms-encryption",
        "aws-rds-instance-disallow-public-access",
        "aws-rds-instance-enforce-storage-encryption",
        "aws-cloudwatch-metric-alarm-missing-actions",
        "aws-autoscaling-group-missing-alarms",
        "tenant-resource-missing-required-tags",
        "tenant-region-enforce-residency",
        "tenant-instance-type-enforce-plan",
        "tenant-iam-policy-enforce-isolation",
        # Conditions, networks, accounts and the resource types of issue 13.
        "aws-s3-encryption-configuration-enforce-kms",
        "aws-s3-bucket-disallow-website-hosting",
        "aws-vpc-security-group-disallow-combined-public-ingress",
        "aws-ec2-instance-disallow-public-ip",
        "aws-ec2-instance-enforce-ebs-encryption",
        "aws-ebs-volume-enforce-encryption",
        "aws-iam-policy-disallow-full-service-access",
        "aws-iam-resource-policy-disallow-untrusted-accounts",
        "aws-iam-role-enforce-external-id",
        "aws-iam-user-disallow-policies",
        "aws-sns-topic-disallow-public-policy",
        "aws-sqs-queue-disallow-public-policy",
        "aws-sqs-queue-enforce-encryption",
        "aws-secretsmanager-secret-enforce-kms-encryption",
        "aws-secretsmanager-secret-missing-rotation",
        "aws-cloudtrail-trail-enable-multi-region",
        "aws-cloudtrail-trail-enable-log-file-validation",
        "aws-cloudtrail-trail-enforce-kms-encryption",
        "aws-lb-listener-enforce-https",
        "aws-lb-listener-enforce-tls-policy",
        "aws-lb-load-balancer-enable-drop-invalid-headers",
        "aws-lb-load-balancer-enable-access-logs",
        "aws-rds-database-configure-backup-retention",
        "aws-rds-database-enable-deletion-protection",
        "aws-lambda-function-disallow-secrets-in-environment",
        "aws-lambda-function-disallow-public-access",
    }
    assert sorted(required - names) == []
    stack_policies = {p.name for p in ALL_POLICIES if isinstance(p, StackValidationPolicy)}
    assert {
        "aws-s3-bucket-enforce-kms-encryption",
        "aws-ec2-vpc-missing-flow-logs",
        "aws-autoscaling-group-missing-alarms",
        "tenant-iam-policy-enforce-isolation",
    } <= stack_policies


def test_every_framework_is_served() -> None:
    served = {c.framework for p in ALL_POLICIES for c in controls_of(p)}
    assert served == set(Framework)


def test_framework_selection() -> None:
    assert parse_frameworks("all") == tuple(Framework)
    assert parse_frameworks("pci-dss, cis-aws,pci-dss") == (Framework.PCI_DSS, Framework.CIS_AWS)
    with pytest.raises(ValueError, match="unknown framework 'nist'; known: cis-aws, pci-dss"):
        parse_frameworks("nist")


def test_readme_lists_every_rule_with_its_severity() -> None:
    readme = (PACK_DIR.parent / "README.md").read_text()
    section = readme.split("## Compliance policies and the pull-request gate", 1)[1]
    section = section.split("\n## ", 1)[0]
    claimed = re.search(r"`pulumi_policy`\): (\d+) rules", section)
    assert claimed is not None and int(claimed.group(1)) == len(ALL_POLICIES)
    for policy in ALL_POLICIES:
        row = next((line for line in section.splitlines() if f"`{policy.name}`" in line), "")
        assert row.endswith(f"| {policy.severity.value} |"), policy.name
        assert ("advisory" in row) is (policy.enforcement_level is EnforcementLevel.ADVISORY)


def test_every_policy_declares_the_resource_types_it_reads() -> None:
    everywhere = {
        "tenant-resource-missing-required-tags",
        "tenant-region-enforce-residency",
        "tenant-resource-disallow-default-provider",
    }
    for policy in ALL_POLICIES:
        types = covered_types(policy.name)
        assert bool(types) is (policy.name not in everywhere), policy.name
