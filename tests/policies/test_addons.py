"""Add-on rules: compliant baselines pass; one mutation each is reported."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import addons
from tests.policies.harness import TAGS, res, violations

KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1111"
LB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/tenant-acme/1"

KEY = res(addons.KMS_KEY, "acme-key", {"description": "k"}, outputs={"arn": KEY_ARN}, tags=TAGS)


def load_balancer(plan: str = "pro", internal: bool = False) -> Any:
    return res(
        addons.LOAD_BALANCER,
        "acme-alb",
        {"internal": internal, "loadBalancerType": "application"},
        outputs={"arn": LB_ARN},
        tags={**TAGS, "plan": plan},
    )


def association(resource_arn: str = LB_ARN) -> Any:
    return res(
        addons.WEB_ACL_ASSOCIATION,
        "acme-waf-association",
        {"resourceArn": resource_arn, "webAclArn": "arn:aws:wafv2:eu-west-1:1:regional/webacl/x"},
    )


def storage_config(
    encryption: dict[str, Any] | None, resource_type: str = "CALL_RECORDINGS"
) -> Any:
    s3: dict[str, Any] = {"bucketName": "acme-data-1", "bucketPrefix": "voicemail"}
    if encryption is not None:
        s3["encryptionConfig"] = encryption
    return res(
        addons.STORAGE_CONFIG,
        "acme-voicemail-storage",
        {
            "instanceId": "i-1",
            "resourceType": resource_type,
            "storageConfig": {"storageType": "S3", "s3Config": s3},
        },
    )


def phone_numbers(count: int, plan: str = "starter") -> list[Any]:
    return [
        res(
            addons.PHONE_NUMBER,
            f"acme-line-{i}-number",
            {"countryCode": "DE", "type": "DID"},
            tags={**TAGS, "plan": plan},
        )
        for i in range(count)
    ]


def test_waf_baseline_passes() -> None:
    assert violations(addons.tenant_load_balancer_enforce_waf, load_balancer(), association()) == []


def test_public_load_balancer_without_web_acl_on_a_waf_plan() -> None:
    assert violations(addons.tenant_load_balancer_enforce_waf, load_balancer()) == [
        "LoadBalancer 'acme-alb' is public on plan 'pro', which includes WAF, but no web ACL "
        "is associated with it"
    ]


def test_web_acl_on_another_load_balancer_does_not_count() -> None:
    other = association("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/other/2")
    assert len(violations(addons.tenant_load_balancer_enforce_waf, load_balancer(), other)) == 1


def test_waf_is_not_required_where_the_plan_has_none_or_the_lb_is_internal() -> None:
    rule = addons.tenant_load_balancer_enforce_waf
    assert violations(rule, load_balancer(plan="starter")) == []
    assert violations(rule, load_balancer(internal=True)) == []


def test_recordings_baseline_passes() -> None:
    config = storage_config({"encryptionType": "KMS", "keyId": KEY_ARN})
    assert violations(addons.tenant_connect_recordings_enforce_tenant_key, KEY, config) == []


def test_recordings_without_kms() -> None:
    assert violations(
        addons.tenant_connect_recordings_enforce_tenant_key, KEY, storage_config(None)
    ) == ["InstanceStorageConfig 'acme-voicemail-storage' stores CALL_RECORDINGS in S3 without KMS "
          "encryption"]  # fmt: skip


def test_recordings_with_a_foreign_key() -> None:
    foreign = storage_config(
        {"encryptionType": "KMS", "keyId": "arn:aws:kms:eu-west-1:999999999999:key/evil"}
    )
    assert violations(addons.tenant_connect_recordings_enforce_tenant_key, KEY, foreign) == [
        "InstanceStorageConfig 'acme-voicemail-storage' encrypts CALL_RECORDINGS with a key that "
        "is not the tenant's own"
    ]


def test_other_storage_types_are_not_recordings() -> None:
    reports = storage_config(None, resource_type="SCHEDULED_REPORTS")
    assert violations(addons.tenant_connect_recordings_enforce_tenant_key, KEY, reports) == []


def test_addons_within_the_plan_pass() -> None:
    rule = addons.tenant_addon_enforce_plan
    assert violations(rule, load_balancer(plan="starter"), *phone_numbers(2)) == []


def test_addons_outside_the_plan() -> None:
    rule = addons.tenant_addon_enforce_plan
    instance = res(addons.CONNECT_INSTANCE, "acme-instance", {}, tags={**TAGS, "plan": "free"})
    assert violations(rule, load_balancer(plan="free"), instance, *phone_numbers(3)) == [
        "LoadBalancer 'acme-alb' is a public endpoint, which plan 'free' does not offer",
        "Instance 'acme-instance' is telephony, which plan 'free' does not offer",
        "the stack claims 3 phone numbers; plan 'starter' allows 2",
    ]


def vpn_connection(**overrides: Any) -> Any:
    strong: dict[str, Any] = {}
    for tunnel in ("tunnel1", "tunnel2"):
        strong |= {
            f"{tunnel}IkeVersions": ["ikev2"],
            f"{tunnel}Phase1EncryptionAlgorithms": ["AES256"],
            f"{tunnel}Phase2EncryptionAlgorithms": ["AES256-GCM-16"],
            f"{tunnel}Phase1IntegrityAlgorithms": ["SHA2-256"],
            f"{tunnel}Phase2IntegrityAlgorithms": ["SHA2-384"],
            # The engine hands numbers over as floats.
            f"{tunnel}Phase1DhGroupNumbers": [19.0, 20.0],
            f"{tunnel}Phase2DhGroupNumbers": [21.0],
        }
    return res(
        addons.VPN_CONNECTION,
        "acme-hq-vpn",
        {"type": "ipsec.1", **strong, **overrides},
        tags=TAGS,
    )


def test_vpn_baseline_passes() -> None:
    assert violations(addons.aws_ec2_vpn_connection_enforce_strong_tunnels, vpn_connection()) == []


@pytest.mark.parametrize(
    ("prop", "value", "message"),
    [
        ("tunnel1IkeVersions", ["ikev1", "ikev2"], "tunnel1 allows IKE versions ikev1, ikev2"),
        ("tunnel2IkeVersions", None, "tunnel2 allows IKE versions AWS's default"),
        ("tunnel1Phase1EncryptionAlgorithms", ["AES128", "AES256"], "weak "
         "Phase1EncryptionAlgorithms AES128"),
        ("tunnel2Phase2IntegrityAlgorithms", ["SHA1"], "weak Phase2IntegrityAlgorithms SHA1"),
        ("tunnel1Phase1DhGroupNumbers", [2.0, 19.0], "weak Phase1DhGroupNumbers 2"),
        ("tunnel2Phase2DhGroupNumbers", None, "tunnel2 leaves Phase2DhGroupNumbers at AWS's "
         "defaults"),
    ],
)  # fmt: skip
def test_weak_vpn_tunnels(prop: str, value: Any, message: str) -> None:
    connection = vpn_connection(**{prop: value})
    if value is None:
        del connection.inputs[prop]
        del connection.outputs[prop]
    (found,) = violations(addons.aws_ec2_vpn_connection_enforce_strong_tunnels, connection)
    assert message in found


def test_vpn_outside_the_plan() -> None:
    connection = vpn_connection()
    starter = connection.model_copy(
        update={"outputs": {**connection.outputs, "tagsAll": {**TAGS, "plan": "starter"}}}
    )
    assert violations(addons.tenant_addon_enforce_plan, starter) == [
        "VpnConnection 'acme-hq-vpn' is private connectivity, which plan 'starter' does not offer"
    ]


def identity(**signing: Any) -> Any:
    inputs: dict[str, Any] = {"emailIdentity": "news.acme.com"}
    if signing:
        inputs["dkimSigningAttributes"] = signing
    return res(addons.EMAIL_IDENTITY, "acme-mail-identity", inputs, tags=TAGS)


def test_dkim_baseline_passes() -> None:
    rule = addons.aws_ses_email_identity_enforce_dkim
    assert violations(rule, identity(nextSigningKeyLength="RSA_2048_BIT")) == []
    byo = identity(domainSigningPrivateKey="[secret]", domainSigningSelector="s1")
    assert violations(rule, byo) == []


def test_identity_without_pinned_dkim_or_with_short_keys() -> None:
    rule = addons.aws_ses_email_identity_enforce_dkim
    assert violations(rule, identity()) == [
        "EmailIdentity 'acme-mail-identity' does not pin DKIM signing to 2048-bit keys "
        "(dkimSigningAttributes unset)"
    ]
    assert violations(rule, identity(nextSigningKeyLength="RSA_1024_BIT")) == [
        "EmailIdentity 'acme-mail-identity' signs with RSA_1024_BIT DKIM keys; use RSA_2048_BIT"
    ]
