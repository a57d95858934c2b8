"""Checks run once when the workflow starts, before any job: config, sample sheet, images.

Problems a person can fix in the config or the sample sheet stop the run at once, with one
paragraph naming the sample, the file or key (and where its value came from), the problem and
the fix, instead of failing hours later inside a job. ``common.smk`` calls, in this order:

1. :func:`check_schema` (``schema``): types, bounds and unknown keys of the config as read;
2. :func:`check_config`: keys a run needs that have no default (``schema.REQUIRED``), names
   and paths rules write to, numeric settings that do not fit together and settings that
   cannot work (``settings``), the phenotype tree and every phenotype a key names
   (``references``);
3. :func:`check_samples`: the sheet's files and gates tables (``samples``), each input
   image's metadata, pixel size and sampled pixels, and its channels against every marker a
   key names (``images``), then ``exclusive_compartments`` against the gated markers, and the
   output folder;
4. :func:`check_cohort` (``cohort``): the ``cohort:`` section and its clinical table against
   the sheet's patients.

:class:`Origin` (``origin``) tells where each setting came from: the user's file, the demo's
``config/config.yaml``, ``--config``, or the schema's default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .cohort import check_cohort
from .images import check_images, check_pixel_values
from .origin import Origin
from .references import (
    REFERENCES,
    Reference,
    check_exclusive_compartments,
    check_markers,
    check_phenotype_references,
    check_phenotyping,
)
from .samples import (
    check_gates_tables,
    check_sample_files,
    check_writable,
    produced_by_workflow,
)
from .schema import REQUIRED, check_required, check_schema
from .settings import check_paths, check_ranges, check_segmentation

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REFERENCES",
    "REQUIRED",
    "Origin",
    "Reference",
    "check_cohort",
    "check_config",
    "check_exclusive_compartments",
    "check_gates_tables",
    "check_images",
    "check_markers",
    "check_paths",
    "check_phenotype_references",
    "check_phenotyping",
    "check_pixel_values",
    "check_ranges",
    "check_required",
    "check_sample_files",
    "check_samples",
    "check_schema",
    "check_segmentation",
    "check_writable",
    "produced_by_workflow",
]


def check_config(config: Mapping, config_files: Origin | list | None = None) -> None:
    """Config problems the schema cannot express: required keys, tiles, model, references.

    ``config`` has passed :func:`check_schema` and has its defaults filled in (Snakemake's
    ``validate`` in common.smk does both, in that order, before anything reads the config).
    """
    origin = Origin.of(config_files)
    check_required(config, origin)
    check_paths(config, origin)
    check_ranges(config, origin)
    check_segmentation(config["segmentation"], origin)
    check_phenotyping(config["phenotyping"], origin)
    check_phenotype_references(config, origin)


def check_samples(
    samples: pd.DataFrame,
    config: Mapping,
    sheet_path: str | os.PathLike,
    config_files: Origin | list | None = None,
    output: str | os.PathLike = "results",
) -> None:
    """Sample-sheet problems the sheet's own checks cannot see: files, images, output folder.

    ``config`` has its defaults filled in (Snakemake's ``validate`` in common.smk).
    """
    origin = Origin.of(config_files)
    check_sample_files(samples, config, sheet_path)
    check_gates_tables(samples, config, sheet_path)
    check_images(samples, config, sheet_path, origin)
    check_exclusive_compartments(config["phenotyping"], origin)
    check_writable(output)
