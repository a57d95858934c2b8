"""The front rule with a QuPath annotation: pixels or µm, the written GeoJSON, bad annotations.

The rule runs alone (``--allowed-rules front``) on a small image and a cells / phenotypes
table made here: a tumor disc of radius 250 µm in the middle of a 1 x 1 mm field.
"""

import json

import numpy as np
import pandas as pd
import pytest
import shapely
from runs import make_workdir, snakemake, write_sheet
from shapely.geometry import Point, box, mapping, shape

pytestmark = pytest.mark.timeout(600)

SAMPLE = "s1"
PIXEL_UM = 2.0
SIZE_PX = 500  # 1 mm
CHANNELS = ["DAPI", "PanCK", "CD45", "CD3", "CD8", "CD68", "CD20", "MPO"]
TUMOR = Point(500, 500).buffer(250, quad_segs=64)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Image (header only matters), cells and phenotypes on a jittered lattice: {name: path}."""
    from frontline import io

    folder = tmp_path_factory.mktemp("front inputs")
    image = folder / "s1.ome.tif"
    io.write_image(
        image, np.zeros((len(CHANNELS), SIZE_PX, SIZE_PX), np.uint16), CHANNELS, PIXEL_UM
    )
    rng = np.random.default_rng(0)
    step = 1e3 / np.sqrt(2600)
    g = np.arange(step / 2, 1000, step)
    xy = np.array([(x, y) for x in g for y in g]) + rng.uniform(-0.45, 0.45, (g.size**2, 2)) * step
    xy = np.clip(xy, 0.1, 999.9)
    inside = shapely.contains_xy(TUMOR, xy[:, 0], xy[:, 1])
    ids = np.arange(1, len(xy) + 1)
    cells = pd.DataFrame({"cell_id": ids, "x_um": xy[:, 0], "y_um": xy[:, 1]})
    phen = pd.DataFrame({"cell_id": ids, "phenotype": np.where(inside, "tumor", "other")})
    cells.to_parquet(folder / "cells.parquet", index=False)
    phen.to_parquet(folder / "phenotypes.parquet", index=False)
    return {
        "image": image,
        "cells": folder / "cells.parquet",
        "phenotypes": folder / "phenotypes.parquet",
    }


def run_front(work, inputs, annotation, units=""):
    """Run the front rule for one sample with ``annotation`` (a dict written as GeoJSON)."""
    make_workdir(work)
    ann = work / "tumor annotation.geojson"
    ann.write_text(json.dumps(annotation), encoding="utf-8")
    write_sheet(
        work / "config" / "samples.tsv",
        [
            {
                "sample": SAMPLE,
                "image": inputs["image"],
                "annotation": ann.name,
                "annotation_units": units,
            }
        ],
        columns=("sample", "image", "annotation", "annotation_units"),
    )
    results = work / "results" / SAMPLE
    results.mkdir(parents=True)
    for name in ("cells", "phenotypes"):
        (results / f"{name}.parquet").write_bytes(inputs[name].read_bytes())
    proc = snakemake(work, f"results/{SAMPLE}/tumor.geojson", "--allowed-rules", "front")
    return proc, results


def qupath_export(geom_px, extra=()):
    """A FeatureCollection as QuPath exports it: a classified Tumor annotation (+ extras)."""
    features = [
        {
            "type": "Feature",
            "geometry": mapping(geom_px),
            "properties": {
                "objectType": "annotation",
                "classification": {"name": "Tumor", "color": [200, 0, 0]},
            },
        }
    ]
    for geom, cls in extra:
        features.append(
            {
                "type": "Feature",
                "geometry": mapping(geom),
                "properties": {
                    "objectType": "annotation",
                    "classification": {"name": cls, "color": [0, 0, 200]},
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def test_annotation_in_pixels_becomes_the_tumor_in_both_geojsons(tmp_path, inputs):
    # the annotated tumor is a square in pixels (QuPath's units), plus a stroma annotation
    square_px = box(150, 150, 350, 350)  # 300..700 µm
    proc, results = run_front(
        tmp_path / "work", inputs, qupath_export(square_px, [(box(0, 0, 50, 50), "Stroma")])
    )
    assert proc.returncode == 0, proc.output[-3000:]
    px = json.loads((results / "tumor.geojson").read_text())
    um = json.loads((results / "tumor_um.geojson").read_text())
    assert px["frontline"]["units"] == "px" and um["frontline"]["units"] == "um"
    assert px["frontline"]["pixel_size_um"] == PIXEL_UM
    assert px["frontline"]["tumor_source"] == "annotation"
    tumor_px = [
        shape(f["geometry"])
        for f in px["features"]
        if f["properties"]["classification"]["name"] == "Tumor"
    ]
    tumor_um = [
        shape(f["geometry"])
        for f in um["features"]
        if f["properties"]["classification"]["name"] == "Tumor"
    ]
    assert len(tumor_px) == 1 and tumor_px[0].symmetric_difference(square_px).area < 1.0
    assert tumor_um[0].bounds == pytest.approx((300, 300, 700, 700), abs=0.01)
    front = [
        shape(f["geometry"])
        for f in um["features"]
        if f["properties"]["classification"]["name"] == "Invasive front"
    ]
    assert sum(f.length for f in front) == pytest.approx(1600, rel=0.001)


def test_annotation_in_um_per_the_sample_sheet(tmp_path, inputs):
    proc, results = run_front(tmp_path / "work", inputs, qupath_export(TUMOR), units="um")
    assert proc.returncode == 0, proc.output[-3000:]
    um = json.loads((results / "tumor_um.geojson").read_text())
    assert um["frontline"]["tumor_area_um2"] == pytest.approx(TUMOR.area, rel=0.001)


def test_annotation_outside_the_image_stops_the_rule_with_a_clear_message(tmp_path, inputs):
    # coordinates in µm written as if they were pixels of a 4x finer image: far outside
    far = box(2000, 2000, 2600, 2600)
    proc, results = run_front(tmp_path / "work", inputs, qupath_export(far))
    assert proc.returncode != 0
    text = proc.output
    assert f"sample '{SAMPLE}'" in text and "tumor annotation.geojson" in text
    assert "outside the image" in text and "annotation_units" in text and "Fix:" in text
    assert not (results / "tumor.geojson").exists() and not (results / "tumor_um.geojson").exists()


def test_self_crossing_annotation_stops_the_rule(tmp_path, inputs):
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[100, 100], [300, 300], [300, 100], [100, 300], [100, 100]]],
    }
    proc, results = run_front(tmp_path / "work", inputs, bowtie)
    assert proc.returncode != 0
    assert "not a valid polygon" in proc.output and "Fix:" in proc.output
    assert not (results / "tumor.geojson").exists()


def test_annotation_away_from_the_tumor_cells_is_warned_with_the_overlap(tmp_path, inputs):
    # a square in the field's corner (px): none of the tumor cells, which fill the central disc
    proc, results = run_front(tmp_path / "work", inputs, qupath_export(box(10, 10, 110, 110)))
    assert proc.returncode == 0, proc.output[-3000:]
    log = (tmp_path / "work" / "logs" / "front" / f"{SAMPLE}.log").read_text()
    assert "the tumor annotation disagrees with the tumor cells: 0% of the" in log
    assert "by 0% (intersection / union)" in log and "annotation_units" in log
    um = json.loads((results / "tumor_um.geojson").read_text())
    agreement = um["frontline"]["outline_scale"]["annotation_agreement"]
    assert agreement["tumor_cells_inside"] == 0.0 and agreement["n_tumor_cells"] > 400


@pytest.mark.parametrize(
    "key,value,where,message",
    [
        ("closing_um", 0, "startup", "`front.closing_um`: 0 is less than or equal to the minimum"),
        ("closing_um", -10.0, "startup", "`front.closing_um`: -10.0 is less than or equal"),
        ("closing_um", 5000.0, "startup", "`front.closing_um`: 5000.0 is greater than the maximum"),
        ("tissue_closing_um", 1500.0, "front", "front: tissue_closing_um = 1500.0 is longer than"),
    ],
)
def test_absurd_scale_keys_stop_with_a_clear_error(tmp_path, inputs, key, value, where, message):
    work = tmp_path / "work"
    make_workdir(work, overrides={"front": {key: value}})
    write_sheet(work / "config" / "samples.tsv", [{"sample": SAMPLE, "image": inputs["image"]}])
    results = work / "results" / SAMPLE
    results.mkdir(parents=True)
    for name in ("cells", "phenotypes"):
        (results / f"{name}.parquet").write_bytes(inputs[name].read_bytes())
    proc = snakemake(work, f"results/{SAMPLE}/tumor.geojson", "--allowed-rules", "front")
    assert proc.returncode != 0
    assert message in proc.output, proc.output[-3000:]
    if where == "front":  # the step names the sample and the image size, and writes nothing
        assert f"sample '{SAMPLE}'" in proc.output and "1000 x 1000 µm" in proc.output
        assert not (results / "tumor.geojson").exists()
