"""Credentials in text: what a leak looks like, and what only resembles one."""

from __future__ import annotations

import base64
import gzip

import pytest

from policies.credentials import (
    ACCESS_KEY,
    LITERAL,
    PRIVATE_KEY,
    SECRET_ACCESS_KEY,
    URL_PASSWORD,
    credential_value,
    credentials_in,
    decode_user_data,
)

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tenants/acme/db-AbCdEf"


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", ACCESS_KEY),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", SECRET_ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENGbPxRfiCYEXAMPLEKEY", SECRET_ACCESS_KEY),
        ("-----BEGIN RSA PRIVATE KEY-----", PRIVATE_KEY),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", PRIVATE_KEY),
        ("DB_PASSWORD=hunter2hunter2", LITERAL),
        ('export DB_PASSWORD="hunter2hunter2"', LITERAL),
        ("api_key: 'sk_live_abcdef123456'", LITERAL),
        ('  "password": "correct-horse",', LITERAL),
        ("GITHUB_TOKEN=ghp_0123456789abcdef", LITERAL),
        ("mysql --password=hunter2hunter2 -h db", LITERAL),
        ("client_secret: s3cr3t-value", LITERAL),
        ('curl -H "X-Vault-Token: s.abcdef123456" https://vault', LITERAL),
        ("DATABASE_URL=postgres://app:hunter2@db.internal:5432/app", URL_PASSWORD),
        ("password = 123456", LITERAL),
    ],
)
def test_credentials_written_out(line: str, what: str) -> None:
    found = credentials_in(f"#!/bin/bash\n{line}\n")
    assert what in [c.what for c in found]
    assert {c.line for c in found} == {2}


@pytest.mark.parametrize(
    "line",
    [
        # The IMDSv2 session token request, as AWS documents it.
        'TOKEN=$(curl -X PUT "http://169.254.169.254/latest/api/token" '
        '-H "X-aws-ec2-metadata-token-ttl-seconds: 21600")',
        "X-aws-ec2-metadata-token-ttl-seconds: 21600",
        'curl -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/',
        f"DB_SECRET={SECRET_ARN}",
        f"export DB_SECRET='{SECRET_ARN}'",
        f"SECRET_ARN={SECRET_ARN}",
        f"aws secretsmanager get-secret-value --secret-id '{SECRET_ARN}' --query SecretString",
        'export DB_PASSWORD="$(cat /etc/tenant/app-secret)"',
        "DB_PASSWORD=${DB_PASSWORD:-}",
        "PASSWORD_FILE=/run/secrets/db",
        "API_TOKEN=/var/run/secrets/token",
        "password: '{{resolve:secretsmanager:db:SecretString:password}}'",
        "USE_TOKEN=true",
        'password: ""',
        "token_ttl: 3600",
        "secret_id: tenants/acme/app",
        "ssh_pwauth: false",
        "DATABASE_URL=postgres://app:$DB_PASSWORD@db.internal:5432/app",
        "passwd: $6$rounds=4096$saltsalt$hashedvalue",
        "# set the password in Secrets Manager, never here",
    ],
)
def test_look_alikes_are_not_credentials(line: str) -> None:
    assert credentials_in(f"#!/bin/bash\n{line}\n") == []


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("DB_PASSWORD", "hunter2hunter2", LITERAL),
        ("STRIPE_API_KEY", "sk_live_abcdef123456", LITERAL),
        ("ANYTHING", "AKIAIOSFODNN7EXAMPLE", ACCESS_KEY),
        ("DATABASE_URL", "mysql://app:hunter2@db/app", URL_PASSWORD),
        ("DB_SECRET_ARN", SECRET_ARN, None),
        ("DB_PASSWORD", SECRET_ARN, None),
        ("TOKEN_TTL_SECONDS", "21600", None),
        ("LOG_LEVEL", "debug", None),
        ("API_KEY", "", None),
    ],
)
def test_environment_values(name: str, value: str, what: str | None) -> None:
    assert credential_value(name, value) == what


def test_user_data_is_decoded_from_base64_and_gzip() -> None:
    script = "#!/bin/bash\necho hello\n"
    assert decode_user_data(script) == script
    assert decode_user_data(base64.b64encode(script.encode()).decode()) == script
    zipped = base64.b64encode(gzip.compress(script.encode())).decode()
    assert decode_user_data(zipped) == script
    binary = base64.b64encode(b"\xff\xfe\x00").decode()
    assert decode_user_data(binary) == binary
    broken = base64.b64encode(b"\x1f\x8b not gzip").decode()
    assert decode_user_data(broken) == broken
