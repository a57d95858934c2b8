"""Run one workflow step: logging to the rule's log, clear errors, no partial outputs.

Every script under ``workflow/scripts/`` is three lines around :func:`run`, so a bad input
becomes one readable paragraph and a non-zero exit, and no half-written output survives.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import FrontlineInputError
from .files import atomic_output, remove_outputs
from .io import ImageReader, open_image

__all__ = ["atomic_output", "open_input_image", "run"]  # atomic_output: scripts' one import

log = logging.getLogger("frontline")


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
        remove_outputs(snakemake.output)
        log.error("%s", err.message())
        sys.exit(1)
    except Exception:  # an unexpected failure: keep the traceback in the log
        remove_outputs(snakemake.output)
        log.error(
            "unexpected error in rule %s:\n%s",
            getattr(snakemake, "rule", "?"),
            traceback.format_exc(),
        )
        sys.exit(1)


def open_input_image(smk: Any) -> ImageReader:
    """The rule's ``input.image``, opened lazily (:func:`frontline.io.open_image`) with the
    params every image-reading rule declares: ``pixel_size_um``, ``default_pixel_size_um``,
    ``channel_names`` and ``fluor_map``."""
    p = smk.params
    return open_image(
        smk.input.image,
        sample=smk.wildcards.sample,
        pixel_size_um=p.pixel_size_um,
        default_pixel_size_um=p.default_pixel_size_um,
        channel_names=p.channel_names,
        fluor_map=p.fluor_map,
    )
