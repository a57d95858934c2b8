"""The sample sheet's files: every path exists (or a rule makes it), results can be written."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FrontlineInputError

if TYPE_CHECKING:
    import pandas as pd


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
    """Every image (and annotation) the sheet names exists, or a rule of the workflow makes it."""
    for sample, row in samples.iterrows():
        for column, what in (("image", "image"), ("annotation", "annotation")):
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


def check_gates_tables(
    samples: pd.DataFrame, config: Mapping, sheet_path: str | os.PathLike
) -> None:
    """Every gates table the sheet names exists and sets gates the config can use: markers it
    gates, numbers or ``auto``, compartments as configured, samples of the sheet."""
    from ..io import read_gates_table
    from ..phenotype import sample_gates

    names = list(samples.index)
    for sample, row in samples.iterrows():
        path = str(row.get("gates", "") or "").strip()
        if not path:
            continue
        if not Path(path).is_file():
            raise FrontlineInputError(
                f"the gates table '{path}' does not exist (relative paths are read from the "
                f"working folder {Path.cwd()})",
                sample=sample,
                file=sheet_path,
                fix="correct the sheet's `gates` column, or copy the table there (a run's "
                "results/{sample}/gates.tsv can be copied as it is)",
            )
        table = read_gates_table(path, sample=sample)
        sample_gates(table, sample, config["phenotyping"], samples=names, file=path)
