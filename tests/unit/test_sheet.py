"""The sample sheet (frontline.sheet): sample names that are safe folder names, pixel sizes."""

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
