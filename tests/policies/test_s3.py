"""S3 policies: a compliant bucket set passes; each broken field is named in a violation."""

from __future__ import annotations

from typing import Any

import pytest

from planner.model import PlannedResource
from policies.rules import s3
from tests.policies.harness import TAGS, changed, evaluate, policy_document, res, violations

BUCKET = "aws:s3/bucket:Bucket"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1111"

SSE_KMS: dict[str, Any] = {
    "bucket": "acme-data-1a2b",
    "rules": [
        {
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": "aws:kms",
                "kmsMasterKeyId": KEY_ARN,
            },
            "bucketKeyEnabled": True,
        }
    ],
}
PUBLIC_ACCESS_BLOCK = {
    "bucket": "acme-data-1a2b",
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
TLS_POLICY = policy_document(
    {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::acme-data-1a2b", "arn:aws:s3:::acme-data-1a2b/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
)


def data_bucket(**companions: dict[str, Any] | None) -> list[PlannedResource]:
    """A data bucket with all its side-by-side resources; pass `name=None` to drop one."""
    bucket = res(
        BUCKET,
        "acme-storage-data",
        {"bucket": "acme-data-1a2b", "tags": {"purpose": "data"}},
        outputs={"arn": "arn:aws:s3:::acme-data-1a2b"},
        tags={**TAGS, "purpose": "data"},
        protect=True,
    )
    parts = {
        "sse": (s3.SSE, SSE_KMS),
        "public_access_block": (s3.PUBLIC_ACCESS_BLOCK, PUBLIC_ACCESS_BLOCK),
        "policy": (s3.BUCKET_POLICY, {"bucket": "acme-data-1a2b", "policy": TLS_POLICY}),
        "versioning": (
            s3.VERSIONING,
            {"bucket": "acme-data-1a2b", "versioningConfiguration": {"status": "Enabled"}},
        ),
        "logging": (
            s3.LOGGING,
            {"bucket": "acme-data-1a2b", "targetBucket": "acme-logs-9f9f", "targetPrefix": "data/"},
        ),
        "ownership": (
            s3.OWNERSHIP,
            {"bucket": "acme-data-1a2b", "rule": {"objectOwnership": "BucketOwnerEnforced"}},
        ),
    }
    resources = [bucket]
    for role, (type_, inputs) in parts.items():
        chosen = companions.get(role, inputs)
        if chosen is not None:
            resources.append(res(type_, f"acme-storage-data-{role}", chosen, depends_on=(bucket,)))
    return resources


def log_bucket(algorithm: str = "AES256") -> list[PlannedResource]:
    bucket = res(
        BUCKET,
        "acme-storage-access-logs",
        {"bucket": "acme-logs-9f9f", "tags": {"purpose": "access-logs"}},
        tags={**TAGS, "purpose": "access-logs"},
    )
    sse = res(
        s3.SSE,
        "acme-storage-access-logs-sse",
        {
            "bucket": "acme-logs-9f9f",
            "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm}}],
        },
        depends_on=(bucket,),
    )
    return [bucket, sse]


S3_POLICIES = [
    s3.s3_bucket_enforce_kms_encryption,
    s3.s3_bucket_enable_bucket_key,
    s3.s3_bucket_disallow_public_acl,
    s3.s3_bucket_configure_public_access_block,
    s3.s3_bucket_missing_public_access_block,
    s3.s3_bucket_enforce_tls_only,
    s3.s3_bucket_missing_tls_policy,
    s3.s3_bucket_disallow_public_policy,
    s3.s3_bucket_enable_versioning,
    s3.s3_bucket_missing_versioning,
    s3.s3_bucket_missing_access_logging,
    s3.s3_bucket_enforce_owner_ownership,
    s3.s3_bucket_missing_ownership_controls,
]


@pytest.mark.parametrize("policy", S3_POLICIES, ids=lambda p: p.name)
def test_compliant_buckets_pass(policy: Any) -> None:
    assert violations(policy, *data_bucket()) == []


def test_unencrypted_bucket_is_named() -> None:
    assert violations(s3.s3_bucket_enforce_kms_encryption, *data_bucket(sse=None)) == [
        "Bucket 'acme-storage-data' has no server-side encryption configuration"
    ]


def test_sse_s3_on_a_data_bucket_is_refused() -> None:
    sse = changed(SSE_KMS, "rules.0.applyServerSideEncryptionByDefault", {"sseAlgorithm": "AES256"})
    [message] = violations(s3.s3_bucket_enforce_kms_encryption, *data_bucket(sse=sse))
    assert message.startswith("Bucket 'acme-storage-data' is encrypted with AES256, not SSE-KMS")


def test_kms_without_a_customer_key_is_refused() -> None:
    sse = changed(SSE_KMS, "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", None)
    [message] = violations(s3.s3_bucket_enforce_kms_encryption, *data_bucket(sse=sse))
    assert "uses aws:kms without kmsMasterKeyId" in message


def test_access_log_bucket_may_use_sse_s3_but_must_be_encrypted() -> None:
    assert violations(s3.s3_bucket_enforce_kms_encryption, *log_bucket("AES256")) == []
    bucket, _ = log_bucket()
    assert violations(s3.s3_bucket_enforce_kms_encryption, bucket) == [
        "Bucket 'acme-storage-access-logs' has no server-side encryption configuration"
    ]


def test_legacy_inline_encryption_counts() -> None:
    bucket = res(
        BUCKET,
        "legacy",
        {
            "bucket": "acme-legacy",
            "serverSideEncryptionConfiguration": {
                "rule": {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": KEY_ARN,
                    }
                }
            },
        },
    )
    assert violations(s3.s3_bucket_enforce_kms_encryption, bucket) == []


def test_bucket_key_off_is_advisory() -> None:
    sse = changed(SSE_KMS, "rules.0.bucketKeyEnabled", False)
    [resource] = [r for r in data_bucket(sse=sse) if r.type == s3.SSE]
    [message] = violations(s3.s3_bucket_enable_bucket_key, resource)
    assert message.startswith("BucketServerSideEncryptionConfiguration 'acme-storage-data-sse'")
    assert "without bucketKeyEnabled" in message


@pytest.mark.parametrize("acl", ["public-read", "public-read-write", "authenticated-read"])
def test_public_canned_acl(acl: str) -> None:
    resource = res(s3.ACL, "acme-acl", {"bucket": "acme-data-1a2b", "acl": acl})
    assert violations(s3.s3_bucket_disallow_public_acl, resource) == [
        f"BucketAcl 'acme-acl' has the public canned ACL {acl!r}; use 'private' or none"
    ]


def test_public_acl_grant() -> None:
    grant = {
        "permission": "READ",
        "grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
    }
    resource = res(
        s3.ACL,
        "acme-acl",
        {"bucket": "b", "accessControlPolicy": {"grants": [grant], "owner": {"id": "x"}}},
    )
    [message] = violations(s3.s3_bucket_disallow_public_acl, resource)
    assert "grants READ to http://acs.amazonaws.com/groups/global/AllUsers" in message


@pytest.mark.parametrize("flag", s3.BLOCK_FLAGS)
def test_each_public_access_flag_is_required(flag: str) -> None:
    resource = res(s3.PUBLIC_ACCESS_BLOCK, "pab", changed(PUBLIC_ACCESS_BLOCK, flag, False))
    assert violations(s3.s3_bucket_configure_public_access_block, resource) == [
        f"BucketPublicAccessBlock 'pab' leaves {flag} off; all four flags must be true"
    ]


@pytest.mark.parametrize(
    ("policy", "role", "what"),
    [
        (s3.s3_bucket_missing_public_access_block, "public_access_block", "public access block"),
        (s3.s3_bucket_missing_tls_policy, "policy", "bucket policy"),
        (s3.s3_bucket_missing_versioning, "versioning", "versioning configuration"),
        (s3.s3_bucket_missing_access_logging, "logging", "server access logging"),
        (s3.s3_bucket_missing_ownership_controls, "ownership", "ownership controls"),
    ],
)
def test_missing_companion_resource(policy: Any, role: str, what: str) -> None:
    [message] = violations(policy, *data_bucket(**{role: None}))
    assert message.startswith(f"Bucket 'acme-storage-data' has no {what}")


def test_companion_of_another_bucket_does_not_count() -> None:
    other = res(BUCKET, "other", {"bucket": "acme-other"})
    pab = res(s3.PUBLIC_ACCESS_BLOCK, "other-pab", {**PUBLIC_ACCESS_BLOCK, "bucket": "acme-other"})
    messages = violations(
        s3.s3_bucket_missing_public_access_block, *data_bucket(public_access_block=None), other, pab
    )
    assert messages == [
        "Bucket 'acme-storage-data' has no public access block (aws.s3.BucketPublicAccessBlock)"
    ]


def test_free_plan_buckets_need_no_access_logs() -> None:
    bucket, *rest = data_bucket(logging=None)
    free = res(bucket.type, bucket.name, bucket.inputs, tags={**TAGS, "plan": "free"})
    assert violations(s3.s3_bucket_missing_access_logging, free, *rest) == []


def test_policy_without_tls_deny() -> None:
    allow_only = policy_document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "s3:GetObject",
            "Resource": "*",
        }
    )
    resource = res(s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": allow_only})
    [message] = violations(s3.s3_bucket_enforce_tls_only, resource)
    assert message.startswith("BucketPolicy 'acme-policy' has no statement denying s3:*")


def test_tls_deny_must_be_conditioned_on_secure_transport() -> None:
    wrong = TLS_POLICY.replace("aws:SecureTransport", "aws:SourceIp")
    resource = res(s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": wrong})
    assert len(violations(s3.s3_bucket_enforce_tls_only, resource)) == 1


def test_policy_that_is_not_json() -> None:
    resource = res(s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": "{not json"})
    [message] = violations(s3.s3_bucket_enforce_tls_only, resource)
    assert message.startswith("BucketPolicy 'acme-policy' has a policy that is not valid JSON")


def test_anonymous_allow_in_bucket_policy() -> None:
    public = policy_document(
        {
            "Sid": "Public",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::acme-data-1a2b/*",
        }
    )
    resource = res(s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": public})
    assert violations(s3.s3_bucket_disallow_public_policy, resource) == [
        "BucketPolicy 'acme-policy' allows s3:GetObject to everyone ('*') without a condition "
        "in statement 'Public'"
    ]


def test_suspended_versioning_is_reported_as_advisory() -> None:
    resource = res(
        s3.VERSIONING, "v", {"bucket": "b", "versioningConfiguration": {"status": "Suspended"}}
    )
    [finding] = evaluate(s3.s3_bucket_enable_versioning, resource).findings
    assert finding.enforcement == "advisory"
    assert finding.message == (
        "BucketVersioning 'v' has versioning status 'Suspended'; "
        "'Enabled' keeps overwritten objects"
    )


def test_ownership_other_than_enforced() -> None:
    resource = res(
        s3.OWNERSHIP, "own", {"bucket": "b", "rule": {"objectOwnership": "ObjectWriter"}}
    )
    assert violations(s3.s3_bucket_enforce_owner_ownership, resource) == [
        "BucketOwnershipControls 'own' sets object ownership 'ObjectWriter'; "
        "'BucketOwnerEnforced' disables ACLs"
    ]


@pytest.mark.parametrize(
    ("condition", "enforced"),
    [
        ({"Bool": {"aws:SecureTransport": "false"}}, True),
        ({"Bool": {"aws:SecureTransport": False}}, True),
        ({"BoolIfExists": {"aws:SecureTransport": ["false"]}}, True),
        ({"Bool": {"AWS:SECURETRANSPORT": "FALSE"}}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, False),
        ({"Bool": [{"aws:SecureTransport": "false"}]}, True),
        ({"StringEquals": {"aws:SecureTransport": "false"}}, False),
        ("Bool", False),
    ],
)
def test_tls_deny_condition_shapes(condition: Any, enforced: bool) -> None:
    document = policy_document(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::acme-data-1a2b/*",
            "Condition": condition,
        }
    )
    resource = res(s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": document})
    assert (violations(s3.s3_bucket_enforce_tls_only, resource) == []) is enforced


def test_secure_transport_does_not_make_a_public_statement_private() -> None:
    public = policy_document(
        {
            "Sid": "Public",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::acme-data-1a2b/*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        }
    )
    resource = res(s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": public})
    assert violations(s3.s3_bucket_disallow_public_policy, resource) == [
        "BucketPolicy 'acme-policy' allows s3:GetObject to everyone ('*') in statement 'Public'; "
        "its condition on aws:SecureTransport restricts neither the principal nor the source"
    ]


def test_cloudfront_origin_access_with_a_source_arn_is_not_public() -> None:
    oac = policy_document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::acme-data-1a2b/*",
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E1"
                }
            },
        }
    )
    resource = res(s3.BUCKET_POLICY, "acme-policy", {"bucket": "b", "policy": oac})
    assert violations(s3.s3_bucket_disallow_public_policy, resource) == []


@pytest.mark.parametrize(
    ("name", "rule", "expected"),
    [
        ("acme-storage-data-sse", SSE_KMS["rules"][0], None),
        (
            "acme-storage-data-sse",
            {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}},
            "encrypts with AES256, not SSE-KMS",
        ),
        (
            "acme-storage-data-sse",
            {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}},
            "uses aws:kms without kmsMasterKeyId",
        ),
        ("acme-storage-data-sse", {"bucketKeyEnabled": True}, "encrypts with no algorithm"),
        (
            "acme-storage-access-logs-sse",
            {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}},
            None,
        ),
    ],
)
def test_encryption_configuration_is_checked_on_the_resource(
    name: str, rule: dict[str, Any], expected: str | None
) -> None:
    for type_ in (s3.SSE, s3.SSE_V2):
        resource = res(type_, name, {"bucket": "acme-data-1a2b", "rules": [rule]})
        messages = violations(s3.s3_encryption_configuration_enforce_kms, resource)
        if expected is None:
            assert messages == []
        else:
            [message] = messages
            assert message.startswith(f"{type_.rsplit(':', 1)[-1]} '{name}' {expected}")


def test_sse_s3_buckets_are_configurable() -> None:
    aes = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    resource = res(s3.SSE, "legacy-logs-sse", {"bucket": "legacy-logs", "rules": [aes]})
    policy = s3.s3_encryption_configuration_enforce_kms
    assert len(violations(policy, resource)) == 1
    assert violations(policy, resource, config={"sseS3Buckets": ["legacy-logs"]}) == []


@pytest.mark.parametrize(
    ("type_", "inputs", "expected"),
    [
        (s3.WEBSITE, {"bucket": "b", "indexDocument": {"suffix": "index.html"}}, "static website"),
        (s3.WEBSITE_V2, {"bucket": "b", "indexDocument": {"suffix": "index.html"}}, "static"),
        (
            s3.WEBSITE,
            {"bucket": "b", "redirectAllRequestsTo": {"hostName": "acme.example"}},
            "redirects every request",
        ),
        (BUCKET, {"bucket": "b", "website": {"indexDocument": "index.html"}}, "static website"),
        (s3.BUCKET_V2, {"bucket": "b", "websites": [{"indexDocument": "i.html"}]}, "static"),
    ],
)
def test_website_hosting(type_: str, inputs: dict[str, Any], expected: str) -> None:
    [message] = violations(s3.s3_bucket_disallow_website_hosting, res(type_, "acme-site", inputs))
    assert expected in message


def test_buckets_without_websites_pass() -> None:
    policy = s3.s3_bucket_disallow_website_hosting
    assert violations(policy, *data_bucket()) == []
    assert violations(policy, res(BUCKET, "b", {"bucket": "b", "website": {}})) == []


def test_v2_companions_count_for_presence() -> None:
    bucket, *rest = data_bucket(versioning=None)
    versioning = res(
        s3.VERSIONING_V2,
        "acme-v2",
        {"bucket": "acme-data-1a2b", "versioningConfiguration": {"status": "Enabled"}},
        depends_on=(bucket,),
    )
    assert violations(s3.s3_bucket_missing_versioning, bucket, *rest, versioning) == []


def test_the_account_public_access_block_needs_all_four_flags() -> None:
    policy = s3.s3_bucket_configure_public_access_block
    account_block = {k: v for k, v in PUBLIC_ACCESS_BLOCK.items() if k != "bucket"}
    assert violations(policy, res(s3.ACCOUNT_PUBLIC_ACCESS_BLOCK, "pab", account_block)) == []
    weak = changed(account_block, "restrictPublicBuckets", "false")
    assert violations(policy, res(s3.ACCOUNT_PUBLIC_ACCESS_BLOCK, "pab", weak)) == [
        "AccountPublicAccessBlock 'pab' leaves restrictPublicBuckets off; all four flags must be "
        "true"
    ]


def test_an_aws_managed_key_is_not_a_customer_key() -> None:
    managed = changed(
        SSE_KMS, "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", "alias/aws/s3"
    )
    [message] = violations(s3.s3_bucket_enforce_kms_encryption, *data_bucket(sse=managed))
    assert "uses aws:kms without kmsMasterKeyId (the AWS-managed key)" in message
