"""Storage: encrypted, private, versioned, TLS-only buckets and a protected table."""

from __future__ import annotations

from tests.components.builders import document, only, plan_of

SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET = "aws:s3/bucket:Bucket"


def test_every_data_bucket_uses_sse_kms_with_the_tenant_key_and_a_bucket_key() -> None:
    plan = plan_of(storage={"buckets": [{"role": "data"}, {"role": "media"}]})
    key_arn = only(plan, "aws:kms/key:Key").outputs["arn"]
    data_buckets = {
        b.outputs["bucket"]
        for b in plan.by_type(BUCKET)
        if b.inputs["tags"]["purpose"] != "access-logs"
    }
    assert len(data_buckets) == 2
    encrypted = {}
    for sse in plan.by_type(SSE):
        rule = sse.inputs["rules"][0]
        encrypted[sse.inputs["bucket"]] = rule
    for bucket in data_buckets:
        rule = encrypted[bucket]
        assert rule["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": key_arn,
        }
        assert rule["bucketKeyEnabled"] is True


def test_access_log_bucket_exists_on_paid_plans_with_sse_s3_and_every_bucket_logs_to_it() -> None:
    plan = plan_of()
    logs = [b for b in plan.by_type(BUCKET) if b.inputs["tags"]["purpose"] == "access-logs"]
    assert len(logs) == 1
    log_bucket = logs[0].outputs["bucket"]
    sse = {s.inputs["bucket"]: s.inputs["rules"][0] for s in plan.by_type(SSE)}
    # S3 server access logging cannot deliver into an SSE-KMS bucket.
    assert sse[log_bucket]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    logging = plan.by_type("aws:s3/bucketLogging:BucketLogging")
    assert {entry.inputs["targetBucket"] for entry in logging} == {log_bucket}
    assert len(logging) == len(plan.by_type(BUCKET)) - 1


def test_free_plan_has_no_access_logs() -> None:
    plan = plan_of(plan="free", network={"cidr": "10.80.0.0/20"})
    assert plan.by_type("aws:s3/bucketLogging:BucketLogging") == []
    assert all(b.inputs["tags"]["purpose"] != "access-logs" for b in plan.by_type(BUCKET))


def test_every_bucket_blocks_public_access_enforces_ownership_versioning_and_tls() -> None:
    plan = plan_of(storage={"buckets": [{"role": "data"}, {"role": "media"}]})
    buckets = {b.outputs["bucket"]: b for b in plan.by_type(BUCKET)}
    blocks = {
        b.inputs["bucket"]: b.inputs
        for b in plan.by_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    }
    ownership = {
        o.inputs["bucket"]: o.inputs
        for o in plan.by_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    }
    versioning = {
        v.inputs["bucket"]: v.inputs
        for v in plan.by_type("aws:s3/bucketVersioning:BucketVersioning")
    }
    policies = {
        p.inputs["bucket"]: document(p) for p in plan.by_type("aws:s3/bucketPolicy:BucketPolicy")
    }
    for name, bucket in buckets.items():
        block = blocks[name]
        for flag in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        ):
            assert block[flag] is True, (name, flag)
        assert ownership[name]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        assert versioning[name]["versioningConfiguration"]["status"] == "Enabled"
        deny = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert bucket.outputs["arn"] in deny[0]["Resource"]


def test_bucket_names_are_unique_per_role_with_a_random_suffix() -> None:
    plan = plan_of(storage={"buckets": [{"role": "data"}, {"role": "media"}]})
    names = [b.inputs["bucket"] for b in plan.by_type(BUCKET)]
    assert len(set(names)) == len(names)
    for name in names:
        assert name.startswith("testco-")
        assert len(name.rsplit("-", 1)[1]) == 8
    assert len(plan.by_type("random:index/randomId:RandomId")) == len(names)


def test_lifecycle_expires_noncurrent_versions_after_the_retention() -> None:
    plan = plan_of(storage={"retention_days": 120})
    rules = [
        lc.inputs["rules"][0]
        for lc in plan.by_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if lc.inputs["rules"][0]["id"] == "expire-noncurrent-versions"
    ]
    assert rules and all(r["noncurrentVersionExpiration"]["noncurrentDays"] == 120 for r in rules)


def test_kms_key_rotates_has_an_alias_and_is_protected() -> None:
    plan = plan_of()
    key = only(plan, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect
    alias = only(plan, "aws:kms/alias:Alias")
    assert alias.inputs["name"] == "alias/tenants/testco"
    assert alias.inputs["targetKeyId"] == key.outputs["keyId"]


def test_table_is_encrypted_with_pitr_and_protected_only_when_requested() -> None:
    assert plan_of().by_type("aws:dynamodb/table:Table") == []
    plan = plan_of(storage={"table": {"hash_key": "pk", "range_key": "sk"}})
    table = only(plan, "aws:dynamodb/table:Table")
    key_arn = only(plan, "aws:kms/key:Key").outputs["arn"]
    assert table.inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": key_arn}
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["deletionProtectionEnabled"] is True
    assert table.protect


def test_data_resources_are_protected() -> None:
    plan = plan_of(storage={"table": {}})
    protected = {r.type for r in plan.resources if r.protect}
    assert protected == {
        "aws:kms/key:Key",
        BUCKET,
        "aws:dynamodb/table:Table",
        "aws:secretsmanager/secret:Secret",
    }
    assert all(b.protect for b in plan.by_type(BUCKET))
