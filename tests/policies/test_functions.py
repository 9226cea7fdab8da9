"""Lambda functions: environment secrets and public access."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rules import functions
from tests.policies.harness import TAGS, res, violations

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenants/acme/app-1a2b3c"
FUNCTION: dict[str, Any] = {
    "role": "arn:aws:iam::123456789012:role/tenant-acme-hook",
    "runtime": "python3.12",
    "handler": "app.handler",
    "environment": {
        "variables": {
            "APP_SECRET_ARN": SECRET_ARN,
            "DB_PASSWORD_SECRET": SECRET_ARN,
            "TOKEN_TTL_SECONDS": "21600",
            "LOG_LEVEL": "info",
        }
    },
}


def function(inputs: dict[str, Any]) -> Any:
    return res(functions.FUNCTION, "acme-hook", inputs, tags=TAGS)


def test_baseline_function_passes() -> None:
    policy = functions.lambda_function_disallow_secrets_in_environment
    assert violations(policy, function(FUNCTION)) == []
    assert violations(policy, function({"role": "r"})) == []


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("DB_PASSWORD", "hunter2hunter2", "a literal credential"),
        ("STRIPE_API_KEY", "sk_live_abcdef123456", "a literal credential"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENGbPxRfiCYEXAMPLEKEY",
            "an AWS secret access key",
        ),
        ("UPSTREAM", "AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
        ("DATABASE_URL", "postgres://app:hunter2@db:5432/app", "a password in a URL"),
    ],
)
def test_secrets_in_environment(name: str, value: str, what: str) -> None:
    inputs = {**FUNCTION, "environment": {"variables": {name: value}}}
    assert violations(
        functions.lambda_function_disallow_secrets_in_environment, function(inputs)
    ) == [
        f"Function 'acme-hook' has {what} in environment variable {name}; read it from Secrets "
        "Manager at run time"
    ]


@pytest.mark.parametrize(
    ("type_", "inputs", "expected"),
    [
        (
            functions.FUNCTION_URL,
            {"functionName": "acme-hook", "authorizationType": "NONE"},
            "serves a function URL without authentication",
        ),
        (
            functions.PERMISSION,
            {
                "function": "acme-hook",
                "action": "lambda:InvokeFunctionUrl",
                "principal": "*",
                "functionUrlAuthType": "NONE",
            },
            "lets everyone ('*') invoke the function through its URL",
        ),
        (
            functions.PERMISSION,
            {"function": "acme-hook", "action": "lambda:InvokeFunction", "principal": "*"},
            "lets everyone ('*') invoke the function",
        ),
        (
            functions.PERMISSION,
            {
                "function": "acme-hook",
                "action": "lambda:InvokeFunction",
                "principal": "s3.amazonaws.com",
            },
            "lets s3.amazonaws.com invoke the function on behalf of any account",
        ),
    ],
)
def test_public_functions(type_: str, inputs: dict[str, Any], expected: str) -> None:
    [message] = violations(
        functions.lambda_function_disallow_public_access, res(type_, "acme-x", inputs)
    )
    assert expected in message


@pytest.mark.parametrize(
    ("type_", "inputs"),
    [
        (functions.FUNCTION_URL, {"functionName": "acme-hook", "authorizationType": "AWS_IAM"}),
        (
            functions.PERMISSION,
            {
                "function": "acme-hook",
                "action": "lambda:InvokeFunction",
                "principal": "s3.amazonaws.com",
                "sourceArn": "arn:aws:s3:::acme-uploads-1a2b",
                "sourceAccount": "123456789012",
            },
        ),
        (
            functions.PERMISSION,
            {
                "function": "acme-hook",
                "action": "lambda:InvokeFunction",
                "principal": "*",
                "principalOrgId": "o-a1b2c3d4e5",
            },
        ),
        (
            functions.PERMISSION,
            {
                "function": "acme-hook",
                "action": "lambda:InvokeFunction",
                "principal": "arn:aws:iam::123456789012:role/caller",
            },
        ),
    ],
)
def test_function_access_look_alikes(type_: str, inputs: dict[str, Any]) -> None:
    assert (
        violations(functions.lambda_function_disallow_public_access, res(type_, "acme-x", inputs))
        == []
    )
