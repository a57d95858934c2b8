"""Segmenting an image as the rules do: one call per rule, settings from the config section.

- :func:`segment_image` (rule ``segment``): the whole image in one job, as label strips;
- :func:`image_normalisation` (rule ``segment_normalisation``): the range every tile job uses;
- :func:`segment_image_tile` (rule ``segment_tile``): one job tile's final nuclei;
- :func:`merge_tiles` (rule ``merge_tiles``): the job tiles' nuclei as label strips.

``settings`` is the ``segmentation`` config section (``frontline.config.section(
"segmentation")``) or a rule's params, which carry its keys. The label strips are written by
:func:`frontline.io.write_label_strips`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..io import ImageReader, require_channels
from .jobs import JobTile, job_rows, merge_job_rows, segment_job
from .model import configured_model
from .nms import Strips
from .normalisation import Normalisation, normalisation_range
from .predict import Reader, log_plan, plan, segment_labels

log = logging.getLogger(__name__)


def _nuclear_reader(img: ImageReader, settings: Mapping[str, Any]) -> Reader:
    """Window reads of the nuclear channel (which the image must have)."""
    channel = settings["nuclear_channel"]
    require_channels(
        img, [channel], sample=img.sample, what="segmentation (segmentation.nuclear_channel)"
    )
    return lambda window: img.read(channel, window)


def image_normalisation(img: ImageReader, settings: Mapping[str, Any]) -> Normalisation:
    """The nuclear channel's intensity range over the whole image (sampled windows).

    Parameters
    ----------
    img : an opened image (:func:`frontline.io.open_image`)
    settings : ``nuclear_channel``, ``norm_percentiles``, ``min_contrast``
    """
    read = _nuclear_reader(img, settings)
    return normalisation_range(
        read, img.shape, settings["norm_percentiles"], min_contrast=settings["min_contrast"]
    )


def segment_image(
    img: ImageReader, settings: Mapping[str, Any], *, threads: int | None = None
) -> Strips:
    """Nuclei of a whole image, in one job, as label strips from top to bottom.

    Parameters
    ----------
    img : an opened image (:func:`frontline.io.open_image`)
    settings : the ``segmentation`` section: model keys (see
        :func:`~frontline.segment.model.configured_model`), ``nuclear_channel``,
        ``norm_percentiles``, ``min_contrast``, ``tile_px``, ``overlap_px``, ``background_max``
    threads : TensorFlow threads

    Returns
    -------
    iterator of (y0, (h, X) uint32 labels), ids 1..N; streamed: the image must stay open
    until the strips are consumed (e.g. by :func:`frontline.io.write_label_strips`)
    """
    model = configured_model(settings, threads=threads, sample=img.sample)
    read = _nuclear_reader(img, settings)
    norm = normalisation_range(
        read, img.shape, settings["norm_percentiles"], min_contrast=settings["min_contrast"]
    )
    plan_ = plan(model, img.pixel_size_um, settings["tile_px"], settings["overlap_px"])
    log_plan(plan_, img.shape, img.pixel_size_um, model)
    return segment_labels(
        model,
        read,
        img.shape,
        norm,
        plan_,
        background_max=settings["background_max"],
        sample=img.sample,
    )


def segment_image_tile(
    img: ImageReader,
    norm: Normalisation,
    tile_id: str,
    settings: Mapping[str, Any],
    *,
    threads: int | None = None,
) -> JobTile:
    """The final nuclei whose centre lies in one job tile of an image.

    Parameters
    ----------
    img : an opened image
    norm : the image's normalisation (:func:`image_normalisation`)
    tile_id : a key of :func:`~frontline.segment.jobs.job_grid` (``r000c001``)
    settings : as :func:`segment_image`, plus ``job_tile_px`` and ``job_halo_px``
    threads : TensorFlow threads

    Returns
    -------
    JobTile (with the image's pixel size), for :func:`~frontline.segment.jobs.save_job_tile`
    """
    model = configured_model(settings, threads=threads, sample=img.sample)
    read = _nuclear_reader(img, settings)
    plan_ = plan(model, img.pixel_size_um, settings["tile_px"], settings["overlap_px"])
    log_plan(plan_, img.shape, img.pixel_size_um, model)
    job = segment_job(
        model,
        read,
        img.shape,
        norm,
        plan_,
        tile_id,
        settings["job_tile_px"],
        settings["job_halo_px"],
        background_max=settings["background_max"],
    )
    job.pixel_size_um = img.pixel_size_um
    return job


def merge_tiles(
    paths: Sequence[str | Path], sample: str | None = None
) -> tuple[tuple[int, int], float, Strips]:
    """Merge the job tile files of a slide: each nucleus once, ids as in a single job.

    Parameters
    ----------
    paths : the job tiles' ``.npz`` files (any order)
    sample : sample name, for messages

    Returns
    -------
    shape : (Y, X) of the slide, px
    pixel_size_um : float
    strips : iterator of (y0, (h, X) uint32 labels), top to bottom
    """
    shape, pixel_size_um, rows = job_rows(list(paths), sample=sample)
    return shape, pixel_size_um, merge_job_rows(rows, sample=sample)
