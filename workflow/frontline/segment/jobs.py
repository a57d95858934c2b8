"""Cluster mode: a slide split into job tiles, each segmented by its own job, then merged.

:func:`job_grid` splits the slide into job tiles; each job finds the final objects whose centre
lies in its core (:func:`segment_job`, with a halo of context) and saves them
(:func:`save_job_tile`); :func:`merge_job_rows` runs the same band NMS over the jobs' objects,
one job row at a time, and renders the slide's label strips, so the result is the one a single
job gives.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FrontlineInputError
from ..files import atomic_output
from .model import SegmentationModel
from .nms import Objects, Strips, counting, render_strips, suppress_bands
from .normalisation import Normalisation
from .predict import Plan, Reader, segment_objects

log = logging.getLogger(__name__)

Window = tuple[int, int, int, int]  # (y0, y1, x0, x1), px, end exclusive


@dataclass
class JobTile:
    """One job tile's result: its final objects and what the merge needs to know."""

    objects: Objects
    core: tuple  # (y0, y1, x0, x1), px
    shape: tuple  # (Y, X) of the slide, px
    pixel_size_um: float
    reach: float  # largest object radius, px
    nms_thresh: float


def job_grid(shape: tuple[int, int], job_tile_px: int) -> dict[str, Window]:
    """Job tiles of a slide, row-major.

    Parameters
    ----------
    shape : (Y, X) image size, px
    job_tile_px : job tile edge, px

    Returns
    -------
    dict ``{tile_id: (y0, y1, x0, x1)}``; ids ``r{row:03d}c{col:03d}``
    """
    height, width = int(shape[0]), int(shape[1])
    step = int(job_tile_px)
    grid = {}
    for r, y0 in enumerate(range(0, height, step)):
        for c, x0 in enumerate(range(0, width, step)):
            grid[f"r{r:03d}c{c:03d}"] = (y0, min(y0 + step, height), x0, min(x0 + step, width))
    return grid


def segment_job(
    model: SegmentationModel,
    read: Reader,
    shape: tuple[int, int],
    norm: Normalisation,
    plan_: Plan,
    tile_id: str,
    job_tile_px: int,
    job_halo_px: int,
    background_max: float | None = None,
) -> JobTile:
    """The final nuclei whose centre lies in one job tile's core.

    Parameters
    ----------
    tile_id : a key of :func:`job_grid` (``r000c001``)
    job_tile_px, job_halo_px : job tile edge and context halo, image px; the halo should be at
        least twice the largest object radius (``plan_.reach``)
    other parameters : see :func:`segment_objects`

    Returns
    -------
    JobTile (``pixel_size_um`` left for the caller to set)
    """
    grid = job_grid(shape, job_tile_px)
    if tile_id not in grid:
        raise FrontlineInputError(
            f"job tile '{tile_id}' is not in the {len(grid)} tiles of a "
            f"{shape[0]} x {shape[1]} px image",
            fix="rerun the workflow so the tile list is rebuilt",
        )
    core = grid[tile_id]
    if job_halo_px < 2 * plan_.reach:
        log.warning(
            "job_halo_px (%d) is less than twice the object radius (%g px): nuclei near "
            "job borders may be found twice or missed",
            job_halo_px,
            plan_.reach,
        )
    log.info("job tile %s: y %d-%d x %d-%d with %d px halo", tile_id, *core, job_halo_px)
    parts = [
        kept
        for kept, _ in segment_objects(
            model, read, shape, norm, plan_, core, job_halo_px, background_max
        )
    ]
    objects = Objects.concat(parts, model.n_rays)
    log.info("job tile %s: %d nuclei", tile_id, len(objects))
    return JobTile(objects, core, tuple(shape), float("nan"), plan_.reach, model.nms_thresh)


