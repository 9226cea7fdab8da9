"""Launch templates and Auto Scaling groups."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from policies.rules import compute
from tests.policies.harness import TAGS, changed, evaluate, res, violations

BOOT = """#!/bin/bash
set -euo pipefail
aws secretsmanager get-secret-value --region eu-west-1 \\
  --secret-id 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenants/acme/app-1a2b3c' \\
  --query SecretString --output text > /etc/tenant/app-secret
export DB_PASSWORD="$(cat /etc/tenant/app-secret)"
"""
TEMPLATE: dict[str, Any] = {
    "namePrefix": "acme-",
    "imageId": "ami-0123456789abcdef0",
    "instanceType": "t3.medium",
    "networkInterfaces": [{"associatePublicIpAddress": "false", "securityGroups": ["sg-1"]}],
    "blockDeviceMappings": [
        {
            "deviceName": "/dev/xvda",
            "ebs": {
                "encrypted": "true",
                "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k",
                "volumeSize": 20,
                "volumeType": "gp3",
            },
        }
    ],
    "metadataOptions": {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    },
    "userData": base64.b64encode(BOOT.encode()).decode(),
}
GROUP: dict[str, Any] = {
    "minSize": 2,
    "maxSize": 6,
    "desiredCapacity": 2,
    "launchTemplate": {"id": "lt-1", "version": "1"},
    "vpcZoneIdentifiers": ["subnet-1", "subnet-2"],
    "tags": [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()],
}
TEMPLATE_POLICIES = [
    compute.ec2_launch_template_disallow_public_ip,
    compute.ec2_launch_template_enforce_ebs_encryption,
    compute.ec2_launch_template_enforce_imdsv2,
    compute.ec2_launch_template_disallow_secrets_in_user_data,
]


def template(inputs: dict[str, Any]) -> Any:
    return res(compute.LAUNCH_TEMPLATE, "acme-compute-lt", inputs, tags=TAGS)


def group(inputs: dict[str, Any]) -> Any:
    return res(compute.AUTOSCALING_GROUP, "acme-compute-asg", inputs)


@pytest.mark.parametrize("policy", TEMPLATE_POLICIES, ids=lambda p: p.name)
def test_baseline_template_passes(policy: Any) -> None:
    assert violations(policy, template(TEMPLATE)) == []


@pytest.mark.parametrize("value", ["true", True])
def test_public_ip_as_string_or_bool(value: Any) -> None:
    inputs = changed(TEMPLATE, "networkInterfaces.0.associatePublicIpAddress", value)
    assert violations(compute.ec2_launch_template_disallow_public_ip, template(inputs)) == [
        "LaunchTemplate 'acme-compute-lt' associates a public IP with network interface 0"
    ]


def test_unencrypted_volume() -> None:
    inputs = changed(TEMPLATE, "blockDeviceMappings.0.ebs.encrypted", "false")
    assert violations(compute.ec2_launch_template_enforce_ebs_encryption, template(inputs)) == [
        "LaunchTemplate 'acme-compute-lt' does not encrypt EBS volume /dev/xvda"
    ]


def test_volume_with_the_aws_managed_key() -> None:
    inputs = changed(TEMPLATE, "blockDeviceMappings.0.ebs.kmsKeyId", None)
    policy = compute.ec2_launch_template_enforce_ebs_encryption
    assert violations(policy, template(inputs)) == [
        "LaunchTemplate 'acme-compute-lt' encrypts EBS volume /dev/xvda with the AWS-managed key, "
        "not the tenant key"
    ]
    assert violations(policy, template(inputs), config={"requireCustomerKey": False}) == []


def test_no_block_devices() -> None:
    inputs = changed(TEMPLATE, "blockDeviceMappings", None)
    [message] = violations(compute.ec2_launch_template_enforce_ebs_encryption, template(inputs))
    assert "declares no EBS block device" in message


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("metadataOptions.httpTokens", "optional", "allows IMDSv1 (httpTokens 'optional')"),
        ("metadataOptions.httpTokens", None, "allows IMDSv1 (httpTokens None)"),
        ("metadataOptions.httpPutResponseHopLimit", 2, "has metadata hop limit 2"),
        ("metadataOptions.httpPutResponseHopLimit", None, "leaves the metadata hop limit"),
    ],
)
def test_imdsv2(path: str, value: Any, expected: str) -> None:
    [message] = violations(
        compute.ec2_launch_template_enforce_imdsv2, template(changed(TEMPLATE, path, value))
    )
    assert message.startswith(f"LaunchTemplate 'acme-compute-lt' {expected}")


def test_imds_disabled_is_not_applicable() -> None:
    inputs = changed(
        changed(TEMPLATE, "metadataOptions.httpEndpoint", "disabled"),
        "metadataOptions.httpTokens",
        "optional",
    )
    result = evaluate(compute.ec2_launch_template_enforce_imdsv2, template(inputs))
    assert result.findings == ()
    assert [n.reason for n in result.not_applicable] == [
        "the instance metadata service is disabled"
    ]


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "an AWS secret access key"),
        ("-----BEGIN RSA PRIVATE KEY-----", "a private key"),
        ("DB_PASSWORD=hunter2hunter2", "a literal credential"),
        ("api_key: 'sk_live_abcdef123456'", "a literal credential"),
    ],
)
def test_secrets_in_user_data(line: str, what: str) -> None:
    script = base64.b64encode(f"#!/bin/bash\n{line}\n".encode()).decode()
    messages = violations(
        compute.ec2_launch_template_disallow_secrets_in_user_data,
        template(changed(TEMPLATE, "userData", script)),
    )
    assert (
        f"LaunchTemplate 'acme-compute-lt' has {what} in user data (line 2); "
        "fetch it from Secrets Manager" in messages
    )
    # The finding names the line, never the secret itself.
    secret = line.rsplit("=", maxsplit=1)[-1].rsplit(":", maxsplit=1)[-1].strip(" '")
    assert all(secret not in m for m in messages)


def test_group_without_launch_template() -> None:
    policy = compute.autoscaling_group_missing_launch_template
    assert violations(policy, group(GROUP)) == []
    legacy = changed(changed(GROUP, "launchTemplate", None), "launchConfiguration", "lc-1")
    assert violations(policy, group(legacy)) == [
        "Group 'acme-compute-asg' uses a launch configuration; launch configurations are retired",
        "Group 'acme-compute-asg' has no launch template",
    ]
    mixed = changed(
        GROUP,
        "launchTemplate",
        None,
    ) | {
        "mixedInstancesPolicy": {
            "launchTemplate": {"launchTemplateSpecification": {"launchTemplateId": "lt-1"}}
        }
    }
    assert violations(policy, group(mixed)) == []


IMDS_TOKEN = """#!/bin/bash
set -euo pipefail
TOKEN=$(curl -sX PUT "http://169.254.169.254/latest/api/token" \\
  -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")
REGION=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" \\
  http://169.254.169.254/latest/meta-data/placement/region)
DB_SECRET="arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenants/acme/db-AbCdEf"
export DB_PASSWORD="$(aws secretsmanager get-secret-value --secret-id "$DB_SECRET" \\
  --query SecretString --output text --region "$REGION")"
