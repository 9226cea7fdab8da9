"""IAM policy documents as policies see them: statements, principals, and what conditions restrict.

Documents arrive as JSON strings (or mappings) of statements, in any shape a person can write:
strings or lists, `Statement` as one object or a list, condition operators with `IfExists`
and `ForAnyValue:`/`ForAllValues:`, an operator block given as a list of objects. Nothing here
raises on a malformed shape except `InvalidDocumentError` for a document that is not JSON.

A condition *restricts* a statement only if it pins who may use it (principal ARN, account,
organization, user id, the subject of a web identity), where the request comes from (source
account, ARN, organization, VPC, VPC endpoint, an IP range that is not the internet) or
requires an external id, with a positive operator and concrete values. `aws:SecureTransport`,
negated operators, `IfExists` tests (true when the key is absent), `ForAllValues:` (true when
the key is absent), empty values and wildcards restrict nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from policies.networks import is_internet, parse_network
from policies.props import known, lenient, mapping, objects, plain, resolved, strings, text

ROLE = "aws:iam/role:Role"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SQS_QUEUE = "aws:sqs/queue:Queue"
SQS_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
LOG_RESOURCE_POLICY = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"

PERMISSION_DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    ROLE,
)
"""Resources carrying identity-based permission documents."""

RESOURCE_DOCUMENTS: dict[str, tuple[str, str]] = {
    BUCKET_POLICY: ("policy", "bucket policy"),
    KMS_KEY: ("policy", "key policy"),
    KMS_KEY_POLICY: ("policy", "key policy"),
    SNS_TOPIC: ("policy", "topic policy"),
    SNS_TOPIC_POLICY: ("policy", "topic policy"),
    SQS_QUEUE: ("policy", "queue policy"),
    SQS_QUEUE_POLICY: ("policy", "queue policy"),
    SECRET: ("policy", "secret policy"),
    SECRET_POLICY: ("policy", "secret policy"),
    ROLE: ("assumeRolePolicy", "trust policy"),
    LOG_RESOURCE_POLICY: ("policyDocument", "log resource policy"),
}
"""Resource-based documents (who may use the resource): type -> (prop, what it is called)."""

ACCOUNT_ID = re.compile(r"^\d{12}$")
_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>[^:]*):[^:]*:(?P<account>[^:]*):(?P<rest>.*)$"
)
_QUEUE_URL = re.compile(r"^https://[^/]+/(\d{12})/")


class InvalidDocumentError(ValueError):
    """The document is not a JSON object with statements."""


# Condition keys by what they pin. Keys are case-insensitive in IAM; these are lowercased.
_PRINCIPAL_ACCOUNT_KEYS = frozenset({"aws:principalaccount", "kms:calleraccount"})
_SOURCE_ACCOUNT_KEYS = frozenset({"aws:sourceaccount", "aws:sourceowner"})
_PRINCIPAL_ARN_KEYS = frozenset({"aws:principalarn"})
_SOURCE_ARN_KEYS = frozenset({"aws:sourcearn"})
_ORG_ID_KEYS = frozenset({"aws:principalorgid", "aws:sourceorgid"})
_ORG_PATH_KEYS = frozenset({"aws:principalorgpaths", "aws:sourceorgpaths"})
_USER_KEYS = frozenset({"aws:userid", "aws:username"})
_VPC_KEYS = frozenset({"aws:sourcevpc"})
_VPCE_KEYS = frozenset({"aws:sourcevpce"})
_IP_KEYS = frozenset({"aws:sourceip"})
EXTERNAL_ID_KEY = "sts:externalid"
_SUBJECT_SUFFIX = ":sub"
"""`token.actions.githubusercontent.com:sub`, `oidc.eks...:sub`: who a web identity is."""

_STRING_TESTS = frozenset({"stringequals", "stringequalsignorecase", "stringlike"})
_ARN_TESTS = frozenset({"arnequals", "arnlike", *_STRING_TESTS})
_IP_TESTS = frozenset({"ipaddress"})
_QUANTIFIERS = ("foranyvalue", "forallvalues")


@dataclass(frozen=True)
class Clause:
    """One condition test: `operator` applied to `key` with `values` (any one may match)."""

    operator: str
    """As written, e.g. `ForAnyValue:StringLikeIfExists`."""
    test: str
    """The base test, lowercased: `stringequals`, `ipaddress`, `bool`..."""
    quantifier: str
    """`foranyvalue`, `forallvalues` or empty."""
    if_exists: bool
    key: str
    """The condition key, lowercased."""
    written_key: str
    values: tuple[str, ...]

    @property
    def positive(self) -> bool:
        """A test that fails when the key is absent (neither `IfExists` nor `ForAllValues:`)."""
        return not self.if_exists and self.quantifier != "forallvalues"

    def restricts(self) -> bool:
        """Whether this test narrows who may use the statement, or from where."""
        if not self.positive or not self.values:
            return False
        if any(not v.strip() for v in self.values):
            return False
        check = _RESTRICTING.get(self.key)
        if check is not None:
            tests, valid = check
            return self.test in tests and all(valid(self, v.strip()) for v in self.values)
        if self.key.endswith(_SUBJECT_SUFFIX):
            return self.test in _STRING_TESTS and all(_subject(v.strip()) for v in self.values)
        if self.key in _IP_KEYS:
            networks = [parse_network(v) for v in self.values]
            if self.test not in _IP_TESTS or any(n is None for n in networks):
                return False
            return not is_internet(n for n in networks if n is not None)
        return False

    def accounts(self) -> frozenset[str] | None:
        """The accounts a restricting principal test pins the caller to, if it pins accounts."""
        return self._pinned(_PRINCIPAL_ACCOUNT_KEYS, _PRINCIPAL_ARN_KEYS)

    def source_accounts(self) -> frozenset[str] | None:
        """The accounts a restricting source test pins the calling service's resource to."""
        return self._pinned(_SOURCE_ACCOUNT_KEYS, _SOURCE_ARN_KEYS)

    def _pinned(
        self, account_keys: frozenset[str], arn_keys: frozenset[str]
    ) -> frozenset[str] | None:
        if not self.restricts():
            return None
        if self.key in account_keys:
            return frozenset(v.strip() for v in self.values)
        if self.key in arn_keys:
            found = {arn_account(v.strip()) for v in self.values}
            return None if None in found else frozenset(a for a in found if a)
        return None


