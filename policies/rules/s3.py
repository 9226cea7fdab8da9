"""S3: encryption with KMS, bucket keys, no public access, TLS only, versioning, logging."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policies.define import (
    Report,
    StackCheck,
    StackReport,
    linked,
    of_type,
    resource_policy,
    stack_policy,
    within,
)
from policies.frameworks import cis, hipaa, iso, pci, soc2
from policies.iam_documents import InvalidDocumentError, Statement, parse_document
from policies.props import as_bool, items, known, mapping, objects, tags_of, text
from policies.rules.kms import customer_key
from policies.tenancy import plan_of

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
SSE_V2 = (
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
)
VERSIONING_V2 = "aws:s3/bucketVersioningV2:BucketVersioningV2"
LOGGING_V2 = "aws:s3/bucketLoggingV2:BucketLoggingV2"
ACL_V2 = "aws:s3/bucketAclV2:BucketAclV2"
WEBSITE = "aws:s3/bucketWebsiteConfiguration:BucketWebsiteConfiguration"
WEBSITE_V2 = "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2"
ACL = "aws:s3/bucketAcl:BucketAcl"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
ACCESS_LOG_PURPOSE = "access-logs"
PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _is_access_log_bucket(bucket: PolicyResource) -> bool:
    return tags_of(bucket.props).get("purpose") == ACCESS_LOG_PURPOSE


BUCKETS = (BUCKET, BUCKET_V2)
_ALIASES = {SSE: SSE_V2, VERSIONING: VERSIONING_V2, LOGGING: LOGGING_V2}
"""Companion types with a deprecated V2 twin that a program may still use."""


def _companions(args: StackValidationArgs, bucket: PolicyResource, type_: str) -> list[Any]:
    types = (type_, _ALIASES[type_]) if type_ in _ALIASES else (type_,)
    return [r for r in of_type(args, *types) if linked(r, bucket, "bucket")]


def _encryption_rules(args: StackValidationArgs, bucket: PolicyResource) -> list[Any] | None:
    """The bucket's SSE rules, from side-by-side configurations or the legacy inline block."""
    configs = _companions(args, bucket, SSE)
    if configs:
        return [rule for c in configs for rule in objects(c.props.get("rules"))]
    inline = mapping(bucket.props.get("serverSideEncryptionConfiguration"))
    if inline:
        return objects(inline.get("rule"))
    return None


def _encryption_problem(bucket: PolicyResource, rule: Any) -> str | None:
    default = mapping(mapping(rule).get("applyServerSideEncryptionByDefault"))
    algorithm = text(default.get("sseAlgorithm"))
    if algorithm in KMS_ALGORITHMS:
        if customer_key(default.get("kmsMasterKeyId")):
            return None
        return (
            f"uses {algorithm} without kmsMasterKeyId (the AWS-managed key); "
            "name the tenant's customer-managed key"
        )
    if algorithm == "AES256" and _is_access_log_bucket(bucket):
        return None  # server access logs can only be delivered to SSE-S3 buckets
    return (
        f"is encrypted with {algorithm or 'no algorithm'}, not SSE-KMS; "
        f"allowed: {', '.join(KMS_ALGORITHMS)} (AES256 only for buckets tagged "
        f"purpose={ACCESS_LOG_PURPOSE})"
    )


