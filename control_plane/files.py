"""Private files of the control plane: the data directory and everything under it.

The data directory holds the registry (SQLite), plans with planned outputs, Pulumi state
and workspaces: directories are created 0700 and files written 0600 whatever the umask,
because a process's umask (000 in some containers) must not make them readable to others.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents, each 0700; existing directories are left as is."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process created it first
        # mkdir's mode is filtered by the umask only to remove bits; chmod makes it exact.
        directory.chmod(PRIVATE_DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (before a library opens it)."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(descriptor)


def write_private(path: Path, content: str | bytes) -> Path:
    """Replace `path` atomically with `content`, mode 0600 (a reader never sees half a file)."""
    private_dir(path.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
