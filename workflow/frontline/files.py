"""Atomic outputs: a file appears complete or not at all; outputs removed after a failure.

The bottom of the library (it imports nothing of frontline): every module that writes files
(``io``, ``segment``, ``simulate``, ``download``) writes through :func:`atomic_output`, and
``step`` uses :func:`remove_outputs` to clean up after a failed job.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: str | os.PathLike) -> Path:
    """The hidden ``.<name>.partial`` beside ``path`` that a write goes to first."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


def remove(path: str | os.PathLike) -> None:
    """Remove a file, link or folder if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove_outputs(paths: Iterable[str | os.PathLike]) -> None:
    """Remove each output and its partial file (after a failed job: no half-written output)."""
    for path in list(paths):
        remove(path)
        remove(partial_path(path))


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    A reader never sees a half-written file, and a killed job leaves only the hidden
    ``.<name>.partial`` that the next run overwrites.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    remove(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        remove(tmp)
