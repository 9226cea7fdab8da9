"""Which stacks a change touches, from git: what a one-tenant pull request needs planned.

Changes are counted from the merge base of the revision and `HEAD` to the working tree,
so a pull request's commits and uncommitted edits both count, and untracked stack files
too. A change to the program's code (`CODE_PATHS`) touches every stack.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from planner.stacks import PROJECT_ROOT, stack_name

CODE_PATHS = ("components/", "planner/", "policies/", "__main__.py", "Pulumi.yaml")
"""Paths, relative to the project root, whose change can change any stack's plan or checks."""

_MAX_REF_LENGTH = 256
_GIT_TIMEOUT_SECONDS = 60


class ChangesError(ValueError):
    """The changes cannot be read: no git, not a repository, or an unknown revision."""


@dataclass(frozen=True)
class StackChanges:
    """What changed since a revision."""

    ref: str
    stacks: tuple[str, ...]
    """Stacks whose file was added or changed (and still exists), sorted."""
    code: tuple[str, ...]
    """Changed code paths (relative to the repository); any means every stack."""

    def summary(self, selected: int) -> str:
        if self.code:
            shown = ", ".join(self.code[:3]) + (", ..." if len(self.code) > 3 else "")
            return f"code changed since {self.ref} ({shown}): checking all {selected} stack(s)"
        if not self.stacks:
            return f"no stack changed since {self.ref}"
        return f"{len(self.stacks)} stack(s) changed since {self.ref}: {', '.join(self.stacks)}"


def _git(directory: Path, *args: str) -> str:
    try:
        completed = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise ChangesError("--changed-since needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise ChangesError(f"git {args[0]} took longer than {_GIT_TIMEOUT_SECONDS} s") from None
    if completed.returncode != 0:
        raise ChangesError(completed.stderr.strip().splitlines()[-1] if completed.stderr else "")
    return completed.stdout


def changed_since(ref: str, stacks_dir: Path, project_root: Path = PROJECT_ROOT) -> StackChanges:
    """The stacks of `stacks_dir` changed since `ref`, and whether code changed."""
    if not ref or ref.startswith("-") or len(ref) > _MAX_REF_LENGTH or "\0" in ref:
        raise ChangesError(
            f"--changed-since {ref!r}: expected a git revision (a branch, tag or commit), "
            f"not starting with '-', at most {_MAX_REF_LENGTH} characters"
        )
    stacks = stacks_dir.resolve()
    try:
        top = Path(_git(stacks, "rev-parse", "--show-toplevel").strip()).resolve()
    except ChangesError as error:
        raise ChangesError(
            f"--changed-since needs the stacks directory {stacks_dir} inside a git "
            f"repository ({error})"
        ) from None
    try:
        _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        base = _git(top, "merge-base", ref, "HEAD").strip()
    except ChangesError:
        raise ChangesError(
            f"--changed-since {ref!r}: not a revision of the repository at {top} (in CI, "
            "fetch it first, e.g. actions/checkout with fetch-depth: 0)"
        ) from None
    changed = [
        *_git(top, "diff", "--name-only", "--no-renames", "-z", base, "--").split("\0"),
        *_git(top, "ls-files", "--others", "--exclude-standard", "-z").split("\0"),
    ]
    code_prefixes = _code_prefixes(top, project_root.resolve())
    found: set[str] = set()
    code: set[str] = set()
    for name in filter(None, changed):
        path = top / name
        if any(name == p or (p.endswith("/") and name.startswith(p)) for p in code_prefixes):
            code.add(name)
        elif path.parent == stacks and _is_stack_file(path) and path.is_file():
            found.add(stack_name(path))
    return StackChanges(ref, tuple(sorted(found)), tuple(sorted(code)))


def _is_stack_file(path: Path) -> bool:
    return path.name.startswith("Pulumi.") and path.name.endswith(".yaml")


def _code_prefixes(top: Path, project_root: Path) -> tuple[str, ...]:
    """`CODE_PATHS` as repository paths; none when the project lies outside the repository."""
    try:
        relative = project_root.relative_to(top).as_posix()
    except ValueError:
        return ()
    prefix = "" if relative == "." else f"{relative}/"
    return tuple(f"{prefix}{p}" for p in CODE_PATHS)