def _concrete(value: str) -> bool:
    return not value.startswith(("*", "?"))


def _account(clause: Clause, value: str) -> bool:
    return bool(ACCOUNT_ID.match(value))


def _arn(clause: Clause, value: str) -> bool:
    match = _ARN.match(value)
    if match is None:
        return False
    service, account, rest = match["service"], match["account"], match["rest"]
    if not service or "*" in service or "?" in service:
        return False
    if ACCOUNT_ID.match(account):
        return True
    # Bucket ARNs carry no account, and bucket names are global.
    return service == "s3" and not account and bool(rest) and _concrete(rest)


def _org_id(clause: Clause, value: str) -> bool:
    return bool(re.fullmatch(r"o-[a-z0-9]{10,32}", value))


def _org_path(clause: Clause, value: str) -> bool:
    return bool(re.match(r"^o-[a-z0-9]{10,32}/", value))


def _vpc(clause: Clause, value: str) -> bool:
    return bool(re.fullmatch(r"vpc-[0-9a-f]{8,17}", value))


def _vpce(clause: Clause, value: str) -> bool:
    return bool(re.fullmatch(r"vpce-[0-9a-f]{8,17}", value))


def _user(clause: Clause, value: str) -> bool:
    return _concrete(value)


def _subject(value: str) -> bool:
    """A web identity subject that names someone: `repo:org/...`, not `repo:*` or `*`."""
    prefix = re.split(r"[*?]", value, maxsplit=1)[0]
    if prefix == value:
        return bool(value)
    if prefix.startswith("repo:"):
        return "/" in prefix  # at least the GitHub organization is named
    if prefix.startswith("system:serviceaccount:"):
        return prefix.count(":") >= 3  # at least the Kubernetes namespace is named
    return len(prefix) >= 8


def _external_id(clause: Clause, value: str) -> bool:
    return clause.test != "stringlike" or bool(value.strip("*?"))


