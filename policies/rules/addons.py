"""Add-on rules: add-ons only where the plan offers them, WAF where the plan includes it,
call recordings and voicemail encrypted with the tenant's own key, VPN tunnels with IKEv2
and strong ciphers, SES identities signing with DKIM."""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, Severity, StackValidationArgs

from components.plans import CONNECTIVITY_ADDON, ENDPOINT_ADDON, MAIL_ADDON, TELEPHONY_ADDON, Plan
from policies.define import Report, StackReport, linked, of_type, resource_policy, stack_policy
from policies.frameworks import hipaa, iso, pci, soc2
from policies.props import as_bool, as_int, items, known, mapping, strings, tags_of
from policies.tenancy import plan_of

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
CONNECT_INSTANCE = "aws:connect/instance:Instance"
PHONE_NUMBER = "aws:connect/phoneNumber:PhoneNumber"
STORAGE_CONFIG = "aws:connect/instanceStorageConfig:InstanceStorageConfig"
KMS_KEY = "aws:kms/key:Key"
VPN_CONNECTION = "aws:ec2/vpnConnection:VpnConnection"
EMAIL_IDENTITY = "aws:sesv2/emailIdentity:EmailIdentity"

RECORDING_TYPES = ("CALL_RECORDINGS", "MEDIA_STREAMS", "CHAT_TRANSCRIPTS")
"""Connect storage that holds what callers say."""


def _plan(resource: PolicyResource) -> Plan | None:
    return plan_of(tags_of(resource.props))


def _is_public(load_balancer: PolicyResource) -> bool:
    internal = as_bool(known(load_balancer.props, "internal"))
    return internal is not True


