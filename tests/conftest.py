"""Suite-wide settings: no test may reach a real AWS account."""

from __future__ import annotations

import importlib
import os
import warnings

import pulumi
import pytest

# Fake credentials before any boto3 client exists: a slip to real AWS fails to authenticate.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value


def _import_aws_modules_quietly() -> None:
    """Import the pulumi-aws modules the bundle uses, swallowing their import-time warnings.

    pulumi-aws warns about its deprecated classes when a module is imported. After this,
    the only pulumi-aws deprecation warnings left are the ones raised when code *uses* a
    deprecated resource or property, and pyproject's filterwarnings turns those into errors.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in (
            "autoscaling", "budgets", "cloudwatch", "dynamodb", "ec2", "iam", "kms", "s3",
            "secretsmanager", "sns", "vpc",
        ):  # fmt: skip
            # Modules load lazily: touching an attribute runs the import and its warnings.
            hasattr(importlib.import_module(f"pulumi_aws.{module}"), "__all__")


_import_aws_modules_quietly()


@pytest.fixture(autouse=True)
def _deprecated_aws_usage_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """pulumi-aws reports a deprecated resource or property on the engine's warning channel
    (`pulumi.log.warn`), not through Python warnings: make that an error in every test."""
    original = pulumi.log.warn

    def warn(
        msg: str,
        resource: pulumi.Resource | None = None,
        stream_id: int | None = None,
        ephemeral: bool | None = None,
    ) -> None:
        if "deprecated" in msg:
            raise DeprecationWarning(msg)
        original(msg, resource, stream_id, ephemeral)

    monkeypatch.setattr(pulumi.log, "warn", warn)
    monkeypatch.setattr(pulumi, "warn", warn)