_Check = tuple[frozenset[str], Any]
_RESTRICTING: dict[str, _Check] = {
    **dict.fromkeys(_PRINCIPAL_ACCOUNT_KEYS | _SOURCE_ACCOUNT_KEYS, (_STRING_TESTS, _account)),
    **dict.fromkeys(_PRINCIPAL_ARN_KEYS | _SOURCE_ARN_KEYS, (_ARN_TESTS, _arn)),
    **dict.fromkeys(_ORG_ID_KEYS, (_STRING_TESTS, _org_id)),
    **dict.fromkeys(_ORG_PATH_KEYS, (_STRING_TESTS, _org_path)),
    **dict.fromkeys(_USER_KEYS, (_STRING_TESTS, _user)),
    **dict.fromkeys(_VPC_KEYS, (_STRING_TESTS, _vpc)),
    **dict.fromkeys(_VPCE_KEYS, (_STRING_TESTS, _vpce)),
    EXTERNAL_ID_KEY: (_STRING_TESTS, _external_id),
}


def _split_operator(operator: str) -> tuple[str, str, bool]:
    """`ForAnyValue:StringLikeIfExists` -> (`stringlike`, `foranyvalue`, True)."""
    quantifier, _, base = operator.strip().rpartition(":")
    quantifier = quantifier.lower() if quantifier.lower() in _QUANTIFIERS else ""
    test = base.lower()
    if_exists = test.endswith("ifexists")
    return test.removesuffix("ifexists"), quantifier, if_exists


def clauses_of(condition: Any) -> list[Clause]:
    """Every test of a `Condition` block, whatever its shape; malformed parts are skipped."""
    found: list[Clause] = []
    for operator, block in mapping(condition).items():
        if not isinstance(operator, str):
            continue
        test, quantifier, if_exists = _split_operator(operator)
        for entries in objects(block):  # an operator block written as a list of objects
            for key, value in entries.items():
                if not isinstance(key, str):
                    continue
                found.append(
                    Clause(
                        operator=operator,
                        test=test,
                        quantifier=quantifier,
                        if_exists=if_exists,
                        key=key.strip().lower(),
                        written_key=key,
                        values=tuple(strings(value)),
                    )
                )
    return found


@dataclass(frozen=True)
class Restriction:
    """What a statement's conditions, all of which must hold, narrow it to."""

    keys: tuple[str, ...]
    """The restricting condition keys, as written."""
    accounts: frozenset[str] | None
    """Accounts the caller is pinned to, when a condition pins accounts."""
    sources: frozenset[str] | None
    """Accounts whose resources a calling service must act for, when a condition pins them."""
    external_ids: tuple[str, ...]
    """Values of a restricting `sts:ExternalId` test."""
    ignored: tuple[str, ...]
    """Condition keys that restrict nothing."""

    @property
    def restricts(self) -> bool:
        return bool(self.keys)


def restriction_of(clauses: Iterable[Clause]) -> Restriction:
    keys: list[str] = []
    ignored: list[str] = []
    accounts: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    external_ids: list[str] = []
    for clause in clauses:
        if not clause.restricts():
            ignored.append(clause.written_key)
            continue
        keys.append(clause.written_key)
        pinned = clause.accounts()
        if pinned is not None:
            accounts = pinned if accounts is None else accounts & pinned
        source = clause.source_accounts()
        if source is not None:
            sources = source if sources is None else sources & source
        if clause.key == EXTERNAL_ID_KEY:
            external_ids.extend(v.strip() for v in clause.values)
    return Restriction(
        keys=tuple(dict.fromkeys(keys)),
        accounts=accounts,
        sources=sources,
        external_ids=tuple(external_ids),
        ignored=tuple(dict.fromkeys(ignored)),
    )


def arn_account(value: str) -> str | None:
    """The account of an account id, an IAM/STS principal ARN or any other ARN, if it names one."""
    if ACCOUNT_ID.match(value):
        return value
    match = _ARN.match(value)
    if match is None or not ACCOUNT_ID.match(match["account"]):
        return None
    return match["account"]


