"""Atomic outputs, and names and paths that stay inside the working folder.

The bottom of the library (it imports nothing of frontline): every module that writes files
(``io``, ``segment``, ``simulate``, ``download``) writes through :func:`atomic_output`, and
``step`` uses :func:`remove_outputs` to clean up after a failed job. :func:`name_problem` and
:func:`path_problem` say what is wrong with a name that becomes a file or folder name (a
sample, a downloaded file) or a path a rule writes to: no file is ever written outside the
working folder.
"""

from __future__ import annotations

import os
import re
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


MAX_NAME_LENGTH = 100  # characters; results/{sample}/... stays well under file systems' 255
_NAME = re.compile(r"[\w][\w.+-]*")  # letters (any script), digits, _ . + -; no leading . or -
_FILE_NAME = re.compile(r"[\w][\w .+-]*")  # a file name may also hold spaces


def name_problem(name: str, *, spaces: bool = False) -> str | None:
    """What keeps ``name`` from being a file or folder name, or None when it can be one.

    A name holds letters (of any script), digits and ``_ . + -`` (with ``spaces``: also
    spaces), starts with a letter, digit or ``_`` (so never ``.``, ``..``, a hidden name or an
    option), holds no path separator and has at most :data:`MAX_NAME_LENGTH` characters.
    """
    name = str(name)
    if name in (".", ".."):
        return f"'{name}' is the current or the parent folder"
    if "/" in name or "\\" in name:
        return "it holds a path separator"
    if len(name) > MAX_NAME_LENGTH:
        return f"it has {len(name)} characters, more than {MAX_NAME_LENGTH}"
    if not (_FILE_NAME if spaces else _NAME).fullmatch(name):
        bad = sorted({c for c in name if not (c.isalnum() or c in "_.+-" or (spaces and c == " "))})
        if bad:
            return f"it holds the character(s) {bad}"
        return "it starts with '.' or '-'"
    return None


def path_problem(path: str | os.PathLike) -> str | None:
    """What makes ``path`` reach outside the working folder (absolute, or through ``..``), or
    None when it stays inside."""
    text = str(path)
    if not text.strip():
        return "it is empty"
    if os.path.isabs(text) or text.startswith("~") or re.match(r"^[A-Za-z]:", text):
        return "it is absolute (it would be written outside the working folder)"
    if ".." in re.split(r"[\\/]+", text):
        return "it climbs out through '..' (it would be written outside the working folder)"
    return None
