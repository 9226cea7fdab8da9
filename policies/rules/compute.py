"""EC2 launch templates, instances, EBS volumes and Auto Scaling groups: private, encrypted,
IMDSv2, no secrets."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ResourceValidationArgs, Severity

from policies.credentials import credentials_in, decode_user_data
from policies.define import Report, resource_policy, within
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.props import as_bool, as_int, items, mapping, text
from policies.rules.kms import customer_key

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"

_CUSTOMER_KEY_CONFIG = {
    "requireCustomerKey": {
        "type": "boolean",
        "default": True,
        "description": "Require a kmsKeyId (not the AWS-managed aws/ebs key).",
    }
}


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
        elif config["requireCustomerKey"] and not customer_key(ebs.get("kmsKeyId")):
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
    config=_CUSTOMER_KEY_CONFIG,
    topics=("compute", "encryption"),
)


def _check_imdsv2(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    options = mapping(args.props.get("metadataOptions"))
    if not options and args.resource_type == INSTANCE and args.props.get("launchTemplate"):
        args.not_applicable("the instance takes its metadata options from its launch template")
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
    description="Launch templates and instances require IMDSv2 with a hop limit of 1.",
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


def _check_user_data(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for key in ("userData", "userDataBase64"):
        with within():
            raw = text(args.props.get(key))
            for found in credentials_in(decode_user_data(raw)) if raw else ():
                # The finding names the line, never the value: reports end up in CI logs.
                report(
                    f"has {found.what} in user data (line {found.line}); "
                    "fetch it from Secrets Manager"
                )


ec2_launch_template_disallow_secrets_in_user_data = resource_policy(
    name="aws-ec2-launch-template-disallow-secrets-in-user-data",
    description="Launch template and instance user data hold no credentials.",
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


def _check_instance_public_ip(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if as_bool(args.props.get("associatePublicIpAddress")) is True:
        report("gets a public IP address (associatePublicIpAddress)")


ec2_instance_disallow_public_ip = resource_policy(
    name="aws-ec2-instance-disallow-public-ip",
    description="EC2 instances do not get public IP addresses.",
    severity=Severity.HIGH,
    controls=(pci("1.4.4"), hipaa("164.312(e)(1)"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Set associate_public_ip_address=False and place the instance in a private "
    "subnet; reach it through a load balancer or Session Manager.",
    resource_types=(INSTANCE,),
    check=_check_instance_public_ip,
    topics=("compute", "network"),
)


def _volume_problem(device: str, volume: Any, require_customer_key: bool) -> str | None:
    if as_bool(mapping(volume).get("encrypted")) is not True:
        return f"does not encrypt {device}"
    if require_customer_key and not customer_key(mapping(volume).get("kmsKeyId")):
        return f"encrypts {device} with the AWS-managed key, not the tenant key"
    return None


def _check_instance_volumes(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    require = bool(config["requireCustomerKey"])
    with within():
        root = args.props.get("rootBlockDevice")
        if root is not None:
            problem = _volume_problem("its root volume", root, require)
            if problem:
                report(problem)
        elif not args.props.get("launchTemplate"):
            report("declares no rootBlockDevice; the root volume's encryption is left to the AMI")
    for index, volume in enumerate(items(args.props.get("ebsBlockDevices"))):
        with within():
            device = text(mapping(volume).get("deviceName")) or f"EBS volume {index}"
            problem = _volume_problem(device, volume, require)
            if problem:
                report(problem)


ec2_instance_enforce_ebs_encryption = resource_policy(
    name="aws-ec2-instance-enforce-ebs-encryption",
    description="EC2 instances encrypt their root and attached EBS volumes with a "
    "customer-managed key.",
    severity=Severity.HIGH,
    controls=(cis("2.2.1"), pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Declare root_block_device and ebs_block_devices with encrypted=True and "
    "kms_key_id set to the tenant key (or launch from a launch template that does).",
    resource_types=(INSTANCE,),
    check=_check_instance_volumes,
    config=_CUSTOMER_KEY_CONFIG,
    topics=("compute", "encryption"),
)


def _check_volume(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    problem = _volume_problem("its data", args.props, bool(config["requireCustomerKey"]))
    if problem:
        report(problem)


ebs_volume_enforce_encryption = resource_policy(
    name="aws-ebs-volume-enforce-encryption",
    description="EBS volumes are encrypted with a customer-managed key.",
    severity=Severity.HIGH,
    controls=(cis("2.2.1"), pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set encrypted=True and kms_key_id to the tenant key.",
    resource_types=(VOLUME,),
    check=_check_volume,
    config=_CUSTOMER_KEY_CONFIG,
    topics=("compute", "encryption"),
)
