"""Writers and readers of the analysis steps' files (frontline.io.tables)."""

import json

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import MultiLineString, MultiPolygon, box

from frontline.errors import FrontlineInputError
from frontline.io import tables as outputs
from frontline.regions import Regions


def test_tables_are_tab_separated_with_six_digits_and_na(tmp_path):
    table = pd.DataFrame({"a": [1.0 / 3, np.nan], "b": ["x", "y"]})
    outputs.write_tsv(table, tmp_path / "t.tsv")
    assert (tmp_path / "t.tsv").read_text() == "a\tb\n0.333333\tx\nNA\ty\n"
    outputs.write_tsv(table, tmp_path / "e.tsv", na_rep="")
    assert (tmp_path / "e.tsv").read_text().splitlines()[2] == "\ty"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.tsv", "t.tsv"]  # no partial file


def test_json_is_utf8_and_refuses_nan(tmp_path):
    outputs.write_json({"µm": 1}, tmp_path / "a.json")
    assert (tmp_path / "a.json").read_bytes() == '{\n "µm": 1\n}'.encode()
    outputs.write_json({"µm": 1}, tmp_path / "b.json", indent=2, ensure_ascii=True, end="\n")
    assert (tmp_path / "b.json").read_text() == '{\n  "\\u00b5m": 1\n}\n'
    with pytest.raises(ValueError):
        outputs.write_json({"x": float("nan")}, tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()
    assert outputs.read_json(tmp_path / "a.json") == {"µm": 1}
    (tmp_path / "bad.geojson").write_text("{not json")
    with pytest.raises(FrontlineInputError, match="the annotation is not valid GeoJSON") as err:
        outputs.read_annotation(tmp_path / "bad.geojson", sample="s1")
    assert "QuPath" in str(err.value) and "bad.geojson" in str(err.value)


def test_regions_round_trip_through_their_file(tmp_path):
    regions = Regions(
        tumor=MultiPolygon([box(100, 100, 300, 200)]),
        tissue=MultiPolygon([box(0, 0, 500, 400)]),
        front=MultiLineString([[(100, 100), (300, 100)]]),
        extent_um=(500.0, 400.0),
    )
    outputs.write_regions(regions, tmp_path / "r.geojson", units="px", pixel_size_um=0.5)
    written = json.loads((tmp_path / "r.geojson").read_text())
    assert written["frontline"]["units"] == "px" and len(written["features"]) == 3
    back = outputs.read_regions(tmp_path / "r.geojson", sample="s1")
    assert back.tumor.equals(regions.tumor) and back.front.length == pytest.approx(200.0)


def test_a_gates_table_is_read_as_text_with_its_columns(tmp_path):
    path = tmp_path / "gates.tsv"
    path.write_text("\ufeffmarker\tgate\tmethod\nCD8 \t 400\tgmm\nCD3\t\tundefined\n", "utf-8")
    table = outputs.read_gates_table(path)
    assert list(table.columns) == ["marker", "gate", "method"]
    assert table.to_dict("list") == {
        "marker": ["CD8", "CD3"],
        "gate": ["400", ""],
        "method": ["gmm", "undefined"],
    }
    with pytest.raises(FrontlineInputError, match="the gates table does not exist"):
        outputs.read_gates_table(tmp_path / "none.tsv", sample="s1")
    (tmp_path / "bad.tsv").write_text("gene\tcut\nCD8\t4\n", encoding="utf-8")
    with pytest.raises(FrontlineInputError, match=r"lacks the column\(s\) \['marker', 'gate'\]"):
        outputs.read_gates_table(tmp_path / "bad.tsv")