def _check_kms_encryption(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    for bucket in of_type(args, *BUCKETS):
        with within():
            rules = _encryption_rules(args, bucket)
            if not rules:
                report(bucket, "has no server-side encryption configuration")
                continue
            for rule in rules:
                problem = _encryption_problem(bucket, rule)
                if problem:
                    report(bucket, problem)


s3_bucket_enforce_kms_encryption = stack_policy(
    name="aws-s3-bucket-enforce-kms-encryption",
    description="S3 buckets are encrypted at rest with a customer-managed KMS key.",
    severity=Severity.HIGH,
    controls=(pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Add an aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm "
    "'aws:kms' and kms_master_key_id set to the tenant key (access-log buckets: AES256).",
    resource_types=(*BUCKETS, SSE, SSE_V2),
    check=_check_kms_encryption,
    topics=("storage", "encryption"),
)


def _may_use_sse_s3(args: ResourceValidationArgs, patterns: list[str]) -> bool:
    names = [args.name, str(known(args.props, "bucket") or "")]
    return any(fnmatchcase(n.lower(), p.lower()) for n in names if n for p in patterns)


def _check_encryption_algorithm(args: ResourceValidationArgs, report: Report, config: Any) -> None:
    patterns = [str(p) for p in config["sseS3Buckets"]]
    rules = objects(args.props.get("rules"))
    if not rules:
        report("has no encryption rule")
    for entry in rules:
        with within():
            default = mapping(entry.get("applyServerSideEncryptionByDefault"))
            algorithm = text(default.get("sseAlgorithm"))
            if algorithm in KMS_ALGORITHMS:
                if not customer_key(default.get("kmsMasterKeyId")):
                    report(
                        f"uses {algorithm} without kmsMasterKeyId (the AWS-managed key); name "
                        "the tenant's customer-managed key"
                    )
            elif not (algorithm == "AES256" and _may_use_sse_s3(args, patterns)):
                report(
                    f"encrypts with {algorithm or 'no algorithm'}, not SSE-KMS; allowed: "
                    f"{', '.join(KMS_ALGORITHMS)}"
                )


s3_encryption_configuration_enforce_kms = resource_policy(
    name="aws-s3-encryption-configuration-enforce-kms",
    description="Bucket encryption configurations use SSE-KMS with a customer-managed key.",
    severity=Severity.HIGH,
    controls=(pci("3.5.1"), hipaa("164.312(a)(2)(iv)"), soc2("CC6.1"), iso("A.8.24")),
    remediation="Set sse_algorithm 'aws:kms' and kms_master_key_id to the tenant key; only "
    "server access log buckets (sseS3Buckets) may use AES256.",
    resource_types=(SSE, SSE_V2),
    check=_check_encryption_algorithm,
    config={
        "sseS3Buckets": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["*access-log*"],
            "description": "Patterns of logical or bucket names that may use AES256 (S3 "
            "server access logs can only be delivered to SSE-S3 buckets).",
        }
    },
    topics=("storage", "encryption"),
)


def _check_bucket_key(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    for entry in objects(args.props.get("rules")):
        with within():
            default = mapping(entry.get("applyServerSideEncryptionByDefault"))
            algorithm = text(default.get("sseAlgorithm"))
            if algorithm in KMS_ALGORITHMS and as_bool(entry.get("bucketKeyEnabled")) is not True:
                report(f"uses {algorithm} without bucketKeyEnabled; every object write calls KMS")


s3_bucket_enable_bucket_key = resource_policy(
    name="aws-s3-bucket-enable-bucket-key",
    description="SSE-KMS bucket encryption uses an S3 bucket key.",
    severity=Severity.LOW,
    controls=(soc2("A1.1"), iso("A.8.6")),
    remediation="Set bucket_key_enabled=True on the encryption rule.",
    resource_types=(SSE, SSE_V2),
    check=_check_bucket_key,
    enforcement=EnforcementLevel.ADVISORY,
    topics=("storage", "cost"),
)


def _check_public_acl(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    acl = args.props.get("acl")
    if acl in PUBLIC_CANNED_ACLS:
        report(f"has the public canned ACL {acl!r}; use 'private' or none")
    policy = mapping(args.props.get("accessControlPolicy"))
    for grant in items(policy.get("grants")):
        uri = mapping(mapping(grant).get("grantee")).get("uri")
        if uri in PUBLIC_GRANTEES:
            report(f"grants {mapping(grant).get('permission', 'access')} to {uri}")


s3_bucket_disallow_public_acl = resource_policy(
    name="aws-s3-bucket-disallow-public-acl",
    description="S3 bucket ACLs do not grant access to everyone or any AWS user.",
    severity=Severity.CRITICAL,
    controls=(cis("2.1.4"), pci("1.4.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.8.3")),
    remediation="Remove the ACL resource (ownership controls enforce the owner) or use 'private'.",
    resource_types=(ACL, ACL_V2, *BUCKETS),
    check=_check_public_acl,
    topics=("storage", "public-access"),
)


def _check_public_access_block(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    off = [flag for flag in BLOCK_FLAGS if as_bool(args.props.get(flag)) is not True]
    if off:
        report(f"leaves {', '.join(off)} off; all four flags must be true")


s3_bucket_configure_public_access_block = resource_policy(
    name="aws-s3-bucket-configure-public-access-block",
    description="S3 public access blocks (of buckets and of the account) turn on all four flags.",
    severity=Severity.HIGH,
    controls=(cis("2.1.4"), pci("1.4.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.8.3")),
    remediation="Set block_public_acls, block_public_policy, ignore_public_acls and "
    "restrict_public_buckets to True.",
    resource_types=(PUBLIC_ACCESS_BLOCK, ACCOUNT_PUBLIC_ACCESS_BLOCK),
    check=_check_public_access_block,
    topics=("storage", "public-access"),
)


def _missing(type_: str, what: str) -> StackCheck:
    def check(args: StackValidationArgs, report: StackReport, _: Any) -> None:
        for bucket in of_type(args, *BUCKETS):
            if not _companions(args, bucket, type_):
                report(bucket, f"has no {what}")

    return check


s3_bucket_missing_public_access_block = stack_policy(
    name="aws-s3-bucket-missing-public-access-block",
    description="Every S3 bucket has a public access block.",
    severity=Severity.HIGH,
    controls=(cis("2.1.4"), pci("1.4.1"), soc2("CC6.1"), iso("A.8.3")),
    remediation="Add an aws.s3.BucketPublicAccessBlock for the bucket.",
    resource_types=(*BUCKETS, PUBLIC_ACCESS_BLOCK),
    check=_missing(PUBLIC_ACCESS_BLOCK, "public access block (aws.s3.BucketPublicAccessBlock)"),
    topics=("storage", "public-access"),
)


def _denies_insecure_transport(statement: Statement) -> bool:
    if statement.effect != "Deny" or not statement.public_principal:
        return False
    if not statement.grants("s3:GetObject"):
        return False
    return any(
        clause.key == "aws:securetransport"
        and clause.test == "bool"
        and clause.quantifier != "forallvalues"
        and "false" in (v.strip().lower() for v in clause.values)
        for clause in statement.clauses
    )


def _statements_or_report(document: Any, report: Report) -> list[Statement] | None:
    try:
        return parse_document(document)
    except InvalidDocumentError as error:
        report(f"has a policy that {error}")
        return None


def _check_tls_only(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    statements = _statements_or_report(args.props.get("policy", ""), report)
    if statements is not None and not any(_denies_insecure_transport(s) for s in statements):
        report(
            "has no statement denying s3:* to '*' when aws:SecureTransport is false; "
            "plain-HTTP requests are accepted"
        )


s3_bucket_enforce_tls_only = resource_policy(
    name="aws-s3-bucket-enforce-tls-only",
    description="S3 bucket policies deny requests that do not use TLS.",
    severity=Severity.HIGH,
    controls=(cis("2.1.1"), pci("4.2.1"), hipaa("164.312(e)(1)"), soc2("CC6.7"), iso("A.8.24")),
    remediation="Add a Deny statement for s3:* on the bucket and its objects with the "
    "condition Bool aws:SecureTransport = false.",
    resource_types=(BUCKET_POLICY,),
    check=_check_tls_only,
    topics=("storage", "encryption-in-transit"),
)

s3_bucket_missing_tls_policy = stack_policy(
    name="aws-s3-bucket-missing-tls-policy",
    description="Every S3 bucket has a bucket policy (which must enforce TLS).",
    severity=Severity.HIGH,
    controls=(cis("2.1.1"), pci("4.2.1"), hipaa("164.312(e)(1)"), soc2("CC6.7")),
    remediation="Add an aws.s3.BucketPolicy denying requests without aws:SecureTransport.",
    resource_types=(*BUCKETS, BUCKET_POLICY),
    check=_missing(BUCKET_POLICY, "bucket policy (aws.s3.BucketPolicy) enforcing TLS"),
    topics=("storage", "encryption-in-transit"),
)


def _check_public_policy(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    statements = _statements_or_report(args.props.get("policy", ""), report)
    for statement in statements or ():
        if statement.unrestricted_public:
            report(
                f"allows {', '.join(statement.actions) or 'actions'} to everyone ('*') "
                f"{statement.why_unrestricted()}"
            )


s3_bucket_disallow_public_policy = resource_policy(
    name="aws-s3-bucket-disallow-public-policy",
    description="S3 bucket policies do not allow anonymous access.",
    severity=Severity.CRITICAL,
    controls=(cis("2.1.4"), pci("1.4.1"), hipaa("164.312(a)(1)"), soc2("CC6.1"), iso("A.8.3")),
    remediation="Name the principals that need access, or restrict statements with Principal "
    "'*' by a condition on the principal or source (aws:PrincipalOrgID, aws:SourceArn, "
    "aws:SourceVpce...); aws:SecureTransport alone restricts no one.",
    resource_types=(BUCKET_POLICY,),
    check=_check_public_policy,
    topics=("storage", "public-access"),
)


def _check_versioning(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    status = mapping(args.props.get("versioningConfiguration")).get("status")
    if status != "Enabled":
        report(f"has versioning status {status!r}; 'Enabled' keeps overwritten objects")


s3_bucket_enable_versioning = resource_policy(
    name="aws-s3-bucket-enable-versioning",
    description="S3 bucket versioning is enabled.",
    severity=Severity.MEDIUM,
    controls=(hipaa("164.312(c)(1)"), soc2("A1.2"), iso("A.8.13")),
    remediation="Set versioning_configuration status to 'Enabled' (the spec's "
    "storage.buckets[].versioning).",
    resource_types=(VERSIONING, VERSIONING_V2),
    check=_check_versioning,
    # Versioning is a tenant choice per bucket; a suspended bucket is reported, not blocked.
    enforcement=EnforcementLevel.ADVISORY,
    topics=("storage", "backup"),
)

s3_bucket_missing_versioning = stack_policy(
    name="aws-s3-bucket-missing-versioning",
    description="Every S3 bucket states its versioning explicitly.",
    severity=Severity.MEDIUM,
    controls=(hipaa("164.312(c)(1)"), soc2("A1.2"), iso("A.8.13")),
    remediation="Add an aws.s3.BucketVersioning for the bucket.",
    resource_types=(*BUCKETS, VERSIONING, VERSIONING_V2),
    check=_missing(VERSIONING, "versioning configuration (aws.s3.BucketVersioning)"),
    topics=("storage", "backup"),
)


def _check_access_logging(args: StackValidationArgs, report: StackReport, _: Any) -> None:
    for bucket in of_type(args, *BUCKETS):
        with within():
            if _is_access_log_bucket(bucket):
                continue
            plan = plan_of(tags_of(bucket.props))
            if plan is not None and not plan.limits.access_logs:
                continue  # the plan does not include access logs
            if not _companions(args, bucket, LOGGING):
                report(bucket, "has no server access logging (aws.s3.BucketLogging)")


s3_bucket_missing_access_logging = stack_policy(
    name="aws-s3-bucket-missing-access-logging",
    description="S3 buckets log server access (on plans that include access logs).",
    severity=Severity.MEDIUM,
    controls=(cis("3.6"), pci("10.2.1"), hipaa("164.312(b)"), soc2("CC7.2"), iso("A.8.15")),
    remediation="Add an aws.s3.BucketLogging targeting the tenant's access-log bucket.",
    resource_types=(*BUCKETS, LOGGING, LOGGING_V2),
    check=_check_access_logging,
    topics=("storage", "logging"),
)


def _check_ownership(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    ownership = mapping(args.props.get("rule")).get("objectOwnership")
    if ownership != "BucketOwnerEnforced":
        report(f"sets object ownership {ownership!r}; 'BucketOwnerEnforced' disables ACLs")


s3_bucket_enforce_owner_ownership = resource_policy(
    name="aws-s3-bucket-enforce-owner-ownership",
    description="S3 object ownership is BucketOwnerEnforced (ACLs disabled).",
    severity=Severity.MEDIUM,
    controls=(pci("7.2.1"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Set rule.object_ownership to 'BucketOwnerEnforced'.",
    resource_types=(OWNERSHIP,),
    check=_check_ownership,
    topics=("storage", "access-control"),
)

s3_bucket_missing_ownership_controls = stack_policy(
    name="aws-s3-bucket-missing-ownership-controls",
    description="Every S3 bucket has ownership controls.",
    severity=Severity.MEDIUM,
    controls=(pci("7.2.1"), soc2("CC6.1"), iso("A.5.15")),
    remediation="Add an aws.s3.BucketOwnershipControls with 'BucketOwnerEnforced'.",
    resource_types=(*BUCKETS, OWNERSHIP),
    check=_missing(OWNERSHIP, "ownership controls (aws.s3.BucketOwnershipControls)"),
    topics=("storage", "access-control"),
)


def _check_website(args: ResourceValidationArgs, report: Report, _: Any) -> None:
    if args.resource_type in (WEBSITE, WEBSITE_V2):
        redirect = mapping(args.props.get("redirectAllRequestsTo"))
        if redirect and not args.props.get("indexDocument"):
            report("hosts a website endpoint (plain HTTP, public) that redirects every request")
        else:
            report("hosts a static website (plain HTTP, readable by everyone)")
    elif mapping(args.props.get("website")) or objects(args.props.get("websites")):
        report("hosts a static website (plain HTTP, readable by everyone)")


s3_bucket_disallow_website_hosting = resource_policy(
    name="aws-s3-bucket-disallow-website-hosting",
    description="S3 buckets do not serve static websites (plain HTTP, public by design).",
    severity=Severity.HIGH,
    controls=(pci("1.4.1"), hipaa("164.312(e)(1)"), soc2("CC6.6"), iso("A.8.20")),
    remediation="Remove the website configuration; serve content through CloudFront with "
    "origin access control and HTTPS.",
    resource_types=(WEBSITE, WEBSITE_V2, *BUCKETS),
    check=_check_website,
    topics=("storage", "public-access"),
)
