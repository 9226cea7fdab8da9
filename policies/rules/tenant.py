"""Tenant rules: tags naming the stack's tenant, residency, plan limits, isolation, protection."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from components.names import tenant_log_group_name
from components.spec import SUPPORTED_REGIONS
from policies.define import Report, StackReport, of_type, resource_policy, stack_policy, within
from policies.frameworks import hipaa, iso, pci, soc2
from policies.iam_documents import (
    PERMISSION_DOCUMENT_TYPES,
    InvalidDocumentError,
    documents_of,
    parse_document,
)
from policies.props import (
    PLATFORM_TAGS,
    as_bool,
    as_int,
    is_taggable,
    items,
    known,
    mapping,
    stack_of_urn,
    tags_of,
    text,
)
from policies.rules.compute import AUTOSCALING_GROUP, INSTANCE, LAUNCH_TEMPLATE
from policies.tenancy import plan_of, residency_regions, stack_spec

AWS_PROVIDER = "pulumi:providers:aws"
DATA_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
    "aws:dynamodb/table:Table",
    "aws:secretsmanager/secret:Secret",
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
)

_REQUIRED_TAGS_CONFIG = {
    "requiredTags": {
        "type": "array",
        "items": {"type": "string"},
        "default": list(PLATFORM_TAGS),
        "description": "Tags every taggable resource carries.",
    }
}


def _is_aws_resource(resource_type: str) -> bool:
    return resource_type.startswith("aws:")


def _tag_problems(tags: Mapping[str, str], required: list[str], tenant: str) -> list[str]:
    problems = []
    missing = [key for key in required if not tags.get(key)]
    if missing:
        problems.append(f"is missing required tag(s) {', '.join(missing)}")
    if tenant and tags.get("tenant") and tags["tenant"] != tenant:
        problems.append(f"is tagged tenant={tags['tenant']!r} but belongs to stack {tenant!r}")
    if tags.get("plan") and plan_of(tags) is None:
        problems.append(f"is tagged with unknown plan {tags['plan']!r}")
    return problems


def _check_required_tags(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    if not _is_aws_resource(args.resource_type) or not is_taggable(args.props):
        return
    required = [str(t) for t in config["requiredTags"]]
    tags = tags_of(args.props)
    for problem in _tag_problems(tags, required, stack_of_urn(args.urn)):
        report(problem)
    if args.resource_type == AUTOSCALING_GROUP:
        for tag in items(args.props.get("tags")):
            entry = mapping(tag)
            if entry.get("key") in required and as_bool(entry.get("propagateAtLaunch")) is not True:
                report(f"does not propagate tag {entry.get('key')!r} to its instances")


tenant_resource_missing_required_tags = resource_policy(
    name="tenant-resource-missing-required-tags",
    description="Taggable resources carry the platform tags, with the stack's tenant id.",
    severity=Severity.MEDIUM,
    controls=(soc2("CC6.1"), iso("A.5.9")),
    remediation="Create resources with the tenant's provider (its default_tags set the tags); "
    "Auto Scaling groups list them with propagate_at_launch=True.",
    resource_types=(),
    check=_check_required_tags,
    config=_REQUIRED_TAGS_CONFIG,
    topics=("tenancy", "tagging", "cost"),
)


def _provider_default_tags(props: Mapping[str, Any]) -> dict[str, str]:
    # Provider inputs may arrive JSON-encoded, depending on the SDK that registered them.
    raw = props.get("defaultTags")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = {}
    return {str(k): str(v) for k, v in mapping(mapping(raw).get("tags")).items()}


def _check_provider_tags(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    required = [str(t) for t in config["requiredTags"]]
    tags = _provider_default_tags(args.props)
    for problem in _tag_problems(tags, required, stack_of_urn(args.urn)):
        report(f"default tags: {problem.removeprefix('is ')}")


tenant_provider_configure_default_tags = resource_policy(
    name="tenant-provider-configure-default-tags",
    description="The tenant's AWS provider sets the platform tags as default tags.",
    severity=Severity.MEDIUM,
    controls=(soc2("CC6.1"), iso("A.5.9")),
    remediation="Give the aws.Provider default_tags with tenant, plan, managed-by, cost-center.",
    resource_types=(AWS_PROVIDER,),
    check=_check_provider_tags,
    config=_REQUIRED_TAGS_CONFIG,
    topics=("tenancy", "tagging"),
)


def _check_residency(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    if args.resource_type != AWS_PROVIDER and not _is_aws_resource(args.resource_type):
        return
    region = args.props.get("region")
    if not region:
        if args.resource_type == AWS_PROVIDER:
            report("sets no region; the tenant's region must be explicit")
        return
    spec = stack_spec()
    residency = str(spec.get("residency", "")) if spec else ""
    allowed = residency_regions(residency) if residency else None
    if allowed is None:
        allowed = tuple(str(r) for r in config["allowedRegions"])
        where = "the allowed regions"
    else:
        where = f"residency {residency!r}"
    if region not in allowed:
        report(f"uses region {region!r}, outside {where}; allowed: {', '.join(allowed)}")


tenant_region_enforce_residency = resource_policy(
    name="tenant-region-enforce-residency",
    description="Tenant resources live in a region of the tenant's data residency.",
    severity=Severity.CRITICAL,
    controls=(soc2("C1.1"), iso("A.5.34"), hipaa("164.308(a)(1)(ii)(B)")),
    remediation="Set the spec's region to one of its residency's regions (or change residency "
    "with the customer's consent).",
    resource_types=(),
    check=_check_residency,
    config={
        "allowedRegions": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(SUPPORTED_REGIONS),
            "description": "Regions allowed when the stack's residency is not known.",
        }
    },
    topics=("tenancy", "residency"),
)


_NO_PLAN = "the resource has no known plan tag"


def _check_instance_type(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    instance_type = args.props.get("instanceType")
    if not instance_type:
        return
    plan = plan_of(tags_of(args.props))
    if plan is None:
        args.not_applicable(_NO_PLAN)
        return
    if instance_type not in plan.limits.instance_types:
        report(
            f"uses instance type {instance_type!r}, not allowed on plan {plan.name.value!r}; "
            f"allowed: {', '.join(plan.limits.instance_types)}"
        )


tenant_instance_type_enforce_plan = resource_policy(
    name="tenant-instance-type-enforce-plan",
    description="Instances use an instance type the tenant's plan allows.",
    severity=Severity.HIGH,
    controls=(soc2("CC6.1"), iso("A.8.6")),
    remediation="Choose an instance type of the plan (components.plans.CATALOG) or upgrade.",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE),
    check=_check_instance_type,
    topics=("tenancy", "plan", "cost"),
)


def _check_capacity(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    plan = plan_of(tags_of(args.props))
    if plan is None:
        args.not_applicable(_NO_PLAN)
        return
    low = as_int(args.props.get("minSize"))
    high = as_int(args.props.get("maxSize"))
    desired = as_int(args.props.get("desiredCapacity"))
    limit = plan.limits.max_instances
    if high is not None and high > limit:
        report(f"has maxSize {high}, above plan {plan.name.value!r} limit of {limit}")
    if low is not None and high is not None and low > high:
        report(f"has minSize {low} above maxSize {high}")
    if desired is not None and low is not None and high is not None and not low <= desired <= high:
        report(f"has desiredCapacity {desired} outside minSize {low} to maxSize {high}")


tenant_autoscaling_group_enforce_plan_capacity = resource_policy(
    name="tenant-autoscaling-group-enforce-plan-capacity",
    description="Auto Scaling capacity stays within the tenant plan's limits.",
    severity=Severity.HIGH,
    controls=(soc2("CC6.1"), iso("A.8.6")),
    remediation="Lower compute.max_size to the plan's limit, or upgrade the plan.",
    resource_types=(AUTOSCALING_GROUP,),
    check=_check_capacity,
    topics=("tenancy", "plan", "cost"),
)


def _check_default_provider(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if not _is_aws_resource(args.resource_type):
        return
    provider = args.provider
    if provider is None or provider.name.startswith("default"):
        report("uses the default AWS provider, not the tenant's (its region and tags are unset)")


tenant_resource_disallow_default_provider = resource_policy(
    name="tenant-resource-disallow-default-provider",
    description="Every AWS resource uses the tenant's explicit provider.",
    severity=Severity.HIGH,
    controls=(soc2("CC6.1"), iso("A.5.23")),
    remediation="Pass the tenant provider (opts=ResourceOptions(provider=...) on the bundle).",
    resource_types=(),
    check=_check_default_provider,
    topics=("tenancy",),
)


def _assumed_roles(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # Provider inputs may arrive JSON-encoded, depending on the SDK that registered them.
    raw = known(props, "assumeRoles")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = []
    return [mapping(role) for role in items(raw)]


def _check_cell_role(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    spec = stack_spec()
    if spec is None:
        return
    cell = mapping(spec.get("cell"))
    roles = _assumed_roles(args.props)
    if not cell:
        if spec.get("isolation") == "silo":
            report("belongs to a silo tenant that is not placed in its own account (no cell)")
        elif roles:
            report(f"assumes {roles[0].get('roleArn')!r} but the tenant is placed in no cell")
        return
    wanted = str(cell.get("role_arn", ""))
    if len(roles) != 1 or roles[0].get("roleArn") != wanted:
        found = ", ".join(str(r.get("roleArn")) for r in roles) or "no role"
        report(f"assumes {found}, not the role of its cell {cell.get('name')!r} ({wanted})")
        return
    role = roles[0]
    if cell.get("external_id") and role.get("externalId") != cell.get("external_id"):
        report(f"assumes the role of cell {cell.get('name')!r} without the cell's external id")
    tenant = stack_of_urn(args.urn)
    if tenant and tenant not in str(role.get("sessionName") or ""):
        report(f"assumes the cell's role with a session name that does not name tenant {tenant!r}")


tenant_provider_assume_cell_role = resource_policy(
    name="tenant-provider-assume-cell-role",
    description="The tenant's AWS provider assumes the role of the cell it is placed in.",
    severity=Severity.CRITICAL,
    controls=(soc2("CC6.1"), iso("A.5.15"), pci("7.2.1")),
    remediation="Create the tenant through the control plane so it is placed in a cell; the "
    "bundle's provider then assumes spec.cell.role_arn with a session naming the tenant.",
    resource_types=(AWS_PROVIDER,),
    check=_check_cell_role,
    topics=("tenancy", "cells"),
)


def _check_protect(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if args.resource_type in DATA_TYPES and not args.opts.protect:
        report("holds tenant data but is not protected against deletion (protect=True)")


tenant_data_resource_enforce_protect = resource_policy(
    name="tenant-data-resource-enforce-protect",
    description="Resources holding tenant data are protected against accidental deletion.",
    severity=Severity.HIGH,
    controls=(hipaa("164.308(a)(7)(ii)(A)"), soc2("A1.2"), iso("A.8.13")),
    remediation="Create the resource with ResourceOptions(protect=True).",
    resource_types=DATA_TYPES,
    check=_check_protect,
    topics=("tenancy", "backup"),
)


def _owned(resource: str, tenant: str, own_arns: set[str]) -> bool:
    if resource in own_arns:
        return True
    if any(resource.startswith((f"{arn}/", f"{arn}:")) for arn in own_arns):
        return True
    # A resource named after the tenant: `acme-data-…`, `/tenants/acme/…`, `tenant-acme`.
    return bool(re.search(rf"(?<![a-z0-9]){re.escape(tenant)}(?![a-z0-9])", resource))


def _check_isolation(args: StackValidationArgs, report: StackReport, config: Any) -> None:
    tenant = next((t for r in args.resources if (t := stack_of_urn(r.urn))), "")
    if not tenant:
        args.not_applicable("the stack name (tenant id) is not known")
    own_arns = {str(v) for r in args.resources if (v := known(r.props, "arn"))}
    global_actions = {str(a).lower() for a in config["globalActions"]}
    for resource in of_type(args, *PERMISSION_DOCUMENT_TYPES):
        with within():
            for message in _isolation_findings(resource, tenant, own_arns, global_actions):
                report(resource, message)


def _isolation_findings(
    resource: PolicyResource, tenant: str, own_arns: set[str], global_actions: set[str]
) -> list[str]:
    found: list[str] = []
    for where, document in documents_of(resource.resource_type, resource.props):
        try:
            statements = parse_document(document)
        except InvalidDocumentError:
            continue  # reported by the IAM policies
        for s in statements:
            if not s.allows:
                continue
            if s.not_resources:
                found.append(
                    f"allows on NotResource in {s.name} of its {where}; "
                    f"name tenant {tenant!r}'s resources instead"
                )
            for target in s.resources:
                if (
                    target == "*"
                    and s.actions
                    and all(a.lower() in global_actions for a in s.actions)
                ):
                    continue
                if not _owned(target, tenant, own_arns):
                    found.append(
                        f"allows {', '.join(s.actions) or 'actions'} on {target!r} in {s.name} "
                        f"of its {where}, which is not a resource of tenant {tenant!r}"
                    )
    return found


tenant_iam_policy_enforce_isolation = stack_policy(
    name="tenant-iam-policy-enforce-isolation",
    description="Every IAM Allow names only the tenant's own resources.",
    severity=Severity.CRITICAL,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.3"), iso("A.8.3")),
    remediation="Scope Resource to ARNs of this stack's resources or names carrying the tenant "
    "id; actions that only work on '*' go in globalActions.",
    resource_types=PERMISSION_DOCUMENT_TYPES,
    check=_check_isolation,
    config={
        "globalActions": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["cloudwatch:PutMetricData", "ec2:DescribeTags"],
            "description": "Actions that AWS only grants on '*' and reveal no tenant data.",
        }
    },
    topics=("tenancy", "isolation", "iam"),
)


EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
_LOG_GROUP_ARN = re.compile(r"^arn:[^:]+:logs:[^:]*:[^:]*:log-group:(?P<name>[^:]+)")


def _check_event_log_target(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    match = _LOG_GROUP_ARN.match(text(args.props.get("arn")))
    tenant = stack_of_urn(args.urn)
    if match is None or not tenant:
        args.not_applicable(
            "the target is not a CloudWatch Logs log group"
            if match is None
            else "the stack name (tenant id) is not known"
        )
        return
    group = match.group("name")
    if not group.startswith(tenant_log_group_name(tenant, "")):
        report(
            f"sends events to log group {group!r}, not one of tenant {tenant!r} "
            f"(under {tenant_log_group_name(tenant, '')!r})"
        )


tenant_event_target_enforce_own_log_group = resource_policy(
    name="tenant-event-target-enforce-own-log-group",
    description="EventBridge rules write only into log groups of the stack's own tenant.",
    severity=Severity.CRITICAL,
    controls=(pci("7.2.1"), hipaa("164.312(a)(1)"), soc2("CC6.3"), iso("A.8.3")),
    remediation="Target the tenant's own log group (/tenants/<tenant>/...). The CloudWatch Logs "
    "resource policy that lets EventBridge write is shared by the tenants of an account, so "
    "only this rule keeps one tenant's events out of another's log.",
    resource_types=(EVENT_TARGET,),
    check=_check_event_log_target,
    topics=("tenancy", "isolation", "logging"),
)
