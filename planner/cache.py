"""A content-addressed cache of plans and check results, shared by every run on a machine.

An entry's name is the SHA-256 of everything that can change it (the stack's spec, the
sources of the program, components and planner, the pinned SDK and provider versions,
and for check results the policy pack's sources and configuration), so an entry is
never stale: a change to any part is a different name, and the old entry is simply not
asked for again. Entries are written to a temporary file and renamed into place, so
processes filling the cache at once never see half an entry; the cache is trimmed to its
size bound, least recently used first.

Entries are compressed JSON, never pickles: CI restores the directory from a cache
store, and loading it must not be able to run code.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from planner.stacks import PROJECT_ROOT

CACHE_FORMAT = "1"
"""Bumped whenever the layout of an entry changes."""

PROGRAM_SOURCES = ("__main__.py", "Pulumi.yaml", "components", "planner")
"""What the program's plan depends on, relative to the project root."""

PINNED_PACKAGES = ("pulumi", "pulumi-aws", "pulumi-random", "pulumi-policy", "pydantic")
"""Installed packages whose version can change a plan or a check result."""

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
MAX_PARSED_SPECS = 50_000
"""Parsed stack specs kept between runs: a few fleets' worth."""


class CacheError(OSError):
    """The cache directory cannot be created or written."""


def digest(*parts: str) -> str:
    """SHA-256 over parts kept apart by a separator no part can forge."""
    hasher = hashlib.sha256()
    for part in parts:
        encoded = part.encode()
        hasher.update(len(encoded).to_bytes(8, "big"))
        hasher.update(encoded)
    return hasher.hexdigest()


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no whitespace, anything else as its string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def source_digest(root: Path, entries: Iterable[str]) -> str:
    """Digest of every file under the named files and directories (bytecode excluded)."""
    hasher = hashlib.sha256()
    for entry in entries:
        path = root / entry
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or not file.is_file():
                continue
            hasher.update(file.relative_to(root).as_posix().encode() + b"\0")
            content = file.read_bytes()
            hasher.update(len(content).to_bytes(8, "big"))
            hasher.update(content)
    return hasher.hexdigest()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collections while a run reads thousands of cached results.

    What it builds (dicts, tuples, frozen dataclasses) holds no cycles, so reference
    counting frees it; the collector would only walk the growing heap again and again (a
    fifth of a warm 10,000-tenant run).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def installed_versions(packages: Iterable[str] = PINNED_PACKAGES) -> dict[str, str]:
    """Installed version of each package (`absent` when it is not installed) and Python's."""
    found = {"python": ".".join(map(str, sys.version_info[:3]))}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found


@dataclass(frozen=True)
class PlanInputs:
    """Everything besides a stack's spec that shapes its plan."""

    program: str
    """Digest of `PROGRAM_SOURCES`."""
    versions: tuple[tuple[str, str], ...]

    @classmethod
    def of_project(
        cls, root: Path = PROJECT_ROOT, versions: Mapping[str, str] | None = None
    ) -> PlanInputs:
        found = installed_versions() if versions is None else versions
        return cls(source_digest(root, PROGRAM_SOURCES), tuple(sorted(found.items())))

    def plan_key(self, stack: str, spec: Any) -> str:
        """The name of one stack's plan: its spec as written, with the program and versions."""
        return digest(
            "plan", CACHE_FORMAT, stack, canonical_json(spec), self.program, str(self.versions)
        )


@dataclass(frozen=True)
class PlanCache:
    """Entries under `root/<2 hex>/<key>`; files private to the user running the gate."""

    root: Path
    max_bytes: int = DEFAULT_MAX_BYTES

    def open(self) -> PlanCache:
        """Create the directory (mode 0700); `CacheError` says why it cannot be."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(f"cannot create plan cache {self.root}: {error.strerror}") from None
        if not os.access(self.root, os.W_OK):
            raise CacheError(f"cannot write to plan cache {self.root}")
        return self

    def _path(self, key: str) -> str:
        # Plain strings: a warm fleet run looks up tens of thousands of entries.
        return os.path.join(self.root, key[:2], key)

    def contains(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def get(self, key: str) -> Any | None:
        """The value stored under `key`, or `None` (missing, unreadable or not this key's)."""
        path = self._path(key)
        try:
            with open(path, "rb") as file:
                raw = file.read()
            entry = json.loads(zlib.decompress(raw))
        except (OSError, zlib.error, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: the trim keeps it
        return entry.get("value")

    def put(self, key: str, value: Any) -> None:
        """Store `value` (JSON-serialisable) under `key`; readers never see a partial entry."""
        directory = Path(self._path(key)).parent
        payload = zlib.compress(json.dumps({"key": key, "value": value}).encode(), 1)
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
        except OSError:
            return  # a full or read-only disk costs a re-plan next time, never the run
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(payload)
            os.replace(temporary, self._path(key))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    def trim(self) -> int:
        """Remove least recently used entries until the cache fits its bound; how many."""
        entries: list[tuple[float, int, Path]] = []
        total = 0
        for shard in self.root.iterdir() if self.root.is_dir() else ():
            if not shard.is_dir():
                continue
            for path in shard.iterdir():
                try:
                    stat = path.stat()
                except OSError:
                    continue  # removed by another process meanwhile
                entries.append((stat.st_mtime, stat.st_size, path))
                total += stat.st_size
        removed = 0
        for _mtime, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
            total -= size
        return removed


@dataclass
class ParsedSpecs(MutableMapping[str, Any]):
    """Stack specs by the SHA-256 of their file's bytes, kept in the cache between runs.

    Reading a fleet's stack files is mostly parsing YAML; a file whose bytes were parsed
    before is not parsed again. One entry holds them all, named after the parser's own
    code and versions, so a change to either starts it afresh. Written back only when a
    run parsed something new, keeping what the run used first.
    """

    cache: PlanCache
    key: str
    known: dict[str, Any]
    used: set[str] = field(default_factory=set)
    added: int = 0

    @classmethod
    def load(cls, cache: PlanCache, inputs: PlanInputs) -> ParsedSpecs:
        parser = str(sorted(installed_versions(("PyYAML",)).items()))
        key = digest("stack-specs", CACHE_FORMAT, inputs.program, str(inputs.versions), parser)
        stored = cache.get(key)
        return cls(cache, key, stored if isinstance(stored, dict) else {})

    def __getitem__(self, name: str) -> Any:
        value = self.known[name]
        self.used.add(name)
        return value

    def __setitem__(self, name: str, value: Any) -> None:
        self.known[name] = value
        self.used.add(name)
        self.added += 1

    def __delitem__(self, name: str) -> None:
        del self.known[name]

    def __contains__(self, name: object) -> bool:
        return name in self.known

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)

    def save(self) -> None:
        if not self.added:
            return
        kept = {name: self.known[name] for name in self.used}
        for name, value in self.known.items():
            if len(kept) >= MAX_PARSED_SPECS:
                break
            kept.setdefault(name, value)
        self.cache.put(self.key, kept)