"""


@pytest.mark.parametrize("encode", [True, False])
def test_user_data_look_alikes_pass(encode: bool) -> None:
    script = base64.b64encode(IMDS_TOKEN.encode()).decode() if encode else IMDS_TOKEN
    policy = compute.ec2_launch_template_disallow_secrets_in_user_data
    assert violations(policy, template(changed(TEMPLATE, "userData", script))) == []


INSTANCE: dict[str, Any] = {
    "ami": "ami-0123456789abcdef0",
    "instanceType": "t3.medium",
    "subnetId": "subnet-1",
    "associatePublicIpAddress": False,
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
    "rootBlockDevice": {"encrypted": True, "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k"},
    "ebsBlockDevices": [
        {"deviceName": "/dev/sdf", "encrypted": "true", "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k"}
    ],
    "userDataBase64": base64.b64encode(IMDS_TOKEN.encode()).decode(),
}
INSTANCE_POLICIES = [
    compute.ec2_instance_disallow_public_ip,
    compute.ec2_instance_enforce_ebs_encryption,
    compute.ec2_launch_template_enforce_imdsv2,
    compute.ec2_launch_template_disallow_secrets_in_user_data,
]


def instance(inputs: dict[str, Any]) -> Any:
    return res(compute.INSTANCE, "acme-bastion", inputs, tags=TAGS)


@pytest.mark.parametrize("policy", INSTANCE_POLICIES, ids=lambda p: p.name)
def test_baseline_instance_passes(policy: Any) -> None:
    assert violations(policy, instance(INSTANCE)) == []


@pytest.mark.parametrize(
    ("policy", "path", "value", "expected"),
    [
        (
            compute.ec2_instance_disallow_public_ip,
            "associatePublicIpAddress",
            "true",
            "gets a public IP address",
        ),
        (
            compute.ec2_instance_enforce_ebs_encryption,
            "rootBlockDevice.encrypted",
            False,
            "does not encrypt its root volume",
        ),
        (
            compute.ec2_instance_enforce_ebs_encryption,
            "rootBlockDevice.kmsKeyId",
            None,
            "encrypts its root volume with the AWS-managed key",
        ),
        (
            compute.ec2_instance_enforce_ebs_encryption,
            "rootBlockDevice",
            None,
            "declares no rootBlockDevice",
        ),
        (
            compute.ec2_instance_enforce_ebs_encryption,
            "ebsBlockDevices.0.encrypted",
            "false",
            "does not encrypt /dev/sdf",
        ),
        (
            compute.ec2_launch_template_enforce_imdsv2,
            "metadataOptions.httpTokens",
            "optional",
            "allows IMDSv1",
        ),
        (
            compute.ec2_launch_template_disallow_secrets_in_user_data,
            "userDataBase64",
            base64.b64encode(b"#!/bin/bash\nDB_PASSWORD=hunter2hunter2\n").decode(),
            "has a literal credential in user data (line 2)",
        ),
        (
            compute.ec2_launch_template_disallow_secrets_in_user_data,
            "userData",
            "#!/bin/bash\nexport AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
            "has an AWS access key id in user data (line 2)",
        ),
    ],
)
def test_instance_mutations(policy: Any, path: str, value: Any, expected: str) -> None:
    [message] = violations(policy, instance(changed(INSTANCE, path, value)))
    assert message.startswith(f"Instance 'acme-bastion' {expected}")


def test_instance_from_a_launch_template_takes_its_settings() -> None:
    from_template = {
        "launchTemplate": {"id": "lt-1", "version": "$Latest"},
        "subnetId": "subnet-1",
    }
    assert violations(compute.ec2_instance_enforce_ebs_encryption, instance(from_template)) == []
    result = evaluate(compute.ec2_launch_template_enforce_imdsv2, instance(from_template))
    assert result.findings == ()
    assert [n.reason for n in result.not_applicable] == [
        "the instance takes its metadata options from its launch template"
    ]


@pytest.mark.parametrize(
    ("inputs", "config", "expected"),
    [
        ({"encrypted": True, "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/k"}, None, None),
        ({"encrypted": "true"}, {"requireCustomerKey": False}, None),
        (
            {"encrypted": True},
            None,
            "encrypts its data with the AWS-managed key, not the tenant key",
        ),
        ({"encrypted": False}, None, "does not encrypt its data"),
        ({}, None, "does not encrypt its data"),
    ],
)
def test_ebs_volumes(inputs: dict[str, Any], config: Any, expected: str | None) -> None:
    volume = res(compute.VOLUME, "acme-data-volume", {"availabilityZone": "a", **inputs})
    messages = violations(compute.ebs_volume_enforce_encryption, volume, config=config)
    assert messages == ([] if expected is None else [f"Volume 'acme-data-volume' {expected}"])
