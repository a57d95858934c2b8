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


def check_paths(config: Mapping, config_files: Origin | list | None = None) -> None:
    """Every name or path a config key gives a rule to write stays inside the working folder:
    download destinations and their file names, the simulator's folder and sample names, the
    trained model's name (:func:`frontline.files.name_problem`, :func:`~frontline.files.
    path_problem`)."""
    from ..files import name_problem, path_problem

    origin = Origin.of(config_files)
    checks = []  # (key, value, problem)
    for kind in ("files", "folders"):
        for dest, entry in (config["download"][kind] or {}).items():
            key = ["download", kind, dest]
            parts = [p for p in str(dest).replace("\\", "/").split("/") if p]
            checks.append((key, dest, path_problem(dest)))
            checks += [(key, dest, name_problem(p, spaces=True)) for p in parts if p != ".."]
            for name in (entry or {}).get("files", {}) if kind == "folders" else ():
                checks.append(([*key, "files"], name, name_problem(name, spaces=True)))
    sim = config["simulate"]
    checks.append(("simulate.outdir", sim["outdir"], path_problem(sim["outdir"])))
    checks += [(["simulate", "samples", n], n, name_problem(n)) for n in sim["samples"]]
    checks.append(
        ("training.name", config["training"]["name"], name_problem(config["training"]["name"]))
    )
    for key, value, problem in checks:
        if problem:
            raise FrontlineInputError(
                f"{origin.describe(key)} gives the name or path '{value}', which a rule would "
                f"write to, but {problem}",
                file=origin.file(key),
                fix="use a relative path inside the working folder, made of names with letters, "
                "digits, '_', '-', '.' and '+' (file names may hold spaces); not '.', '..' or "
                "an absolute path",
            )


def _pair_rising(key: str, pair: list, names: tuple[str, str], origin: Origin) -> None:
    lo, hi = pair
    if lo < hi:
        return
    raise FrontlineInputError(
        f"{origin.describe(key)} is {list(pair)}: the {names[0]} ({lo:g}) must be smaller "
        f"than the {names[1]} ({hi:g})",
        file=origin.file(key),
        fix=f"{origin.where_to_set(key, str([min(pair), max(pair)]))}: [{names[0]}, {names[1]}]",
    )


def check_ranges(config: Mapping, config_files: Origin | list | None = None) -> None:
    """Numeric settings that fit the schema one by one but not together: pairs in order,
    bands inside their range, radii rising, pixel sizes a tissue image can have."""
    from ..io import check_pixel_size

    origin = Origin.of(config_files)
    seg, sp = config["segmentation"], config["spatial"]
    percentiles = ("low percentile", "high percentile")
    _pair_rising("segmentation.norm_percentiles", seg["norm_percentiles"], percentiles, origin)
    training = config["training"]["norm_percentiles"]
    _pair_rising("training.norm_percentiles", training, percentiles, origin)
    edges = ("first band edge", "last band edge")
    _pair_rising("spatial.band_range_um", sp["band_range_um"], edges, origin)
    lo, hi = sp["band_range_um"]
    if sp["band_width_um"] > hi - lo:
        key = "spatial.band_width_um"
        raise FrontlineInputError(
            f"{origin.describe(key)} is {sp['band_width_um']:g} µm, wider than the band range "
            f"{[lo, hi]} ({hi - lo:g} µm): densities.tsv would have no band",
            file=origin.file(key),
            fix=f"{origin.where_to_set(key, '25.0')} to a width that divides the range (25 µm "
            "bands over [-500, 500] by default), or widen spatial.band_range_um",
        )
    for key in ("spatial.radii_um", "spatial.lfunction_radii_um"):
        radii = sp[key.split(".")[1]]
        if any(b <= a for a, b in zip(radii, radii[1:])):
            raise FrontlineInputError(
                f"{origin.describe(key)} is {list(radii)}: the radii must rise, each once",
                file=origin.file(key),
                fix=f"{origin.where_to_set(key, str(sorted(set(radii))))}",
            )
    sizes = [
        ("pixel_size_um", config["pixel_size_um"]),
        ("segmentation.model_pixel_size_um", seg["model_pixel_size_um"]),
        ("simulate.pixel_size_um", config["simulate"]["pixel_size_um"]),
    ]
    for key, size in sizes:
        if size is not None:
            check_pixel_size(size, f"the config's {key}", file=origin.file(key))