def save_job_tile(path: str | Path, job: JobTile) -> None:
    """Write a :class:`JobTile` as ``.npz`` (points, dist, prob and the job's geometry)."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                points=job.objects.points,
                dist=job.objects.dist,
                prob=job.objects.prob,
                core=np.asarray(job.core, np.int64),
                shape=np.asarray(job.shape, np.int64),
                pixel_size_um=np.float64(job.pixel_size_um),
                reach=np.float64(job.reach),
                nms_thresh=np.float64(job.nms_thresh),
            )


def load_job_tile(path: str | Path) -> JobTile:
    """Read a :class:`JobTile` written by :func:`save_job_tile`."""
    try:
        with np.load(path) as data:
            objects = Objects(data["points"], data["dist"], data["prob"])
            return JobTile(
                objects,
                tuple(int(v) for v in data["core"]),
                tuple(int(v) for v in data["shape"]),
                float(data["pixel_size_um"]),
                float(data["reach"]),
                float(data["nms_thresh"]),
            )
    except (OSError, KeyError, ValueError) as err:
        raise FrontlineInputError(
            f"cannot read the job tile's objects ({err})",
            file=path,
            fix="rerun the segment_tile job that writes it",
        ) from None


def job_rows(
    paths: Sequence[str | Path], sample: str | None = None
) -> tuple[tuple[int, int], float, Iterator[list[JobTile]]]:
    """Group job tile files into rows and check that they tile the slide.

    Parameters
    ----------
    paths : job tile ``.npz`` files (names ``r{row}c{col}.npz``)
    sample : for messages

    Returns
    -------
    shape : (Y, X) of the slide, px
    pixel_size_um : float
    rows : iterable of lists of JobTile, top to bottom, each row loaded when reached
    """
    by_row = {}
    for path in paths:
        match = re.fullmatch(r"r(\d+)c(\d+)", Path(path).name.split(".")[0])
        if match is None:
            raise FrontlineInputError(
                "a job tile file is not named r<row>c<col>.npz",
                sample=sample,
                file=path,
                fix="rerun the workflow",
            )
        by_row.setdefault(int(match[1]), []).append((int(match[2]), path))
    if not by_row:
        raise FrontlineInputError("no job tiles to merge", sample=sample, fix="rerun the workflow")
    first = load_job_tile(sorted(by_row[min(by_row)])[0][1])
    ref = (first.shape, first.pixel_size_um, first.reach, first.nms_thresh)

    def rows():
        y = 0
        for row in sorted(by_row):
            jobs = [load_job_tile(path) for _, path in sorted(by_row[row])]
            x = 0
            for (col, path), job in zip(sorted(by_row[row]), jobs):
                same = (job.shape, job.pixel_size_um, job.reach, job.nms_thresh) == ref
                if not same or job.core[0] != y or job.core[2] != x:
                    raise FrontlineInputError(
                        f"job tile r{row}c{col} does not fit the others (core {job.core}, "
                        f"slide {job.shape}; expected rows from {y}, columns from {x}, slide "
                        f"{first.shape})",
                        sample=sample,
                        file=path,
                        fix="delete results/<sample>/tiles/ and rerun (the tiles come from "
                        "different settings or images)",
                    )
                x = job.core[3]
            if x != first.shape[1]:
                raise FrontlineInputError(
                    f"job tile row {row} ends at column {x}, not at the "
                    f"slide's width {first.shape[1]}",
                    sample=sample,
                    fix="delete results/<sample>/tiles/ and rerun",
                )
            y = jobs[0].core[1]
            yield jobs
        if y != first.shape[0]:
            raise FrontlineInputError(
                f"the job tiles end at row {y}, not at the slide's height {first.shape[0]}",
                sample=sample,
                fix="delete results/<sample>/tiles/ and rerun",
            )

    return first.shape, first.pixel_size_um, rows()


def merge_job_rows(
    rows: Iterable[list[JobTile]], stats: dict | None = None, sample: str | None = None
) -> Strips:
    """Merge job tiles' objects into label strips of the slide.

    Objects of neighbouring jobs that overlap by more than ``nms_thresh`` are one nucleus found
    twice: the band NMS keeps the more probable one. Ids are consecutive in (row, column) order
    of the centres, as in a single job.

    Parameters
    ----------
    rows : iterable of lists of JobTile, top to bottom (see :func:`job_rows`)
    stats : dict or None, receives ``nuclei``
    sample : sample name, for the warning when no nucleus is found

    Yields
    ------
    (y0, (h, X) uint32 labels) strips
    """
    rows = iter(rows)
    first = next(rows)
    ref = first[0]
    n_rays = ref.objects.dist.shape[1]

    def bands():
        for jobs in itertools.chain([first], rows):
            yield (
                Objects.concat([j.objects for j in jobs], n_rays),
                jobs[0].core[0],
                jobs[0].core[1],
            )

    kept = suppress_bands(bands(), ref.nms_thresh, ref.reach, n_rays)
    yield from render_strips(counting(kept, stats, sample), ref.shape, ref.reach)
