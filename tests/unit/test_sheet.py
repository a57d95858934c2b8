"""frontline.sheet: image and cell-table samples, each row giving exactly one source."""

import pytest

from frontline import sheet
from frontline.errors import FrontlineInputError


def write(tmp_path, text):
    path = tmp_path / "samples.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_image_and_table_samples_mix(tmp_path):
    path = write(
        tmp_path,
        "sample\timage\tcells\tcells_format\tcells_rows\n"
        "img1\ta.ome.tif\t\t\t\n"
        "p1\t\tcells.csv.gz\t\tpatient=1\n"
        "h1\t\tcore.csv\thalo\t\n",
    )
    samples = sheet.load_sample_sheet(path)
    assert [sheet.is_cell_table(samples, s) for s in samples.index] == [False, True, True]
    assert [sheet.cells_format(samples, s) for s in ("p1", "h1")] == ["generic", "halo"]
    assert samples.loc["p1", "cells_rows"] == "patient=1"


def test_the_issue_minimal_sheet_reads(tmp_path):
    samples = sheet.load_sample_sheet(write(tmp_path, "sample\tcells\np1\t/data/p1.csv\n"))
    assert samples.loc["p1", "image"] == "" and sheet.cells_format(samples, "p1") == "generic"


@pytest.mark.parametrize(
    ("text", "problem", "sample"),
    [
        ("sample\tpath\ns1\tx.tif\n", "lacks the required column(s) ['image'] (or 'cells'", None),
        ("sample\timage\tcells\ns1\tx.tif\tc.csv\n", "both an image and a cell table", "s1"),
        ("sample\timage\tcells\ns1\t\t\n", "no image path given (and no cell table)", "s1"),
        ("sample\tcells\tcells_format\ns1\tc.csv\tcsv\n", "cells_format 'csv' is not one of", "s1"),
        ("sample\timage\tcells_format\ns1\tx.tif\thalo\n", "but no cell table", "s1"),
        ("sample\tcells\tcells_rows\ns1\tc.csv\t=3\n", "cells_rows '=3' names no column", "s1"),
    ],
)
def test_bad_sources(tmp_path, text, problem, sample):
    with pytest.raises(FrontlineInputError) as err:
        sheet.load_sample_sheet(write(tmp_path, text))
    assert problem in str(err.value) and "Fix: " in str(err.value)
    if sample:
        assert f"sample '{sample}'" in str(err.value)
