# Copyright 2026 The pixel_anomaly_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Files replaced whole or not at all, with the permissions of any file the user creates.

A writer prepares the complete new content in a hidden temporary file next to the target
(``.<name>.<random>.tmp``), flushes it to disk and renames it over the target: a reader, or a
crash at any moment, sees the old file or the new one, never a mix. New files and directories
get the mode ``open()`` and ``mkdir`` would give them (0666 / 0777 minus the umask); a replaced
file keeps its mode. :func:`sha256_file` names a file's content in records and bundles.
"""

import hashlib
import os
from pathlib import Path
import stat
import tempfile
from typing import Callable, Iterable, Sequence, Tuple

TEMPORARY_SUFFIX = '.tmp'


def umask() -> int:
    """Return the process umask without changing it (read from /proc where possible)."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('Umask:'):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # not thread-safe, hence only the fallback
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """
    Return the mode a new file (or directory) gets from ``open()`` (``mkdir``).

    :param directory: the mode of a directory instead of a file.
    :return: ``0o666`` (``0o777``) without the umask bits.
    """
    return (0o777 if directory else 0o666) & ~umask()


def prepare_file(path, write: Callable[[Path], None]) -> Path:
    """
    Write the complete new content of ``path`` into a temporary file next to it.

    :param path: the file that :func:`commit_file` will replace.
    :param write: called with the temporary path; writes the whole content.
    :return: the temporary file, flushed to disk, with the target's mode (or the default one).
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f'.{path.name}.', suffix=TEMPORARY_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else default_mode()
        os.chmod(tmp, mode)
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit_file(tmp: Path, path) -> None:
    """
    Rename a prepared temporary file over its target (atomic) and flush the directory.

    :param tmp: the file returned by :func:`prepare_file`.
    :param path: the target.
    """
    os.replace(tmp, path)
    sync_directory(Path(path).parent)


def replace_file(path, write: Callable[[Path], None]) -> None:
    """
    Replace (or create) one file atomically: :func:`prepare_file`, then :func:`commit_file`.

    :param path: the file.
    :param write: called with a temporary path; writes the whole content.
    """
    commit_file(prepare_file(path, write), path)


def replace_files(writes: Sequence[Tuple[Path, Callable[[Path], None]]]) -> None:
    """
    Prepare several files in order, then rename each over its target in the same order.

    An error (or a crash) while preparing leaves every target as it was.

    :param writes: ``(path, write)`` pairs, as for :func:`replace_file`.
    """
    prepared = []
    try:
        for path, write in writes:
            prepared.append((prepare_file(path, write), path))
    except BaseException:
        for tmp, _ in prepared:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in prepared:
        commit_file(tmp, path)


def replace_text(path, text: str) -> None:
    """
    Replace (or create) a text file atomically.

    :param path: the file.
    :param text: its new content.
    """
    replace_file(path, lambda tmp: tmp.write_text(text))


def sync_directory(directory) -> None:
    """
    Flush a directory's entries (renames) to disk; a no-op where directories cannot be opened.

    :param directory: the directory.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_leftovers(directory, names: Iterable[str]) -> None:
    """
    Delete temporary files that a killed writer of ``names`` left in ``directory``.

    Only names this module makes (``.<name>.<random>.tmp``) are touched.

    :param directory: the directory.
    :param names: target file names, e.g. ``('bundle.yaml',)``.
    """
    for name in names:
        for leftover in Path(directory).glob(f'.{name}.*{TEMPORARY_SUFFIX}'):
            leftover.unlink(missing_ok=True)


def sha256_file(path) -> str:
    """
    Return the hex SHA-256 of a file, read in 1 MiB chunks.

    :param path: file to hash.
    :return: hex digest.
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()
