"""Checks run once when the workflow starts, before any job: config and sample sheet.

Problems a person can fix in the config or the sample sheet should stop the run at once,
with one paragraph naming the file, the problem and the fix, instead of failing hours later
inside a job. Checks that need the image's pixels or metadata (channels, pixel size, damaged
files) happen in the rules that read the image (``frontline.io``).
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import FrontlineInputError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

ConfigFiles = Iterable[str | os.PathLike] | None


def _files(config_files: ConfigFiles) -> str:
    # Snakemake lists --configfile files before the Snakefile's own: show the base file first.
    names = [str(f) for f in reversed(list(config_files or []))]
    return " + ".join(names) if names else "the config"


def _key(path: Sequence) -> str:
    return ".".join(str(p) for p in path) if path else "(top level)"


def _files_holding(path: Sequence, config_files: ConfigFiles) -> str:
    """The config files that set the key at ``path`` (when none does, the key came from
    ``--config`` on the command line)."""
    holding = []
    for name in config_files or []:
        try:
            node = yaml.safe_load(Path(name).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for part in path[:-1]:
            if isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            holding.append(name)
    return _files(holding) if holding else f"{_files(config_files)} or --config"


def _unknown_key(error: Any, config_files: ConfigFiles) -> FrontlineInputError:
    """The message for a key the schema does not know (``additionalProperties: false``)."""
    allowed = sorted((error.schema.get("properties") or {}).keys())
    unknown = sorted(str(k) for k in error.instance if k not in allowed)
    parent = list(error.absolute_path)
    path = parent + [unknown[0]]
    where = f"`{_key(parent)}`" if parent else "the top level"
    close = difflib.get_close_matches(unknown[0], allowed, n=1)
    problem = f"config key `{_key(path)}` is not a key of {where}"
    if close:
        problem += f" (did you mean `{_key(parent + close)}`?)"
        fix = f"rename `{_key(path)}` to `{_key(parent + close)}`"
    else:
        fix = f"remove `{_key(path)}` (the keys of {where} are {allowed})"
    if len(unknown) > 1:
        problem += f" (other unknown keys there: {unknown[1:]})"
    return FrontlineInputError(
        problem,
        file=_files_holding(path, config_files),
        fix=fix + "; config/README.md lists every key with its unit and default",
    )


def check_schema(
    config: Mapping, schema_path: str | os.PathLike, config_files: ConfigFiles = None
) -> None:
    """Validate ``config`` against the JSON schema; raise FrontlineInputError on the first problem.

    The validator is the one for the schema's own ``$schema`` draft, as Snakemake's
    ``validate`` picks it. The message names the key, its value, what the schema allows and
    the key's description; an unknown key (a typo) is named with the closest allowed key.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    if error.validator == "additionalProperties" and error.validator_value is False:
        raise _unknown_key(error, config_files)
    key = _key(error.absolute_path)
    described = error.schema.get("description")
    if described is None:
        node = schema
        for part in error.absolute_path:
            node = (node.get("properties") or {}).get(part, node.get("additionalProperties") or {})
            if not isinstance(node, dict):
                break
        described = node.get("description") if isinstance(node, dict) else None
    fix = f"set `{key}` to an allowed value"
    if described:
        fix += f" ({described})"
    fix += "; config/README.md lists every key with its unit and default"
    raise FrontlineInputError(
        f"config key `{key}`: {error.message}", file=_files(config_files), fix=fix
    )


def check_segmentation(
    seg: Mapping,
    config_files: ConfigFiles = None,
    model_basedir_root: str | os.PathLike = ".",
) -> None:
    """Tile settings that cannot work, and model names that do not exist."""
    files = _files(config_files)
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
    from .segment import published_models  # imports StarDist: only for names that are no folder

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
        file=files,
        fix="name a shipped model (e.g. frontline_nuclei), a published one, or the path of a "
        "StarDist model folder (the one holding config.json and weights)",
    )


