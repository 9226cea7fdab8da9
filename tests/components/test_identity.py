"""Identity: every Allow is scoped to the tenant's own ARNs; roles are bounded."""

from __future__ import annotations

from typing import Any

from planner.model import TenantPlan
from tests.components.builders import document, only, plan_of


def _tenant_arns(plan: TenantPlan) -> set[str]:
    arns = {only(plan, "aws:kms/key:Key").outputs["arn"]}
    arns |= {r.outputs["arn"] for r in plan.by_type("aws:secretsmanager/secret:Secret")}
    arns |= {r.outputs["arn"] for r in plan.by_type("aws:dynamodb/table:Table")}
    arns |= {r.outputs["arn"] for r in plan.by_type("aws:cloudwatch/logGroup:LogGroup")}
    return arns


def _allowed_resources(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"]
    return [resources] if isinstance(resources, str) else list(resources)


def _is_tenant_resource(resource: str, plan: TenantPlan) -> bool:
    buckets = {b.outputs["arn"] for b in plan.by_type("aws:s3/bucket:Bucket")}
    if resource in _tenant_arns(plan) or resource in buckets:
        return True
    if any(resource == f"{b}/*" for b in buckets):
        return True
    if any(resource.startswith(f"{t}:") or resource == f"{t}:*" for t in _tenant_arns(plan)):
        return True
    if any(resource == f"{t}/index/*" for t in _tenant_arns(plan)):
        return True
    return resource.startswith(
        f"arn:aws:logs:eu-west-1:123456789012:log-group:/tenants/{plan.tenant}/"
    )


def test_every_iam_allow_names_only_the_tenants_own_resources() -> None:
    plan = plan_of(
        storage={"buckets": [{"role": "data"}, {"role": "media"}], "table": {}},
        operator={"account_id": "210987654321", "external_id": "external-id-0123456789"},
    )
    documents = [document(p) for p in plan.by_type("aws:iam/rolePolicy:RolePolicy")]
    documents += [document(p) for p in plan.by_type("aws:iam/policy:Policy")]
    assert len(documents) == 4  # workload, operator, flow logs, boundary
    for doc in documents:
        for statement in doc["Statement"]:
            assert statement["Effect"] == "Allow"
            for resource in _allowed_resources(statement):
                assert resource != "*"
                assert _is_tenant_resource(resource, plan), resource


def test_roles_carry_the_boundary_and_workload_is_assumed_by_ec2_only() -> None:
    plan = plan_of()
    boundary = only(plan, "aws:iam/policy:Policy").outputs["arn"]
    roles = plan.by_type("aws:iam/role:Role")
    assert roles and all(r.inputs["permissionsBoundary"] == boundary for r in roles)
    workload = next(r for r in roles if r.name.endswith("workload-role"))
    trust = document(workload, "assumeRolePolicy")
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    profile = only(plan, "aws:iam/instanceProfile:InstanceProfile")
    assert profile.inputs["role"] == workload.outputs["name"]


def test_operator_role_requires_the_external_id_and_only_exists_when_asked() -> None:
    assert not [r for r in plan_of().by_type("aws:iam/role:Role") if "operator" in r.name]
    plan = plan_of(operator={"account_id": "210987654321", "external_id": "external-id-0123456789"})
    role = next(r for r in plan.by_type("aws:iam/role:Role") if "operator" in r.name)
    statement = document(role, "assumeRolePolicy")["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "external-id-0123456789"}}


def test_tenant_secret_is_random_kms_encrypted_and_never_in_plain_inputs() -> None:
    plan = plan_of()
    secret = only(plan, "aws:secretsmanager/secret:Secret")
    assert secret.inputs["kmsKeyId"] == only(plan, "aws:kms/key:Key").outputs["arn"]
    assert secret.inputs["name"] == "tenants/testco/app"
    password = only(plan, "random:index/randomPassword:RandomPassword")
    assert password.inputs["length"] == 40
    version = only(plan, "aws:secretsmanager/secretVersion:SecretVersion")
    # The value is a secret: the plan shows a placeholder, never the generated password.
    assert version.inputs["secretString"] == "[secret]"
    assert password.outputs["result"] == "[secret]"
