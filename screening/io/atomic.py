"""Write files so a reader never sees half of one: temp file in the same folder, then rename.

Files are created with mode ``0o666`` minus the user's umask, like any other file
the user writes (``tempfile.mkstemp`` would make them owner-only), so colleagues
can read a run folder. A write that fails for a reason of the machine (disk full,
no permission, a file where a folder should be) raises :class:`WriteError`, whose
message names the path and what to do.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

# errno -> what the user can do about it.
_ADVICE = {
    errno.ENOSPC: "the disk is full: free space (or choose another --out) and rerun; finished fields are kept",
    errno.EDQUOT: "the disk quota is exceeded: free space (or choose another --out) and rerun; finished fields are kept",
    errno.EACCES: "no permission to write there: fix the folder's permissions or choose another --out",
    errno.EPERM: "no permission to write there: fix the folder's permissions or choose another --out",
    errno.EROFS: "the file system is read-only: choose another --out",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another --out",
    errno.EEXIST: "a file is in the way of a folder: choose another --out",
    errno.EISDIR: "a folder is in the way of a file: move it away or choose another --out",
}


class WriteError(OSError):
    """A file or folder that could not be written; the message names it and what to do."""


def _errno(exc: BaseException) -> int | None:
    # pyarrow's IO errors carry no errno; their text does ("No space left on device").
    if getattr(exc, "errno", None):
        return exc.errno
    text = str(exc)
    return next((code for code in _ADVICE if os.strerror(code) in text), None)


def write_error(path: str | Path, exc: BaseException) -> WriteError:
    """A :class:`WriteError` for ``exc`` raised while writing ``path``: path, cause and advice."""
    if isinstance(exc, WriteError):
        return exc
    code = _errno(exc)
    cause = os.strerror(code) if code else f"{type(exc).__name__}: {exc}"
    advice = _ADVICE.get(code, "check the disk and the folder's permissions, or choose another --out")
    error = WriteError(code or errno.EIO, f"cannot write {path} ({cause}); {advice}")
    error.filename = str(path)
    return error


def check_writable_dir(path: str | Path) -> None:
    """Raise :class:`WriteError` unless ``path`` is, or can be made as, a writable folder.

    Checks the nearest existing folder on the way (a file in the way, no write
    permission) without creating anything, so a run can refuse before it starts.
    """
    path = Path(path).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise write_error(path, OSError(errno.ENOTDIR if existing != path else errno.EEXIST, ""))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise write_error(path, OSError(errno.EACCES, ""))


def make_dirs(path: str | Path) -> Path:
    """``mkdir -p`` that raises :class:`WriteError` naming the folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise write_error(path, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


@contextmanager
def atomic_path(target: str | Path):
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The rename is atomic on POSIX file systems, so an interrupted writer leaves
    either the old file or the new one, never a partial one. The file is created
    with ``0o666`` minus the umask (the kernel applies it), as ``open`` would.

    Raises
    ------
    WriteError
        When the folder cannot be made or the file cannot be written or renamed.
    """
    target = Path(target)
    make_dirs(target.parent)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        raise write_error(target, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(target: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        write(tmp)
    return Path(target)


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    return write_atomic(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
