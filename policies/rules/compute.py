"""EC2 launch templates and Auto Scaling groups: private, encrypted, IMDSv2, no secrets."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.define import Report, resource_policy
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.props import as_bool, as_int, decode_user_data, items, mapping

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"


def _check_public_ip(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for index, interface in enumerate(items(args.props.get("networkInterfaces"))):
        if as_bool(mapping(interface).get("associatePublicIpAddress")) is True:
            report(f"associates a public IP with network interface {index}")


ec2_launch_template_disallow_public_ip = resource_policy(
    name="aws-ec2-launch-template-disallow-public-ip",
    description="Launch templates do not give instances public IP addresses.",
    severity=Severity.HIGH,
    controls=(pci("1.4.4"), hipaa("164.312(e)(1)"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Set network_interfaces[].associate_public_ip_address to 'false'; reach "
    "instances through a load balancer or Session Manager.",
    resource_types=(LAUNCH_TEMPLATE,),
    check=_check_public_ip,
    topics=("compute", "network"),
)


def _check_ebs_encryption(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    volumes = [
        (mapping(m).get("deviceName", f"mapping {i}"), mapping(mapping(m).get("ebs")))
        for i, m in enumerate(items(args.props.get("blockDeviceMappings")))
        if mapping(m).get("ebs")
    ]
    if not volumes:
        report("declares no EBS block device; the root volume's encryption is left to the AMI")
    for device, ebs in volumes:
        if as_bool(ebs.get("encrypted")) is not True:
            report(f"does not encrypt EBS volume {device}")
        elif config["requireCustomerKey"] and not ebs.get("kmsKeyId"):
            report(f"encrypts EBS volume {device} with the AWS-managed key, not the tenant key")


ec2_launch_template_enforce_ebs_encryption = resource_policy(
    name="aws-ec2-launch-template-enforce-ebs-encryption",
    description="Launch templates encrypt every EBS volume with a customer-managed key.",
    severity=Severity.HIGH,
    controls=(cis("2.2.1"), pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Declare block_device_mappings with ebs.encrypted='true' and ebs.kms_key_id "
    "set to the tenant key.",
    resource_types=(LAUNCH_TEMPLATE,),
    check=_check_ebs_encryption,
    config={
        "requireCustomerKey": {
            "type": "boolean",
            "default": True,
            "description": "Require a kmsKeyId (not the AWS-managed aws/ebs key).",
        }
    },
    topics=("compute", "encryption"),
)


def _check_imdsv2(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    options = mapping(args.props.get("metadataOptions"))
    if options.get("httpEndpoint") == "disabled":
        args.not_applicable("the instance metadata service is disabled")
    if options.get("httpTokens") != "required":
        report(f"allows IMDSv1 (httpTokens {options.get('httpTokens')!r}); require tokens")
    limit = as_int(options.get("httpPutResponseHopLimit"))
    maximum = int(config["maxHopLimit"])
    if limit is None:
        report(f"leaves the metadata hop limit to the AMI default; set it to {maximum}")
    elif limit > maximum:
        report(
            f"has metadata hop limit {limit}; containers could reach the instance role "
            f"(maximum {maximum})"
        )


ec2_launch_template_enforce_imdsv2 = resource_policy(
    name="aws-ec2-launch-template-enforce-imdsv2",
    description="Launch templates require IMDSv2 with a hop limit of 1.",
    severity=Severity.HIGH,
    controls=(cis("5.6"), pci("2.2.1"), soc2("CC6.1"), iso("A.8.9")),
    remediation="Set metadata_options http_tokens='required' and http_put_response_hop_limit=1.",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE),
    check=_check_imdsv2,
    config={
        "maxHopLimit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 64,
            "default": 1,
            "description": "Largest allowed httpPutResponseHopLimit.",
        }
    },
    topics=("compute",),
)

_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("an AWS secret access key", re.compile(r"aws_secret_access_key\s*[=:]", re.IGNORECASE)),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    (
        "a literal credential",
        # An assignment such as `DB_PASSWORD=...` or `api_key: ...`; ARNs and `$VAR`s are not.
        re.compile(
            r"(?:^|[\s;'\"])(?:export\s+)?[\w-]*(?:password|passwd|secret|api[_-]?key|token)"
            r"[\w-]*\s*[=:]\s*['\"]?(?![$'\"\s])\S{4,}",
            re.IGNORECASE,
        ),
    ),
)


def _check_user_data(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    raw = args.props.get("userData")
    if not isinstance(raw, str) or not raw:
        return
    for number, line in enumerate(decode_user_data(raw).splitlines(), start=1):
        for what, pattern in _SECRET_PATTERNS:
            if pattern.search(line):
                # The finding names the line, never the value: reports end up in CI logs.
                report(f"has {what} in user data (line {number}); fetch it from Secrets Manager")


ec2_launch_template_disallow_secrets_in_user_data = resource_policy(
    name="aws-ec2-launch-template-disallow-secrets-in-user-data",
    description="Launch template user data holds no credentials.",
    severity=Severity.CRITICAL,
    controls=(pci("8.3.2"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.8.12")),
    remediation="Read secrets at boot from Secrets Manager with the instance role.",
    resource_types=(LAUNCH_TEMPLATE, INSTANCE),
    check=_check_user_data,
    topics=("compute", "secrets"),
)


def _check_launch_template(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if args.props.get("launchConfiguration"):
        report("uses a launch configuration; launch configurations are retired")
    template = mapping(args.props.get("launchTemplate"))
    mixed = mapping(
        mapping(mapping(args.props.get("mixedInstancesPolicy")).get("launchTemplate")).get(
            "launchTemplateSpecification"
        )
    )
    if not (template.get("id") or template.get("name") or mixed):
        report("has no launch template")


autoscaling_group_missing_launch_template = resource_policy(
    name="aws-autoscaling-group-missing-launch-template",
    description="Auto Scaling groups launch from a launch template.",
    severity=Severity.MEDIUM,
    controls=(pci("2.2.1"), soc2("CC8.1"), iso("A.8.9")),
    remediation="Set launch_template (id and version) on the group.",
    resource_types=(AUTOSCALING_GROUP,),
    check=_check_launch_template,
    topics=("compute",),
)