def _check_addons_on_plan(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    for load_balancer in of_type(args, LOAD_BALANCER):
        plan = _plan(load_balancer)
        if (
            plan is not None
            and _is_public(load_balancer)
            and plan.name not in ENDPOINT_ADDON.offers
        ):
            report(
                load_balancer,
                f"is a public endpoint, which plan {plan.name.value!r} does not offer",
            )
    for connection in of_type(args, VPN_CONNECTION):
        plan = _plan(connection)
        if plan is not None and plan.name not in CONNECTIVITY_ADDON.offers:
            report(
                connection,
                f"is private connectivity, which plan {plan.name.value!r} does not offer",
            )
    for identity in of_type(args, EMAIL_IDENTITY):
        plan = _plan(identity)
        if plan is not None and plan.name not in MAIL_ADDON.offers:
            report(identity, f"is e-mail sending, which plan {plan.name.value!r} does not offer")
    for instance in of_type(args, CONNECT_INSTANCE):
        plan = _plan(instance)
        if plan is not None and plan.name not in TELEPHONY_ADDON.offers:
            report(instance, f"is telephony, which plan {plan.name.value!r} does not offer")
    numbers = of_type(args, PHONE_NUMBER)
    plans = [p for p in map(_plan, numbers) if p is not None]
    if numbers and plans:
        offer = TELEPHONY_ADDON.offers.get(plans[0].name)
        limit = offer.max_lines if offer is not None else 0
        if len(numbers) > limit:
            report(
                None,
                f"the stack claims {len(numbers)} phone numbers; plan {plans[0].name.value!r} "
                f"allows {limit}",
            )


tenant_addon_enforce_plan = stack_policy(
    name="tenant-addon-enforce-plan",
    description="Add-ons (endpoint, telephony, connectivity, mail) exist only within the plan.",
    severity=Severity.HIGH,
    controls=(soc2("CC6.1"), iso("A.5.15")),
    remediation="Remove the add-on from the spec, or move the tenant to a plan that offers it.",
    resource_types=(
        LOAD_BALANCER,
        VPN_CONNECTION,
        EMAIL_IDENTITY,
        CONNECT_INSTANCE,
        PHONE_NUMBER,
    ),
    check=_check_addons_on_plan,
    topics=("tenant", "addons"),
)


def _check_waf(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    associations = of_type(args, WEB_ACL_ASSOCIATION)
    for load_balancer in of_type(args, LOAD_BALANCER):
        plan = _plan(load_balancer)
        if plan is None or not _is_public(load_balancer):
            continue
        offer = ENDPOINT_ADDON.offers.get(plan.name)
        if offer is None or not offer.waf:
            continue
        if not any(linked(a, load_balancer, "resourceArn") for a in associations):
            report(
                load_balancer,
                f"is public on plan {plan.name.value!r}, which includes WAF, but no web ACL "
                "is associated with it",
            )


tenant_load_balancer_enforce_waf = stack_policy(
    name="tenant-load-balancer-enforce-waf",
    description="Public load balancers on plans that include WAF have a web ACL associated.",
    severity=Severity.HIGH,
    controls=(pci("6.4.2"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Associate the tenant's WAFv2 web ACL (managed rule groups and rate limit) "
    "with the load balancer.",
    resource_types=(LOAD_BALANCER, WEB_ACL_ASSOCIATION),
    check=_check_waf,
    topics=("tenant", "addons", "network"),
)


def _uses_stack_key(config: PolicyResource, key_id: Any, keys: list[PolicyResource]) -> bool:
    """Whether the key named by `key_id` is one of the stack's own keys."""
    if key_id is not None:
        own = {str(v) for k in keys for f in ("arn", "keyId", "id") if (v := known(k.props, f))}
        if str(key_id) in own:
            return True
    # During a real preview a new key's ARN is unknown: the dependency on it counts.
    return any(linked(config, k, "storageConfig") for k in keys)


def _check_recordings_key(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    keys = of_type(args, KMS_KEY)
    for config in of_type(args, STORAGE_CONFIG):
        resource_type = known(config.props, "resourceType")
        if resource_type not in RECORDING_TYPES:
            continue
        storage = mapping(known(config.props, "storageConfig"))
        encryption = mapping(mapping(storage.get("s3Config")).get("encryptionConfig"))
        if storage.get("storageType") == "S3" and encryption.get("encryptionType") != "KMS":
            report(config, f"stores {resource_type} in S3 without KMS encryption")
        elif storage.get("storageType") == "S3" and not _uses_stack_key(
            config, encryption.get("keyId"), keys
        ):
            report(config, f"encrypts {resource_type} with a key that is not the tenant's own")


tenant_connect_recordings_enforce_tenant_key = stack_policy(
    name="tenant-connect-recordings-enforce-tenant-key",
    description="Connect call recordings and voicemail are encrypted with the tenant key.",
    severity=Severity.HIGH,
    controls=(pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set the storage config's encryption to KMS with the tenant key of this stack.",
    resource_types=(STORAGE_CONFIG, KMS_KEY),
    check=_check_recordings_key,
    topics=("tenant", "addons", "encryption"),
)


_TUNNEL_SETTINGS = (
    ("Phase1EncryptionAlgorithms", "strongEncryption"),
    ("Phase2EncryptionAlgorithms", "strongEncryption"),
    ("Phase1IntegrityAlgorithms", "strongIntegrity"),
    ("Phase2IntegrityAlgorithms", "strongIntegrity"),
    ("Phase1DhGroupNumbers", "strongDhGroups"),
    ("Phase2DhGroupNumbers", "strongDhGroups"),
)


def _check_vpn_tunnels(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    for tunnel in ("tunnel1", "tunnel2"):
        ike = strings(known(args.props, f"{tunnel}IkeVersions"))
        if ike != ["ikev2"]:
            shown = ", ".join(ike) if ike else "AWS's default (ikev1 and ikev2)"
            report(f"{tunnel} allows IKE versions {shown}; only ikev2 is allowed")
        for prop, setting in _TUNNEL_SETTINGS:
            allowed = {str(v) for v in config[setting]}
            raw = items(known(args.props, f"{tunnel}{prop}"))
            values = [str(as_int(v)) if as_int(v) is not None else str(v) for v in raw]
            if not values:
                report(f"{tunnel} leaves {prop} at AWS's defaults, which include weak choices")
            elif weak := sorted(set(values) - allowed):
                report(f"{tunnel} allows weak {prop} {', '.join(weak)}")


aws_ec2_vpn_connection_enforce_strong_tunnels = resource_policy(
    name="aws-ec2-vpn-connection-enforce-strong-tunnels",
    description="VPN tunnels use IKEv2 with strong encryption, integrity and DH groups.",
    severity=Severity.HIGH,
    controls=(pci("4.2.1"), hipaa("164.312(e)(2)(ii)"), soc2("CC6.7"), iso("A.8.24")),
    remediation="Set both tunnels' IKE versions to ikev2 and their phase 1 and 2 algorithms to "
    "AES-256, SHA-2 and elliptic-curve DH groups.",
    resource_types=(VPN_CONNECTION,),
    check=_check_vpn_tunnels,
    config={
        "strongEncryption": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["AES256", "AES256-GCM-16"],
            "description": "Encryption algorithms tunnels may offer.",
        },
        "strongIntegrity": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["SHA2-256", "SHA2-384", "SHA2-512"],
            "description": "Integrity algorithms tunnels may offer.",
        },
        "strongDhGroups": {
            "type": "array",
            "items": {"type": "integer"},
            "default": [19, 20, 21],
            "description": "Diffie-Hellman groups tunnels may offer.",
        },
    },
    topics=("network", "encryption", "addons"),
)


def _check_dkim(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    identity = str(known(args.props, "emailIdentity") or "")
    if "@" in identity:
        return  # an e-mail address identity is signed by its domain's identity
    signing = mapping(known(args.props, "dkimSigningAttributes"))
    own_key = signing.get("domainSigningPrivateKey") and signing.get("domainSigningSelector")
    if own_key:
        return
    length = signing.get("nextSigningKeyLength")
    if not signing or length is None:
        report("does not pin DKIM signing to 2048-bit keys (dkimSigningAttributes unset)")
    elif length != "RSA_2048_BIT":
        report(f"signs with {length} DKIM keys; use RSA_2048_BIT")


aws_ses_email_identity_enforce_dkim = resource_policy(
    name="aws-ses-email-identity-enforce-dkim",
    description="SES domain identities sign their mail with 2048-bit DKIM keys.",
    severity=Severity.MEDIUM,
    controls=(soc2("CC6.7"), iso("A.5.14")),
    remediation="Set dkimSigningAttributes.nextSigningKeyLength to RSA_2048_BIT (Easy DKIM), "
    "or bring your own DKIM key, and publish the DKIM records.",
    resource_types=(EMAIL_IDENTITY,),
    check=_check_dkim,
    topics=("email", "addons"),
)