@dataclass(frozen=True)
class Statement:
    """One normalized statement; list-or-string fields are always tuples."""

    sid: str
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Principal kind (`AWS`, `Service`, `Federated`, `*`) to its values."""
    not_principal: bool = False
    """The statement names its principals with `NotPrincipal`: everyone else."""
    clauses: tuple[Clause, ...] = ()

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    @property
    def name(self) -> str:
        return f"statement {self.sid!r}" if self.sid else "a statement"

    def grants(self, action: str) -> bool:
        """Whether this statement's actions cover `action` (IAM wildcards, any case)."""
        if self.not_actions:
            return not any(_matches(p, action) for p in self.not_actions)
        return any(_matches(p, action) for p in self.actions)

    @property
    def public_principal(self) -> bool:
        """Anyone: `"*"`, `{"AWS": "*"}`, a wildcard account, or an Allow with NotPrincipal."""
        if self.not_principal:
            return self.allows
        return any("*" in v for values in self.principals.values() for v in values)

    @property
    def principal_accounts(self) -> tuple[str, ...]:
        """Accounts named as principals (account ids, IAM and STS ARNs)."""
        found = (arn_account(v) for v in self.principals.get("AWS", ()))
        return tuple(dict.fromkeys(a for a in found if a))

    @cached_property
    def restriction(self) -> Restriction:
        return restriction_of(self.clauses)

    @property
    def unrestricted_public(self) -> bool:
        """An Allow open to everyone that no condition narrows."""
        return self.allows and self.public_principal and not self.restriction.restricts

    @property
    def grantee_accounts(self) -> tuple[str, ...]:
        """Accounts an Allow grants: named principals, or the accounts a condition pins `*` to."""
        if not self.allows:
            return ()
        named = self.principal_accounts
        pinned = self.restriction.accounts
        if self.public_principal and pinned is not None:
            return tuple(dict.fromkeys((*named, *sorted(pinned))))
        return named

    @property
    def open_web_identity(self) -> str | None:
        """The OIDC provider of an Allow that any of its identities may use (no subject pinned)."""
        if not self.allows:
            return None
        providers = [p for p in self.principals.get("Federated", ()) if _is_oidc(p)]
        if not providers:
            return None
        pinned = any(c.key.endswith(_SUBJECT_SUFFIX) and c.restricts() for c in self.clauses)
        return None if pinned else providers[0]

    def why_unrestricted(self, where: str = "") -> str:
        """How a finding about an unrestricted statement ends; `where` names its document."""
        ignored = self.restriction.ignored
        if not ignored:
            return f"without a condition in {self.name}{where}"
        return (
            f"in {self.name}{where}; its condition on {', '.join(ignored)} restricts neither "
            "the principal nor the source"
        )


def _is_oidc(principal: str) -> bool:
    """An OpenID Connect provider (GitHub, EKS, GitLab...), as opposed to a SAML one."""
    return ":oidc-provider/" in principal or (
        ":saml-provider/" not in principal and "." in principal
    )


def _matches(pattern: str, action: str) -> bool:
    return fnmatchcase(action.lower(), pattern.lower())


def parse_document(value: Any) -> list[Statement]:
    """Statements of a document given as a JSON string or a mapping."""
    value = resolved(value)
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except (json.JSONDecodeError, RecursionError) as error:
            reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deep"
            raise InvalidDocumentError(f"is not valid JSON ({reason})") from None
    else:
        document = plain(value)
    if not isinstance(document, dict):
        raise InvalidDocumentError("is not a JSON object")
    return [_statement(s) for s in objects(document.get("Statement", []))]


def _principals(raw: Any) -> dict[str, tuple[str, ...]]:
    if isinstance(raw, str):
        return {"*": ("*",)} if raw.strip() == "*" else {"AWS": (raw,)}
    return {str(kind): tuple(strings(values)) for kind, values in mapping(raw).items()}


def _statement(raw: Mapping[str, Any]) -> Statement:
    not_principal = raw.get("NotPrincipal") is not None
    return Statement(
        sid=text(raw.get("Sid")),
        effect=text(raw.get("Effect")),
        actions=tuple(strings(raw.get("Action"))),
        not_actions=tuple(strings(raw.get("NotAction"))),
        resources=tuple(strings(raw.get("Resource"))),
        not_resources=tuple(strings(raw.get("NotResource"))),
        principals=_principals(raw.get("NotPrincipal" if not_principal else "Principal")),
        not_principal=not_principal,
        clauses=tuple(clauses_of(raw.get("Condition"))),
    )