def check_phenotyping(phenotyping: Mapping, config_files: ConfigFiles = None) -> None:
    """The phenotype tree (parents, cycles, exclusive groups) and the manual gates.

    Marker names are checked against the image's channels later, in the phenotype rule. A
    config without a tree is fine here: :func:`check_table_samples` asks for one when a sample
    needs it (an image, or a cell table without phenotype names).
    """
    from .gating import parse_gate
    from .phenotype import parse_phenotypes

    files = _files(config_files)
    spec = phenotyping.get("phenotypes") or {}
    if not spec:
        return
    markers = set()
    for entry in spec.values():
        for key in ("positive", "negative"):
            value = (entry or {}).get(key) or []
            markers.update([value] if isinstance(value, str) else map(str, value))
    parse_phenotypes(spec, sorted(markers), phenotyping.get("exclusive") or (), file=files)
    for marker, value in (phenotyping.get("gates") or {}).items():
        parse_gate(value, marker, file=files)


def produced_by_workflow(path: str | os.PathLike, config: Mapping) -> bool:
    """Whether a rule of this workflow makes ``path`` (simulated images, downloads).

    ``config`` has its defaults filled in (:func:`frontline.config.fill_defaults`).
    """
    path = os.path.normpath(str(path))
    sim = config["simulate"]
    for name in sim["samples"]:
        prefix = os.path.normpath(os.path.join(sim["outdir"], str(name)))
        if path.startswith(prefix + "."):
            return True
    made = list(config["download"]["files"]) + list(config["download"]["folders"])
    return any(path == os.path.normpath(str(p)) for p in made)


def check_sample_files(
    samples: pd.DataFrame, config: Mapping, sheet_path: str | os.PathLike
) -> None:
    """Every image, cell table and annotation the sheet names exists, or a rule of the workflow
    makes it."""
    columns = (("image", "image"), ("cells", "cell table"), ("annotation", "annotation"))
    for sample, row in samples.iterrows():
        for column, what in columns:
            value = str(row.get(column, "") or "").strip()
            if not value or produced_by_workflow(value, config) or Path(value).exists():
                continue
            near = _near_misses(Path(value))
            raise FrontlineInputError(
                f"the {what} '{value}' does not exist (relative paths are read from the working "
                f"folder {Path.cwd()})" + (f"; did you mean {near}?" if near else ""),
                sample=sample,
                file=sheet_path,
                fix=f"correct the `{column}` column of the sample sheet, or copy the file there",
            )


def check_images(samples: pd.DataFrame, config: Mapping, sheet_path: str | os.PathLike) -> None:
    """Open every existing input image (metadata only) and check what the config asks of it.

    Catches damaged or RGB files, a missing pixel size and channel names that the config uses
    but the image lacks (nuclear channel, phenotype and gate markers) at startup. Images that a
    rule of the workflow makes are checked by the rules that read them. ``config`` has its
    defaults filled in.
    """
    from .io import open_image
    from .phenotype import gated_markers

    maps = config["fluor_maps"]
    nuclear = config["segmentation"]["nuclear_channel"]
    markers = gated_markers(config["phenotyping"])
    for sample, row in samples.iterrows():
        path = str(row.get("image", "") or "").strip()
        if not path or produced_by_workflow(path, config) or not Path(path).exists():
            continue
        size = str(row.get("pixel_size_um", "") or "").strip()
        fluor_key = str(row.get("fluor_map", "") or "").strip()
        if fluor_key and fluor_key not in maps:
            raise FrontlineInputError(
                f"fluor_map '{fluor_key}' is not a key of config `fluor_maps` {list(maps)}",
                sample=sample,
                file=sheet_path,
                fix="add the map under `fluor_maps:` or fix the sheet",
            )
        with open_image(
            path,
            sample=sample,
            pixel_size_um=float(size) if size else None,
            default_pixel_size_um=config["pixel_size_um"],
            channel_names=config["channel_names"],
            fluor_map=maps.get(fluor_key) if fluor_key else None,
        ) as img:
            channels = list(img.channels)  # open_image raised if no pixel size is known
        needed = ([("segmentation.nuclear_channel", nuclear)] if nuclear else []) + [
            ("phenotyping.phenotypes/gates", m) for m in markers
        ]
        missing = [(where, m) for where, m in needed if m not in channels]
        if missing:
            where = sorted({w for w, _ in missing})
            raise FrontlineInputError(
                f"the config's {' and '.join(where)} ask(s) for channel(s) "
                f"{sorted({m for _, m in missing})}, which the image does not have; its "
                f"channels are {channels}",
                sample=sample,
                file=path,
                fix="use the channel names exactly as the image has them (or rename the image's "
                "channels with a fluor map / `channel_names`)",
            )


