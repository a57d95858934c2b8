"""The sample sheet (frontline.sheet): sample names that are safe folder names, pixel sizes,
image and cell-table samples (each row giving exactly one source)."""

import pytest

from frontline import sheet
from frontline.errors import FrontlineInputError


def _sheet(tmp_path, rows, header="sample\timage\tpixel_size_um"):
    path = tmp_path / "samples.tsv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_good_sheet_keeps_its_names_and_fills_the_optional_columns(tmp_path):
    table = sheet.load_sample_sheet(_sheet(tmp_path, ["échantillon_1\ta.tif\t0.5", "b-2\tb.tif\t"]))
    assert list(table.index) == ["échantillon_1", "b-2"]
    assert {"gates", "fluor_map", "truth"} <= set(table.columns)
    assert table.loc["b-2", "gates"] == ""


@pytest.mark.parametrize(
    "name, problem",
    [
        ("..", "'..' is the current or the parent folder"),
        ("a/b", "it holds a path separator"),
        ("a b", "it holds the character(s) [' ']"),
        (".x", "it starts with '.' or '-'"),
    ],
)
def test_a_sample_name_that_cannot_be_a_folder_is_refused(name, problem, tmp_path):
    path = _sheet(tmp_path, [f"{name}\ta.tif\t"])
    with pytest.raises(FrontlineInputError) as err:
        sheet.load_sample_sheet(path)
    text = err.value.message()
    assert text.startswith(f"sample '{name}', file '{path}': the sample name '{name}' cannot be")
    assert problem in text and "Fix: name samples with letters" in text


@pytest.mark.parametrize("size", ["0.01", "20", "1000"])
def test_an_implausible_pixel_size_names_the_sheet(size, tmp_path):
    path = _sheet(tmp_path, [f"s1\ta.tif\t{size}"])
    with pytest.raises(FrontlineInputError) as err:
        sheet.load_sample_sheet(path)
    text = err.value.message()
    assert f"the pixel size {size} µm per pixel (from the sample sheet's pixel_size_um)" in text
    assert text.startswith(f"sample 's1', file '{path}'") and "0.05-5 µm per pixel" in text


@pytest.mark.parametrize("size", ["0.05", "0.2", "0.4977", "5"])
def test_plausible_pixel_sizes_pass(size, tmp_path):
    assert sheet.load_sample_sheet(_sheet(tmp_path, [f"s1\ta.tif\t{size}"])).loc["s1", "image"]


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
