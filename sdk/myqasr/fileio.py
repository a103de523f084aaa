"""Writing outputs: complete files or none, with the user's umask, and one-line errors.

Every file a myqasr tool writes goes through `write_atomic`: the bytes land in a temp file next to the target and
are renamed into place, so a failure (or Ctrl-C) never leaves a partial file and an existing file is replaced only
by a complete new one. `write_atomic_group` does the same for files that belong together (a .pte and its
vocabulary, a scheme and its scales): all are replaced, or none.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Union

from .errors import MyqasrError

Content = Union[bytes, Callable]          # the bytes, or `write(file)` for content streamed into the open file


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_temp(path: Path, content: Content) -> str:
    """The content in a temp file next to `path` (same file system, so the rename is atomic); its name."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise MyqasrError(f"{path}: cannot write output ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            content(f) if callable(content) else f.write(content)
        os.chmod(tmp, 0o666 & ~_umask())      # mkstemp makes 0600; an output keeps the user's umask
    except BaseException as e:
        _unlink(tmp)
        if isinstance(e, OSError):
            raise MyqasrError(f"{path}: cannot write output ({e.strerror or e})") from None
        raise
    return tmp


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomic(path: str | os.PathLike, content: Content) -> Path:
    """Write `content` to `path` completely, or leave `path` as it was."""
    return write_atomic_group({path: content})[0]


def write_atomic_group(files: dict) -> list[Path]:
    """Write several files ({path: content}) as one: every temp file is complete before the first rename, and if a
    rename fails the files already renamed are put back as they were (or removed if they were new)."""
    paths = [Path(p) for p in files]
    temps: list[str] = []
    try:
        for path, content in zip(paths, files.values()):
            temps.append(_write_temp(path, content))
    except BaseException:
        for t in temps:
            _unlink(t)
        raise
    replace_group(list(zip(temps, paths)))
    return paths


def replace_group(moves: list[tuple]) -> None:
    """Rename each (source, target) pair, sources and targets in one directory, as one step: if a rename fails,
    the targets already replaced get their old files back (or are removed if they were new), and the sources that
    were not yet moved are deleted."""
    backups: list[tuple[Path, str | None]] = []
    current = Path(moves[0][1]) if moves else None
    try:
        for src, dst in moves:
            current, backup = Path(dst), None
            if current.exists():
                backup = tempfile.mktemp(prefix=f".{current.name}.", suffix=".bak", dir=current.parent)
                os.link(current, backup)       # a second name for the old file, so it can be restored
            backups.append((current, backup))
            os.replace(src, current)
    except BaseException as e:
        for path, backup in backups:
            if not backup:
                _unlink(path)
            elif path.exists() and os.path.samefile(backup, path):
                _unlink(backup)                # never replaced (rename() between two links of one file is a no-op)
            else:
                os.replace(backup, path)
        for src, _ in moves:
            _unlink(src)
        if isinstance(e, OSError):
            raise MyqasrError(f"{current}: cannot write output ({e.strerror or e})") from None
        raise
    for _, backup in backups:
        if backup:
            _unlink(backup)


def check_output_path(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """Fail fast (before minutes of work) if `path` cannot be written: wrong suffix, no directory, not writable."""
    out = Path(path)
    if suffix and not out.name.endswith(suffix):
        raise MyqasrError(f"{out}: output must be a {suffix} file")
    if not out.parent.is_dir():
        raise MyqasrError(f"{out}: output directory {out.parent} does not exist")
    if out.is_dir():
        raise MyqasrError(f"{out}: is a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=out.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise MyqasrError(f"{out}: cannot write to {out.parent} ({e.strerror or e})") from None
    return out
