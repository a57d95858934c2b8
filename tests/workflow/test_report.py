"""The HTML report people read: the shared demo run (conftest ``demo_run``), `snakemake
--report`, then a real headless Chromium clicks through every category and result and checks
each figure loads.

Also checks the exports of the same run: the AnnData file opens in anndata and squidpy, and
the QuPath GeoJSON holds one detection per cell with the documented properties.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Browser, find_chromium
from PIL import Image
from runs import DEMO_SAMPLE, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

# Where a copy of the screenshots goes when set (CI artifacts; the README figure).
ARTIFACTS = os.environ.get("FRONTLINE_TEST_ARTIFACTS")


@pytest.fixture(scope="module")
def chromium():
    """(chromium, chromedriver) paths; installs them with apt-get when absent, else skips."""
    browser, driver, reason = find_chromium()
    if reason:
        pytest.skip(reason)
    return browser, driver


@pytest.fixture(scope="module")
def report_run(demo_run, tmp_path_factory):
    """A copy of the shared demo run (whose folder stays untouched) and its HTML report."""
    work = tmp_path_factory.mktemp("report") / "work"
    shutil.copytree(demo_run["dir"], work, symlinks=True)
    snakemake(work, "--report", "report.html", timeout_s=300, check=True)
    return work


WAIT_APP = "return typeof app !== 'undefined' && document.querySelector('nav a') !== null"
SHOWN_IMAGE = """
const img = document.querySelector('#app div.p-3 > img');
const path = app.state.resultPath;
if (!img || !path || img.getAttribute('src') !== results[path].data_uri) return null;
if (!img.complete) return null;
return {path: path, width: img.naturalWidth, height: img.naturalHeight};
"""
ALL_IMAGES_LOADED = """
return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);
"""


def open_report(browser, url):
    browser.get(url)
    browser.wait_for(WAIT_APP)


def click_nav(browser, text):
    browser.click(browser.find("xpath", f"//nav//a[normalize-space()={json.dumps(text)}]"))


def show_every_image(browser, url, screenshots=None):
    """Click through every category, subcategory and image result like a reader.

    Returns
    -------
    dict result path -> (naturalWidth, naturalHeight) of the <img> the report showed
    """
    open_report(browser, url)
    tree = browser.execute(
        "return Object.keys(categories).map(c => [c, Object.keys(categories[c])])"
    )
    shown = {}
    for category, subcategories in tree:
        for subcategory in subcategories:
            open_report(browser, url)  # back to the start page
            click_nav(browser, category)
            if len(subcategories) > 1:  # one subcategory: the report opens it directly
                click_nav(browser, subcategory)
            browser.wait_for("return document.querySelector('nav table tbody tr') !== null")
            # the eye button of an image result shows it in the page (href '#'); of a
            # table, it downloads the file (href = the data URI) and is not clicked
            eyes = "nav table tbody tr a[iconname='eye'][href='#']"
            for i in range(len(browser.find_all("css selector", eyes))):
                browser.click(browser.find_all("css selector", eyes)[i])
                info = browser.wait_for(SHOWN_IMAGE)
                loaded = browser.execute(ALL_IMAGES_LOADED)
                assert all(done and width > 0 for done, width in loaded), (info, loaded)
                shown[info["path"]] = (info["width"], info["height"])
                if screenshots is not None and info["path"] in screenshots:
                    browser.screenshot(screenshots[info["path"]])
    return shown


def test_report_shows_every_figure_of_every_stage(chromium, report_run, tmp_path):
    work = report_run
    report = work / "report.html"
    pngs = sorted(str(p.relative_to(work)) for p in (work / "results").rglob("*.png"))
    expected_figures = {
        f"results/{DEMO_SAMPLE}/plots/overview.png",
        f"results/{DEMO_SAMPLE}/plots/distance_profile.png",
        "results/cohort/summary.png",
    }
    assert expected_figures <= set(pngs)
    assert any("/plots/gating/" in p for p in pngs)

    overview = f"results/{DEMO_SAMPLE}/plots/overview.png"
    shots = {
        overview: tmp_path / "report_overview.png",
        "results/cohort/summary.png": tmp_path / "report_cohort.png",
    }
    with Browser(*chromium, width=1600, height=1000) as browser:
        url = report.as_uri()
        open_report(browser, url)
        results = browser.execute(
            "return Object.fromEntries(Object.entries(results).map("
            "([k, v]) => [k, [v.mime_type, v.caption]]))"
        )
        shown = show_every_image(browser, url, shots)
        open_report(browser, url)
        browser.screenshot(tmp_path / "report_start.png")

    # every figure any rule wrote is in the report, with a caption, and was shown full size
    assert sorted(p for p, (mime, _) in results.items() if mime == "image/png") == pngs
    assert all(caption and caption.strip() for _, caption in results.values())
    assert sorted(shown) == pngs
    for path, size in shown.items():
        with Image.open(work / path) as img:
            assert size == img.size, path
    # the tables people read are in it too
    assert "results/cohort/summary.tsv" in results
    for shot in shots.values():
        with Image.open(shot) as img:
            assert img.width == 1600 and img.height > 600
            # not a blank page: the figure fills part of the window with many colours
            assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 500
    if ARTIFACTS:
        Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
        for shot in list(shots.values()) + [tmp_path / "report_start.png"]:
            shutil.copy(shot, Path(ARTIFACTS) / shot.name)
        shutil.copy(work / overview, Path(ARTIFACTS) / "overview.png")


def test_cohort_table_has_a_row_with_call_densities_and_accuracy(report_run):
    table = pd.read_csv(report_run / "results" / "cohort" / "summary.tsv", sep="\t")
    summary = json.loads((report_run / "results" / DEMO_SAMPLE / "summary.json").read_text())
    assert table["sample"].tolist() == [DEMO_SAMPLE]
    row = table.iloc[0]
    assert row["phenotype_call"] == summary["phenotype_call"]
    assert row["n_cells"] == summary["n_cells"]
    assert row["density_per_mm2_outer_margin_CD8_T"] == pytest.approx(
        summary["density_per_mm2_outer_margin_CD8_T"]
    )
    assert any(c.startswith("segmentation_") for c in table.columns)
    assert any(c.startswith("phenotype_") and c != "phenotype_call" for c in table.columns)


def test_anndata_export_opens_in_squidpy(report_run):
    import anndata as ad

    sq = pytest.importorskip("squidpy", reason="squidpy is a test extra")

    res = report_run / "results" / DEMO_SAMPLE
    adata = ad.read_h5ad(res / "cells.h5ad")
    cells = pd.read_parquet(res / "cells_spatial.parquet")
    assert adata.n_obs == len(cells)
    assert "CD8" in adata.var_names and "DAPI" in adata.var_names
    np.testing.assert_allclose(adata.obsm["spatial"], cells[["x_um", "y_um"]].to_numpy())
    assert adata.uns["sample"] == DEMO_SAMPLE and adata.uns["pixel_size_um"] == 0.5
    for column in ("phenotype", "region", "dist_front_um", "cell_id"):
        assert column in adata.obs
    sq.gr.spatial_neighbors_radius(adata, radius=30.0)
    zscore, _ = sq.gr.nhood_enrichment(
        adata, cluster_key="phenotype", n_perms=20, seed=0, copy=True, show_progress_bar=False
    )
    cats = list(adata.obs["phenotype"].cat.categories)
    tumor = cats.index("tumor")
    assert zscore[tumor, tumor] > 3  # tumor cells cluster in nests


def test_qupath_export_has_one_detection_per_cell_in_pixels(report_run):
    res = report_run / "results" / DEMO_SAMPLE
    data = json.loads((res / "qupath_cells.geojson").read_text())
    cells = pd.read_parquet(res / "cells_spatial.parquet").set_index("cell_id")
    detections = [f for f in data["features"] if f["properties"]["objectType"] == "detection"]
    annotations = [f for f in data["features"] if f["properties"]["objectType"] == "annotation"]
    assert len(detections) == len(cells)
    assert {a["properties"]["classification"]["name"] for a in annotations} >= {
        "Tumor",
        "Invasive front",
    }
    for feature in detections[:50]:
        props = feature["properties"]
        cell = cells.loc[int(props["metadata"]["cell_id"])]
        assert props["classification"]["name"] == cell["phenotype"]
        assert props["metadata"]["region"] == cell["region"]
        assert props["measurements"]["dist_front_um"] == pytest.approx(
            cell["dist_front_um"], rel=1e-5
        )
        # the centre in px (µm / 0.5) lies inside the outline's bounding box
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        cx, cy = cell["x_um"] / 0.5, cell["y_um"] / 0.5
        assert ring[:, 0].min() <= cx <= ring[:, 0].max()
        assert ring[:, 1].min() <= cy <= ring[:, 1].max()
