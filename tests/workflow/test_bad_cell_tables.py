"""Bad cell tables: each stops the run with a non-zero exit and one paragraph naming the sample,
the file, the problem and the fix, with no partial outputs under results/.

Every table is read and checked when the workflow starts (frontline.preflight.tables), so
almost every case stops before any job; a problem in a column the startup checks do not read
(an intensity) stops the table's rule, which leaves nothing behind.
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from runs import snakemake

pytestmark = pytest.mark.timeout(300)

CONFIG = {  # the minimal config for generic tables
    "samples": "config/samples.tsv",
    "spatial": {"immune_types": ["CD8_T"], "call": {"phenotype": "CD8_T"}},
}
GOOD = {
    "x_um": [10.0, 20.0, 30.0],
    "y_um": [5.0, 6.0, 7.0],
    "phenotype": ["tumor", "CD8_T", "tumor"],
}


@dataclass
class Case:
    id: str
    problem: str  # substring of the message
    table: dict | str | None  # columns, exact text, or None (no file)
    fmt: str = ""
    rows: str = ""
    pixel_size: str = ""
    at_startup: bool = True
    file: str | None = None  # the file the message names (default: the table)


CASES = [
    Case(
        "missing coordinates",
        "lacks the position columns of cells_format 'generic': it has the columns "
        "['X', 'Y', 'phenotype']",
        {"X": [1.0], "Y": [2.0], "phenotype": ["tumor"]},
    ),
    Case(
        "missing phenotype",
        "no phenotype column, no positivity flags and no intensities: it has the columns "
        "['x_um', 'y_um', 'celltype']",
        {"x_um": [1.0], "y_um": [2.0], "celltype": ["tumor"]},
    ),
    Case(
        "pixels without a pixel size",
        "positions are in pixels (generic format) and no pixel size is given",
        {"x_px": [1.0], "y_px": [2.0], "phenotype": ["tumor"]},
    ),
    Case(
        "format does not match the headers",
        "do not fit cells_format 'inform'",
        {"XMin": [1], "XMax": [3], "YMin": [1], "YMax": [3], "CD8 (Opal 520) Positive": [1]},
        fmt="inform",
    ),
    Case(
        "NaN coordinates",
        "1 of 3 cells have no position",
        {**GOOD, "y_um": [5.0, None, 7.0]},
    ),
    Case(
        "duplicate cell ids",
        "1 cell id(s) occur more than once in 'cell_id' (e.g. [4])",
        {**GOOD, "cell_id": [4, 4, 5]},
    ),
    Case("empty table", "the cell table has no cells", "x_um,y_um,phenotype\n"),
    Case("no file", "the cell table '", None, file="config/samples.tsv"),
    Case(
        "immune type in no table",
        "`spatial.immune_types` (config/config.yaml) names the phenotype 'CD8_T', which neither "
        "the phenotype table (`phenotyping.phenotypes`: []) nor the cell tables",
        {**GOOD, "phenotype": ["tumor", "CD8", "tumor"]},
        file="config/config.yaml",  # the key's file; the problem names the tables
    ),
    Case(
        "rows of no sample",
        "no row of the cell table has patient = '9'",
        {**GOOD, "patient": [1, 1, 2]},
        rows="patient=9",
    ),
    Case(
        "text in an intensity column",
        "the column 'CD8_cell_mean' holds text where numbers belong",
        {**GOOD, "CD8_cell_mean": ["1.0", "high", "2.0"]},
        at_startup=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_cell_table(case, tmp_path):
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    table = work / "tables" / "t1.csv"
    if case.table is not None:
        table.parent.mkdir()
        if isinstance(case.table, str):
            table.write_text(case.table)
        else:
            pd.DataFrame(case.table).to_csv(table, index=False)
    (work / "config" / "samples.tsv").write_text(
        "sample\tcells\tcells_format\tcells_rows\tpixel_size_um\n"
        f"s1\t{table}\t{case.fmt}\t{case.rows}\t{case.pixel_size}\n"
    )
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG))

    proc = snakemake(work, cores=1, timeout_s=240)

    assert proc.returncode != 0, proc.output[-3000:]
    text = " ".join(proc.output.split())
    assert case.problem in text, proc.output[-3000:]
    assert "Fix: " in text and f"file '{case.file or table}" in text, proc.output[-3000:]
    if case.id != "immune type in no table":  # a config key's check names the key's file
        assert "sample 's1'" in text, proc.output[-3000:]
    results = work / "results"
    if case.at_startup:
        assert "Select jobs to execute" not in proc.output, "a job started before the check"
        assert not results.exists()
    else:
        assert "Select jobs to execute" in proc.output, "expected the check inside a rule"
        left = sorted(str(p.relative_to(work)) for p in results.rglob("*") if p.is_file())
        assert left == [], f"outputs left behind: {left}"
        assert Path(work / "logs" / "table_phenotypes" / "s1.log").is_file()