def _near_misses(path: Path) -> list[str]:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return []
    stem = path.name.lower()
    return [str(parent / p.name) for p in parent.iterdir() if p.name.lower() == stem][:3]


def check_writable(folder: str | os.PathLike = "results") -> None:
    """The output folder can be created and written to."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise FrontlineInputError(
            f"the output folder '{folder}' cannot be created: '{probe}' is a file, not a folder",
            file=probe,
            fix=f"move '{probe}' away, or run the workflow in another folder "
            "(snakemake --directory DIR)",
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise FrontlineInputError(
            f"the output folder '{probe}' is not writable",
            file=probe,
            fix="make it writable (chmod u+w), or run the workflow in a folder you can write to "
            "(snakemake --directory DIR)",
        )


def check_config(config: Mapping, config_files: ConfigFiles = None) -> None:
    """Config problems the schema cannot express: tiles, model, phenotype tree, gates.

    ``config`` has passed :func:`check_schema` and has its defaults filled in (Snakemake's
    ``validate`` in common.smk does both, in that order, before anything reads the config).
    """
    check_segmentation(config["segmentation"], config_files)
    check_phenotyping(config["phenotyping"], config_files)


def check_samples(
    samples: pd.DataFrame,
    config: Mapping,
    sheet_path: str | os.PathLike,
    output: str | os.PathLike = "results",
) -> None:
    """Sample-sheet problems the sheet's own checks cannot see: files, images, output folder.

    ``config`` has its defaults filled in (Snakemake's ``validate`` in common.smk).
    """
    check_sample_files(samples, config, sheet_path)
    check_images(samples, config, sheet_path)
    check_table_samples(samples, config, sheet_path)
    check_writable(output)


def check_table_samples(
    samples: pd.DataFrame, config: Mapping, sheet_path: str | os.PathLike
) -> None:
    """Cell-table samples: each table read and normalised as its job will, before any job.

    For every sample with a ``cells`` table: its header fits its ``cells_format``, positions in
    pixels have a pixel size, its ``cells_rows`` pick rows, no cell lacks a position, ids are
    unique, flags fit the phenotype tree (:func:`frontline.celltables.normalise_cell_table` on
    the columns these checks need; intensities are read by the job). Then, across samples: a
    phenotype tree exists when a sample needs one (an image, or a table without phenotype
    names), a table sample has no simulator ``truth``, and the phenotypes the config names
    (``spatial.immune_types``, ``spatial.call.phenotype``, ``front.tumor_phenotype``) occur in
    some table or in the tree. ``config`` has its defaults filled in.
    """
    from . import celltables, sheet
    from .io.celltables import read_cell_table, read_table_header

    settings, phenotyping = config["cell_tables"], config["phenotyping"]
    tables = [s for s in samples.index if sheet.is_cell_table(samples, s)]
    found = set()
    needs_tree = [s for s in samples.index if s not in tables]  # images are gated
    plans, columns_of = {}, {}
    for sample in tables:
        path = str(samples.loc[sample, "cells"])
        if produced_by_workflow(path, config):
            continue
        if sheet.optional(samples.loc[sample, "truth"]) is not None:
            raise FrontlineInputError(
                "a cell-table sample has a `truth` column (simulator truth is for simulated "
                "images)",
                sample=sample,
                file=sheet_path,
                fix="leave `truth` empty for cell-table samples",
            )
        fmt = sheet.cells_format(samples, sample)
        header = read_table_header(path, sample=sample)
        renames = {k: v for k, v in settings["columns"].items() if k in header}
        layout = celltables.table_layout(
            celltables.renamed(header, renames),
            fmt,
            fluor_map=_sheet_fluor_map(samples, sample, config, sheet_path),
            sample=sample,
            file=path,
        )
        rows = celltables.parse_rows(samples.loc[sample, "cells_rows"], sample)
        back = {v: k for k, v in renames.items()}
        wanted = [back.get(c, c) for c in layout.structural()] + ([rows[0]] if rows else [])
        columns_of.setdefault(path, set()).update(c for c in wanted if c in header)
        plans[sample] = (path, fmt, rows, layout.structural_only())
        if layout.phenotypes != celltables.FROM_TABLE:
            needs_tree.append(sample)
    raw_tables = {p: read_cell_table(p, columns=sorted(c)) for p, c in columns_of.items()}
    for sample, (path, fmt, rows, layout) in plans.items():
        size = sheet.optional(samples.loc[sample, "pixel_size_um"])
        result = celltables.normalise_cell_table(
            raw_tables[path],
            fmt,
            settings,
            pixel_size_um=float(size) if size is not None else config["pixel_size_um"],
            rows=rows,
            fluor_map=_sheet_fluor_map(samples, sample, config, sheet_path),
            phenotyping=phenotyping,
            layout=layout,
            sample=sample,
            file=path,
        )
        if result.phenotypes is not None:
            found |= set(result.phenotypes["phenotype"])
    tree = phenotyping.get("phenotypes") or {}
    if needs_tree and not tree:
        raise FrontlineInputError(
            "the config defines no phenotype tree (`phenotyping: phenotypes:`), which an image "
            "sample or a cell table without phenotype names needs",
            sample=needs_tree[0],
            file=_files(None),
            fix="add phenotypes under `phenotyping: phenotypes:`, e.g. CD8_T: {positive: [CD8]}",
        )
    if tables and plans:
        _check_phenotype_names(config, found | set(tree), plans)


def _sheet_fluor_map(samples, sample, config, sheet_path):
    key = str(samples.loc[sample].get("fluor_map", "") or "").strip()
    if not key:
        return None
    if key not in config["fluor_maps"]:
        raise FrontlineInputError(
            f"fluor_map '{key}' is not a key of config `fluor_maps` {list(config['fluor_maps'])}",
            sample=sample,
            file=sheet_path,
            fix="add the map under `fluor_maps:` or fix the sheet",
        )
    return config["fluor_maps"][key]


def _check_phenotype_names(config: Mapping, known: set, plans: Mapping) -> None:
    """The phenotypes the config names occur in a table or the tree (the tumor phenotype may
    be missing: a field without tumor cells has no front, which the spatial step reports)."""
    from .spatial.common import ALL_IMMUNE

    tumor = config["front"]["tumor_phenotype"]
    if tumor not in known:
        log.warning(
            "front.tumor_phenotype '%s' is in no cell table (and no phenotype tree): those "
            "samples have no tumor region and no front; the tables' phenotypes are %s (map "
            "them with cell_tables.phenotype_map, e.g. {Tumor: tumor})",
            tumor,
            sorted(known),
        )
    named = [("spatial.immune_types", t) for t in config["spatial"]["immune_types"]]
    named += [("spatial.call.phenotype", config["spatial"]["call"]["phenotype"])]
    missing = [(key, name) for key, name in named if name not in known and name != ALL_IMMUNE]
    if not missing:
        return
    keys = sorted({k for k, _ in missing})
    names = sorted({n for _, n in missing})
    files = sorted({plan[0] for plan in plans.values()})
    raise FrontlineInputError(
        f"the config's {' and '.join(keys)} name(s) phenotype(s) {names} that no cell table "
        f"(and no phenotype tree) has; the tables' phenotypes are {sorted(known)}",
        file=", ".join(files[:3]) + (" ..." if len(files) > 3 else ""),
        fix="name the phenotypes as the tables do, or map the tables' names to yours with "
        "config `cell_tables.phenotype_map` (e.g. {CD8T: CD8_T, Tumor: tumor})",
    )
