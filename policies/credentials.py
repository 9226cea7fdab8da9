"""Literal credentials in text a resource carries (user data, environment variables).

A credential is reported when its *value* is written out: an AWS access key id, a private
key, a password in a URL, or an assignment to a name that ends in a credential word
(`DB_PASSWORD=...`, `"api_key": "..."`, `--client-secret=...`). What only resembles one is
not: names where the word is not last (`X-aws-ec2-metadata-token-ttl-seconds: 21600`,
`SECRET_ARN=...`, `--secret-id ...`), and values that refer to a secret instead of holding
it (`$VAR`, `$(command)`, ARNs, `{{resolve:...}}`, file paths, booleans).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from dataclasses import dataclass

ACCESS_KEY = "an AWS access key id"
SECRET_ACCESS_KEY = "an AWS secret access key"
PRIVATE_KEY = "a private key"
LITERAL = "a literal credential"
URL_PASSWORD = "a password in a URL"

_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_URL_CREDENTIAL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<password>[^/\s@]+)@", re.I)
_ASSIGNMENT = re.compile(
    r"(?:^|(?<=[\s;,{(&|'\"]))(?:export\s+|--?)?(?P<name>[A-Za-z_][\w.-]*)['\"]?\s*[=:]\s*"
    r"(?P<value>\"[^\"]*\"?|'[^']*'?|[^\s;,'\"}]+)"
)
_CREDENTIAL_NAME = re.compile(
    r"(?:password|passwd|passphrase|secret|token|api[_.-]?key|access[_.-]?key|"
    r"private[_.-]?key|credentials?)$",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"^(?:\$|`|\{\{|<|%|!|arn:|ssm:|/|~|-|\*)|resolve:", re.IGNORECASE)
_NOT_SECRETS = frozenset({"true", "false", "yes", "no", "null", "none", "nil", "on", "off"})
MAX_DECODED = 1 << 20


@dataclass(frozen=True)
class Credential:
    """Where a credential is written and what kind it is; never its value."""

    line: int
    what: str


def is_credential_name(name: str) -> bool:
    """Whether a variable or key of this name holds a credential (its last word says so)."""
    return bool(_CREDENTIAL_NAME.search(name.strip()))


def is_literal(value: str) -> bool:
    """Whether a value holds a secret itself rather than referring to one."""
    stripped = value.strip().strip("\"'").strip()
    if len(stripped) < 4 or stripped.lower() in _NOT_SECRETS:
        return False
    return not _REFERENCE.search(stripped)


def _assignments(line: str) -> list[str]:
    found = []
    for match in _ASSIGNMENT.finditer(line):
        name, value = match["name"], match["value"]
        if is_credential_name(name) and is_literal(value):
            lowered = name.lower().replace("-", "_")
            found.append(SECRET_ACCESS_KEY if "secret_access_key" in lowered else LITERAL)
    return found


def credentials_in(text: str) -> list[Credential]:
    """Every line of `text` that writes out a credential, once per kind."""
    found: list[Credential] = []
    for number, line in enumerate(text.splitlines(), start=1):
        kinds: list[str] = []
        if _ACCESS_KEY_ID.search(line):
            kinds.append(ACCESS_KEY)
        if _PRIVATE_KEY.search(line):
            kinds.append(PRIVATE_KEY)
        url = _URL_CREDENTIAL.search(line)
        if url and is_literal(url["password"]):
            kinds.append(URL_PASSWORD)
        kinds.extend(_assignments(line))
        found.extend(Credential(number, what) for what in dict.fromkeys(kinds))
    return found


def credential_value(name: str, value: str) -> str | None:
    """What kind of credential an environment variable holds, if it holds one in clear."""
    if _ACCESS_KEY_ID.search(value):
        return ACCESS_KEY
    if _PRIVATE_KEY.search(value):
        return PRIVATE_KEY
    url = _URL_CREDENTIAL.search(value)
    if url and is_literal(url["password"]):
        return URL_PASSWORD
    if is_credential_name(name) and is_literal(value):
        lowered = name.lower().replace("-", "_")
        return SECRET_ACCESS_KEY if "secret_access_key" in lowered else LITERAL
    return None


def decode_user_data(value: str) -> str:
    """User data as text: base64 (and gzip, as cloud-init accepts) decoded when it is that."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return value
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = zlib.decompressobj(wbits=31).decompress(raw, MAX_DECODED)
        except (zlib.error, gzip.BadGzipFile, EOFError):
            return value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value
