"""Run one workflow step: logging to the rule's log, clear errors, no partial outputs.

Every script under ``workflow/scripts/`` is three lines around :func:`run`, so a bad input
becomes one readable paragraph and a non-zero exit, and no half-written output survives.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FrontlineInputError

if TYPE_CHECKING:
    from .io import ImageReader

log = logging.getLogger("frontline")


def _remove(path):
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def run(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Call ``main(snakemake)`` with logging set up; on failure remove outputs and exit 1.

    Parameters
    ----------
    snakemake : the object Snakemake gives a ``script:``
    main : callable taking that object
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        handlers=handlers,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        main(snakemake)
    except FrontlineInputError as err:
        _cleanup(snakemake.output)
        log.error("%s", err.message())
        sys.exit(1)
    except Exception:  # an unexpected failure: keep the traceback in the log
        _cleanup(snakemake.output)
        log.error(
            "unexpected error in rule %s:\n%s",
            getattr(snakemake, "rule", "?"),
            traceback.format_exc(),
        )
        sys.exit(1)


def _cleanup(outputs):
    for out in list(outputs):
        _remove(out)
        _remove(_tmp_name(Path(out)))


def _tmp_name(path):
    return path.with_name(f".{path.name}.partial")


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    A reader never sees a half-written file, and a killed job leaves only the hidden
    ``.<name>.partial`` that the next run overwrites.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    _remove(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def open_input_image(smk: Any) -> ImageReader:
    """The rule's ``input.image``, opened lazily (:func:`frontline.io.open_image`) with the
    params every image-reading rule declares: ``pixel_size_um``, ``default_pixel_size_um``,
    ``channel_names`` and ``fluor_map``."""
    from .io import open_image

    p = smk.params
    return open_image(
        smk.input.image,
        sample=smk.wildcards.sample,
        pixel_size_um=p.pixel_size_um,
        default_pixel_size_um=p.default_pixel_size_um,
        channel_names=p.channel_names,
        fluor_map=p.fluor_map,
    )
