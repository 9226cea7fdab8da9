"""CloudTrail trails."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import trail
from tests.policies.harness import TAGS, changed, res, violations

TRAIL: dict[str, Any] = {
    "name": "org-trail",
    "s3BucketName": "acme-trail-1a2b",
    "isMultiRegionTrail": True,
    "enableLogFileValidation": True,
    "enableLogging": True,
    "kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/1111",
}
POLICIES = [
    trail.cloudtrail_trail_enable_multi_region,
    trail.cloudtrail_trail_enable_logging,
    trail.cloudtrail_trail_enable_log_file_validation,
    trail.cloudtrail_trail_enforce_kms_encryption,
]


def one(inputs: dict[str, Any]) -> Any:
    return res(trail.TRAIL, "acme-trail", inputs, tags=TAGS)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_baseline_passes(policy: Any) -> None:
    assert violations(policy, one(TRAIL)) == []
    # The provider's defaults: logging stays on when unset.
    if policy is trail.cloudtrail_trail_enable_logging:
        assert violations(policy, one(changed(TRAIL, "enableLogging", None))) == []


@pytest.mark.parametrize(
    ("policy", "path", "value", "expected"),
    [
        (trail.cloudtrail_trail_enable_multi_region, "isMultiRegionTrail", False, "records one"),
        (trail.cloudtrail_trail_enable_multi_region, "isMultiRegionTrail", None, "records one"),
        (trail.cloudtrail_trail_enable_logging, "enableLogging", "false", "has logging turned off"),
        (
            trail.cloudtrail_trail_enable_log_file_validation,
            "enableLogFileValidation",
            None,
            "does not validate its log files",
        ),
        (trail.cloudtrail_trail_enforce_kms_encryption, "kmsKeyId", None, "does not encrypt"),
        (trail.cloudtrail_trail_enforce_kms_encryption, "kmsKeyId", "", "does not encrypt"),
    ],
)
def test_mutations(policy: Any, path: str, value: Any, expected: str) -> None:
    [message] = violations(policy, one(changed(TRAIL, path, value)))
    assert message.startswith(f"Trail 'acme-trail' {expected}")
