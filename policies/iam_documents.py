"""IAM policy documents as policies see them: JSON strings (or mappings) of statements."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from policies.props import items, mapping, plain, strings


class InvalidDocumentError(ValueError):
    """The document is not a JSON object with statements."""


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
    conditions: dict[str, Any] = field(default_factory=dict)

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
        """Anyone: `"*"` or `{"AWS": "*"}`."""
        return any("*" in values for values in self.principals.values())


def _matches(pattern: str, action: str) -> bool:
    return fnmatchcase(action.lower(), pattern.lower())


def parse_document(value: Any) -> list[Statement]:
    """Statements of a document given as a JSON string or a mapping."""
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except json.JSONDecodeError as error:
            raise InvalidDocumentError(f"is not valid JSON ({error.msg})") from None
    else:
        document = plain(value)
    if not isinstance(document, dict):
        raise InvalidDocumentError("is not a JSON object")
    raw = document.get("Statement", [])
    if isinstance(raw, dict):
        raw = [raw]
    return [_statement(mapping(s)) for s in items(raw)]


def _statement(raw: Mapping[str, Any]) -> Statement:
    principal = raw.get("Principal")
    principals: dict[str, tuple[str, ...]] = {}
    if principal == "*":
        principals["*"] = ("*",)
    else:
        for kind, values in mapping(principal).items():
            principals[str(kind)] = tuple(strings(values))
    return Statement(
        sid=str(raw.get("Sid", "")),
        effect=str(raw.get("Effect", "")),
        actions=tuple(strings(raw.get("Action"))),
        not_actions=tuple(strings(raw.get("NotAction"))),
        resources=tuple(strings(raw.get("Resource"))),
        not_resources=tuple(strings(raw.get("NotResource"))),
        principals=principals,
        conditions=dict(mapping(raw.get("Condition"))),
    )


def documents_of(resource_type: str, props: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """(where, document) for every permission document a resource carries."""
    if resource_type in (
        "aws:iam/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    ) and props.get("policy"):
        yield "policy", props["policy"]
    if resource_type == "aws:iam/role:Role":
        for inline in items(props.get("inlinePolicies")):
            entry = mapping(inline)
            if entry.get("policy"):
                yield f"inline policy {entry.get('name', '')!r}", entry["policy"]


PERMISSION_DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/role:Role",
)
