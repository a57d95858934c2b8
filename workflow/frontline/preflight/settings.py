"""Settings that cannot work together, or name a model that does not exist (no image needed)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import FrontlineInputError
from .origin import Origin

log = logging.getLogger(__name__)


def check_segmentation(
    seg: Mapping,
    config_files: Origin | list | None = None,
    model_basedir_root: str | os.PathLike = ".",
) -> None:
    """Tile settings that cannot work, and model names that do not exist."""
    origin = Origin.of(config_files)
    files = origin.file("segmentation.tile_px")
    tile, overlap = seg.get("tile_px"), seg.get("overlap_px")
    if tile is not None and overlap is not None and overlap >= tile:
        raise FrontlineInputError(
            f"segmentation.overlap_px ({overlap}) must be smaller than segmentation.tile_px "
            f"({tile}): each prediction would be mostly context",
            file=files,
            fix="use an overlap of about 64-128 px and a tile of 512-2048 px",
        )
    job_tile, halo = seg.get("job_tile_px"), seg.get("job_halo_px")
    if job_tile is not None and halo is not None and halo >= job_tile:
        raise FrontlineInputError(
            f"segmentation.job_halo_px ({halo}) must be smaller than segmentation.job_tile_px "
            f"({job_tile})",
            file=files,
            fix="use a halo of about twice the largest nucleus diameter in px (e.g. 128) and a "
            "job tile of several thousand px",
        )
    if job_tile is not None and tile is not None and seg.get("tile_jobs") and job_tile < overlap:
        raise FrontlineInputError(
            f"segmentation.job_tile_px ({job_tile}) is smaller than the prediction overlap "
            f"({overlap})",
            file=files,
            fix="use job tiles of at least a few thousand px",
        )
    model = seg.get("model")
    if model is None:
        return
    basedir = Path(model_basedir_root) / str(seg.get("model_basedir") or "")
    candidates = [Path(model_basedir_root) / str(model), basedir / str(model)]
    if any(c.is_dir() for c in candidates):
        return
    from ..segment import published_models  # imports StarDist: only for names that are no folder
    from ..step import output_to

    with output_to(os.devnull):  # TensorFlow's start-up lines: not on the console
        published = published_models()
    if str(model) in published:
        return
    if not basedir.is_dir():
        # No shipped models at all (a checkout without resources/): the segment rule reports it.
        log.warning("segmentation.model_basedir %s does not exist", basedir)
        return
    shipped = sorted(p.name for p in basedir.iterdir() if p.is_dir())
    raise FrontlineInputError(
        f"segmentation.model '{model}' is neither a folder, nor a model in "
        f"segmentation.model_basedir ({basedir}: {shipped}), nor a published StarDist model "
        f"{published[:4]}",
        file=origin.file("segmentation.model"),
        fix="name a shipped model (e.g. frontline_nuclei), a published one, or the path of a "
        "StarDist model folder (the one holding config.json and weights)",
    )
