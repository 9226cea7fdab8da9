"""Policy documents: statements in every shape, what conditions restrict, whose accounts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.iam_documents import (
    KMS_KEY,
    SNS_TOPIC_POLICY,
    SQS_QUEUE_POLICY,
    InvalidDocumentError,
    arn_account,
    clauses_of,
    own_accounts,
    parse_document,
    restriction_of,
)

OWN = "123456789012"
OTHER = "210987654321"


def restricts(condition: Any) -> bool:
    return restriction_of(clauses_of(condition)).restricts


@pytest.mark.parametrize(
    "condition",
    [
        {"StringEquals": {"aws:SourceAccount": OWN}},
        {"StringEquals": {"aws:SourceAccount": [OWN, OTHER]}},
        {"StringEquals": {"AWS:SOURCEACCOUNT": OWN}},  # keys are case-insensitive
        {"StringEquals": {"aws:SourceOwner": OWN}},
        {"StringEquals": {"aws:PrincipalAccount": OWN}},
        {"StringEquals": {"kms:CallerAccount": OWN}},
        {"ArnLike": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{OWN}:acme-*"}},
        {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::acme-logs-1a2b"}},
        {"StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{OWN}:role/tenant-*"}},
        {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a1b2c3d4e5/r-ab12/ou-ab12-1*"}},
        {"StringEquals": {"aws:SourceVpc": "vpc-0123456789abcdef0"}},
        {"StringEquals": {"aws:SourceVpce": ["vpce-0a1b2c3d4e5f60718"]}},
        {"IpAddress": {"aws:SourceIp": ["198.51.100.0/24", "203.0.113.7"]}},
        {"IpAddress": {"aws:SourceIp": "52.94.0.0/16"}},
        {"StringEquals": {"sts:ExternalId": "acme-ops-7f3c"}},
        {"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}},
        {"StringEquals": [{"aws:SourceAccount": OWN}]},  # an operator block as a list
        {  # conditions all hold: one restricting test is enough
            "Bool": {"aws:SecureTransport": "true"},
            "StringEquals": {"aws:SourceAccount": OWN},
        },
    ],
)
def test_conditions_that_restrict(condition: Any) -> None:
    assert restricts(condition) is True


@pytest.mark.parametrize(
    "condition",
    [
        None,
        {},
        {"Bool": {"aws:SecureTransport": "true"}},
        {"Bool": {"aws:SecureTransport": True}},
        {"StringEqualsIfExists": {"aws:SourceAccount": OWN}},  # true when the key is absent
        {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}},
        {"StringNotEquals": {"aws:SourceAccount": OWN}},
        {"ArnNotLike": {"aws:SourceArn": f"arn:aws:sns:eu-west-1:{OWN}:x"}},
        {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
        {"IpAddress": {"aws:SourceIp": ["0.0.0.0/1", "128.0.0.0/1"]}},
        {"IpAddress": {"aws:SourceIp": "::/0"}},
        {"IpAddress": {"aws:SourceIp": "not-an-ip"}},
        {"StringEquals": {"aws:SourceIp": "198.51.100.0/24"}},  # wrong operator for the key
        {"StringLike": {"aws:SourceAccount": "*"}},
        {"StringLike": {"aws:SourceAccount": "1234*"}},
        {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}},
        {"ArnLike": {"aws:SourceArn": "*"}},
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}},
        {"StringEquals": {"aws:PrincipalOrgID": "*"}},
        {"StringEquals": {"aws:PrincipalOrgID": ""}},
        {"StringEquals": {"aws:SourceVpc": "vpc-*"}},
        {"StringEquals": {"sts:ExternalId": ""}},
        {"StringEquals": {"sts:ExternalId": "  "}},
        {"StringEquals": {"sts:ExternalId": []}},
        {"StringLike": {"sts:ExternalId": "*"}},
        {"StringEqualsIfExists": {"sts:ExternalId": "acme"}},
        {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
        {"StringLike": {"aws:userid": "*:session"}},
        {"Null": {"aws:PrincipalOrgID": "false"}},
        {"StringEquals": "aws:SourceAccount"},  # malformed shapes restrict nothing
        {"StringEquals": ["aws:SourceAccount", OWN]},
        {"StringEquals": {"aws:SourceAccount": {"nested": OWN}}},
        ["StringEquals", {"aws:SourceAccount": OWN}],
        "StringEquals",
        42,
    ],
)
def test_conditions_that_restrict_nothing(condition: Any) -> None:
    assert restricts(condition) is False


@pytest.mark.parametrize(
    ("operator", "test", "quantifier", "if_exists"),
    [
        ("StringEquals", "stringequals", "", False),
        ("StringLikeIfExists", "stringlike", "", True),
        ("ForAnyValue:StringLike", "stringlike", "foranyvalue", False),
        ("ForAllValues:StringEqualsIfExists", "stringequals", "forallvalues", True),
        ("forallvalues:stringequals", "stringequals", "forallvalues", False),
    ],
)
def test_operators_are_split(operator: str, test: str, quantifier: str, if_exists: bool) -> None:
    [clause] = clauses_of({operator: {"aws:SourceAccount": OWN}})
    assert (clause.test, clause.quantifier, clause.if_exists) == (test, quantifier, if_exists)


@pytest.mark.parametrize(
    ("condition", "accounts"),
    [
        ({"StringEquals": {"aws:PrincipalAccount": OTHER}}, {OTHER}),
        ({"StringEquals": {"kms:CallerAccount": [OWN, OTHER]}}, {OWN, OTHER}),
        ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{OTHER}:role/*"}}, {OTHER}),
        (
            {
                "StringEquals": {"aws:PrincipalAccount": [OWN, OTHER]},
                "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{OTHER}:role/x"},
            },
            {OTHER},
        ),
        ({"StringEquals": {"aws:SourceAccount": OTHER}}, None),  # a source, not the caller
        ({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, None),
    ],
)
def test_accounts_a_condition_pins(condition: Any, accounts: set[str] | None) -> None:
    pinned = restriction_of(clauses_of(condition)).accounts
    assert (set(pinned) if pinned is not None else None) == accounts


@pytest.mark.parametrize(
    ("value", "account"),
    [
        (OWN, OWN),
        (f"arn:aws:iam::{OWN}:root", OWN),
        (f"arn:aws:sts::{OWN}:assumed-role/r/s", OWN),
        (f"arn:aws-us-gov:iam::{OWN}:role/x", OWN),
        ("arn:aws:s3:::bucket", None),
        ("arn:aws:iam::*:root", None),
        ("12345", None),
        ("*", None),
    ],
)
def test_arn_account(value: str, account: str | None) -> None:
    assert arn_account(value) == account


def document(*statements: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize(
    ("principal", "public"),
    [
        ("*", True),
        ({"AWS": "*"}, True),
        ({"AWS": [f"arn:aws:iam::{OWN}:root", "*"]}, True),
        ({"AWS": "arn:aws:iam::*:root"}, True),
        ({"Service": "logs.amazonaws.com"}, False),
        ({"AWS": f"arn:aws:iam::{OWN}:root"}, False),
    ],
)
def test_public_principals(principal: Any, public: bool) -> None:
    [statement] = parse_document(document({"Effect": "Allow", "Principal": principal}))
    assert statement.public_principal is public


def test_not_principal_in_an_allow_is_everyone_else() -> None:
    raw = {"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{OWN}:root"}, "Action": "*"}
    [statement] = parse_document(document(raw))
    assert statement.public_principal is True
    assert statement.unrestricted_public is True


def test_grantee_accounts() -> None:
    statements = parse_document(
        document(
            {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{OTHER}:root", OWN]}},
            {
                "Effect": "Allow",
                "Principal": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": "999999999999"}},
            },
            {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}},
        )
    )
    assert [s.grantee_accounts for s in statements] == [(OTHER, OWN), ("999999999999",), ()]


@pytest.mark.parametrize(
    "value",
    [
        {"Statement": {"Effect": "Allow", "Action": "s3:GetObject"}},  # one statement object
        {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"]}, "junk", None, 3]},
    ],
)
def test_statement_shapes(value: Any) -> None:
    [statement] = parse_document(value)
    assert statement.actions == ("s3:GetObject",)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "is not valid JSON"),
        (42, "is not a JSON object"),
    ],
)
def test_documents_that_are_not_documents(value: Any, error: str) -> None:
    with pytest.raises(InvalidDocumentError, match=error):
        parse_document(value)


def test_malformed_statements_never_raise() -> None:
    statements = parse_document(
        document(
            {
                "Effect": ["Allow"],
                "Sid": 3,
                "Principal": ["*"],
                "Action": {"s3": "GetObject"},
                "Condition": {"StringEquals": [{"sts:ExternalId": ["a", "b"]}, "x"]},
            }
        )
    )
    assert statements[0].effect == ""
    assert statements[0].restriction.external_ids == ("a", "b")


def test_own_accounts_from_provider_arns_and_key_administrators() -> None:
    key = parse_document(
        document(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OWN}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "kms:Decrypt"},
        )
    )
    assert own_accounts(KMS_KEY, {}, key, None) == {OWN}
    two_admins = [
        *key,
        *parse_document(
            document({"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "kms:*"})
        ),
    ]
    assert own_accounts(KMS_KEY, {}, two_admins, None) == set()
    topic = {"arn": f"arn:aws:sns:eu-west-1:{OWN}:alarms"}
    assert own_accounts(SNS_TOPIC_POLICY, topic, [], None) == {OWN}
    queue = {"queueUrl": f"https://sqs.eu-west-1.amazonaws.com/{OWN}/jobs"}
    assert own_accounts(SQS_QUEUE_POLICY, queue, [], None) == {OWN}
    provider = {
        "allowedAccountIds": json.dumps([OWN]),
        "assumeRoles": [{"roleArn": f"arn:aws:iam::{OTHER}:role/deploy"}],
    }
    assert own_accounts(KMS_KEY, {}, [], provider) == {OWN, OTHER}
