"""frontline.io GeoJSON writing: a FeatureCollection streamed feature by feature."""

import json

import pytest

from frontline import io


def features(n, kind):
    for i in range(n):
        yield {"type": "Feature", "geometry": None, "properties": {"kind": kind, "i": i}}


def test_feature_collection_is_streamed_one_feature_per_line(tmp_path):
    path = tmp_path / "out" / "cells.geojson"
    n = io.write_feature_collection(path, [{"type": "Feature", "geometry": None}], features(3, "µ"))
    assert n == 4
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 6  # header, four features, footer
    data = json.loads(text)
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 4
    assert [f["properties"]["i"] for f in data["features"][1:]] == [0, 1, 2]
    assert "µ" in text  # written as UTF-8, not escaped


def test_nan_is_refused_and_leaves_no_file(tmp_path):
    path = tmp_path / "bad.geojson"
    bad = {"type": "Feature", "geometry": None, "properties": {"x": float("nan")}}
    with pytest.raises(ValueError):
        io.write_feature_collection(path, [bad])
    assert not path.exists() and not list(tmp_path.iterdir())
