"""Reading and writing key files safely (shared by the master keyring and the worker keypair).

* A private file is created with mode 0600 from the first byte: the content goes to a temporary
  file opened with ``O_CREAT | O_EXCL`` and mode 0o600, is flushed to disk, and is then
  published under its final name with ``os.link`` (which, like ``O_EXCL``, fails if the name
  exists) or ``os.replace`` (to update it). A reader never sees a half-written key file, and two
  processes starting at once cannot both create one.
* A private file is used only if no other user can read or write it (``mode & 0o077 == 0``), a
  public one only if no other user can replace it (``mode & 0o022 == 0``). The mode is checked on
  the opened file descriptor, so the file checked is the file read. On Windows, where the mode
  bits do not describe access, the checks are skipped: protect the data directory with its ACL.
* Updates (rotation) hold an exclusive lock on ``<file>.lock`` so that two concurrent rotations
  cannot lose a key (POSIX ``flock``; no lock on Windows).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from tresor.adapters.crypto.errors import KeyFileCorrupt, KeyFileInsecure, KeyFileMissing

if sys.platform != "win32":
    import fcntl

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
_POSIX = os.name != "nt"


def read_private(path: Path, *, what: str) -> bytes:
    """The content of a private key file.

    Raises:
        KeyFileMissing, KeyFileInsecure (other users may read or write it, or it is not a
        regular file), KeyFileCorrupt (it cannot be opened).
    """
    return _read(
        path,
        what=what,
        forbidden=0o077,
        problem="other users can read or change it",
        remedy=(
            f"Run 'chmod 600 {path}' and check its owner; if other users could read it, "
            "consider rotating the key."
        ),
    )


def read_public(path: Path, *, what: str) -> bytes:
    """The content of a public key file, refused if other users could replace it."""
    return _read(
        path,
        what=what,
        forbidden=0o022,
        problem="other users can replace it",
        remedy=(
            f"Run 'chmod 644 {path}' and check its owner; if it may have been replaced, "
            "generate a new worker keypair."
        ),
    )


def _read(path: Path, *, what: str, forbidden: int, problem: str, remedy: str) -> bytes:
    # O_NONBLOCK: opening a FIFO planted under the name must not hang (no effect on files).
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise KeyFileMissing(f"The {what} {path} does not exist.") from None
    except OSError as e:
        raise KeyFileCorrupt(f"The {what} {path} cannot be opened ({e.strerror}).") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileInsecure(f"The {what} {path} is not a regular file.")
        mode = stat.S_IMODE(st.st_mode)
        if _POSIX and mode & forbidden:
            raise KeyFileInsecure(
                f"The {what} {path} has mode {mode:04o}: {problem}.", remedy=remedy
            )
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def create_exclusive(path: Path, data: bytes, *, mode: int) -> bool:
    """Publish ``data`` as ``path`` unless ``path`` exists; return whether this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _write_temp(path, data, mode=mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return True


def replace(path: Path, data: bytes, *, mode: int) -> None:
    """Atomically replace (or create) ``path`` with ``data``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _write_temp(path, data, mode=mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for updating ``path`` (blocks until it is free).

    Raises:
        KeyFileMissing: the directory of ``path`` does not exist.
    """
    if sys.platform == "win32":
        yield
        return
    lock = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE)
    except FileNotFoundError:
        raise KeyFileMissing(f"The directory {path.parent} does not exist.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_temp(path: Path, data: bytes, *, mode: int) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, mode)
    try:
        if _POSIX:
            os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def _sync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (POSIX; a no-op elsewhere)."""
    if not _POSIX:
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