def documents_of(resource_type: str, props: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """(where, document) for every identity-based permission document a resource carries."""
    if resource_type in PERMISSION_DOCUMENT_TYPES and resource_type != ROLE:
        document = props.get("policy")
        if document:
            yield "policy", document
    if resource_type == ROLE:
        for entry in objects(props.get("inlinePolicies")):
            document = entry.get("policy")
            if document:
                yield f"inline policy {text(entry.get('name'))!r}", document


def resource_document(resource_type: str, props: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(what it is called, document) of the resource-based document a resource carries."""
    entry = RESOURCE_DOCUMENTS.get(resource_type)
    if entry is None:
        return None
    key, what = entry
    document = props.get(key)
    return (what, document) if document else None


_IDENTIFIER_KEYS = {
    KMS_KEY_POLICY: "keyId",
    SNS_TOPIC_POLICY: "arn",
    SECRET_POLICY: "secretArn",
    "aws:lambda/permission:Permission": "function",
    "aws:kms/grant:Grant": "keyId",
}
_OWN_ARN_SERVICES = frozenset({"sqs", "sns", "kms", "secretsmanager", "lambda", "logs"})


def own_accounts(
    resource_type: str,
    props: Mapping[str, Any],
    statements: Iterable[Statement],
    provider: Mapping[str, Any] | None,
) -> frozenset[str]:
    """The accounts a resource provably lives in, from what its props and provider say.

    The provider's `allowedAccountIds` and assumed roles; the resource's own ARN or queue URL;
    the ARNs a resource policy names as its `Resource` (they can only be the resource itself);
    for a key policy, the one account allowed to change it (the lockout safety check makes the
    key's creator, in its own account, keep that right).
    """
    found: set[str] = set(_provider_accounts(provider))
    identifier = known(props, _IDENTIFIER_KEYS.get(resource_type, ""))
    if isinstance(identifier, str) and (account := arn_account(identifier)):
        found.add(account)
    queue_url = known(props, "queueUrl") if resource_type == SQS_QUEUE_POLICY else None
    if isinstance(queue_url, str) and (match := _QUEUE_URL.match(queue_url)):
        found.add(match.group(1))
    listed = list(statements)
    for statement in listed:
        for arn in statement.resources:
            match = _ARN.match(arn)
            if (
                match
                and match["service"] in _OWN_ARN_SERVICES
                and ACCOUNT_ID.match(match["account"])
            ):
                found.add(match["account"])
    if resource_type in (KMS_KEY, KMS_KEY_POLICY):
        administrators = {
            account
            for s in listed
            if s.allows and not s.restriction.restricts and s.grants("kms:PutKeyPolicy")
            for account in s.principal_accounts
        }
        if len(administrators) == 1:
            found |= administrators
    return frozenset(found)


def _provider_accounts(provider: Mapping[str, Any] | None) -> set[str]:
    if provider is None:
        return set()
    view = lenient(provider)
    found: set[str] = set()
    # Evidence is optional: an input unknown during preview is simply no evidence.
    with suppress(UnknownValueError):
        allowed = strings(_decoded(view.get("allowedAccountIds")))
        found.update(a for a in allowed if ACCOUNT_ID.match(a))
    with suppress(UnknownValueError):
        for role in objects(_decoded(view.get("assumeRoles"))):
            arn = known(role, "roleArn")
            if isinstance(arn, str) and (account := arn_account(arn)):
                found.add(account)
    return found


def _decoded(value: Any) -> Any:
    """Provider inputs may arrive JSON-encoded, depending on the SDK that registered them."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def public_grants(statements: Iterable[Statement], where: str = "") -> list[str]:
    """Findings for the Allow statements open to everyone that no condition narrows."""
    return [
        f"allows {', '.join(s.actions) or 'actions'} to everyone ('*') {s.why_unrestricted(where)}"
        for s in statements
        if s.unrestricted_public
    ]


def public_document_findings(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Findings about a resource policy that lets everyone in, or that is not a document."""
    found = resource_document(resource_type, props)
    if found is None:
        return []
    what, document = found
    try:
        statements = parse_document(document)
    except InvalidDocumentError as error:
        return [f"has a {what} that {error}"]
    return public_grants(statements, f" of its {what}")
