"""Report figures: the overview (composite, cells, front; µm axes) and the cohort figure."""

import io

import numpy as np
import pandas as pd
import pytest
from phenotype_cases import TREE
from shapely.geometry import LineString, box

from frontline.plots import cohort_figure, composite, overview_figure


def test_composite_maps_background_to_black_and_the_brightest_to_the_channel_colour():
    plane = np.full((20, 20), 100.0)
    plane[5, 5] = 1000.0  # one bright pixel above a flat background
    rgb = composite(plane[None], [(1.0, 0.5, 0.0)], percentiles=(50, 100))
    assert rgb.shape == (20, 20, 3)
    np.testing.assert_allclose(rgb[5, 5], [1.0, 0.5, 0.0])
    assert rgb[0, 0].tolist() == [0.0, 0.0, 0.0]


def small_overview():
    """A 3-channel 50 x 80 overview of a 200 x 320 px image at 0.5 µm/px (factor 4)."""
    rng = np.random.default_rng(0)
    image = rng.poisson(100, (3, 50, 80)).astype(np.uint16)
    cells = pd.DataFrame(
        {
            "x_um": rng.uniform(0, 160, 300),
            "y_um": rng.uniform(0, 100, 300),
            "phenotype": rng.choice(["tumor", "CD8_T", "stromal"], 300),
        }
    )
    return image, ["DAPI", "PanCK", "CD8"], cells


def test_overview_has_um_axes_both_panels_and_legends():
    image, channels, cells = small_overview()
    tumor = box(0, 0, 80, 100)
    front = LineString([(80, 0), (80, 100)])
    fig = overview_figure(
        image,
        channels,
        factor=4.0,
        pixel_size_um=0.5,
        cells=cells,
        tumor=tumor,
        front=front,
        title="s1: inflamed",
    )
    left, right = fig.axes
    assert left.get_xlim() == (0.0, 160.0) and left.get_ylim() == (100.0, 0.0)  # y down
    assert right.get_xlabel() == "x (µm)" and left.get_ylabel() == "y (µm)"
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert {"DAPI", "PanCK", "CD8", "invasive front"} <= set(labels)
    counts = cells["phenotype"].value_counts()
    assert f"CD8_T ({counts['CD8_T']})" in labels
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60)
    assert buffer.tell() > 10_000


def test_overview_without_cells_or_front_still_draws():
    image, channels, _ = small_overview()
    fig = overview_figure(image, channels, 4.0, 0.5)
    assert len(fig.axes) == 2


def test_cohort_figure_one_panel_per_type_bars_are_the_densities():
    rows = []
    for sample, scale in (("a", 1.0), ("b", 0.5)):
        for name in ("CD8_T", "B_cell"):
            for j, region in enumerate(("tumor_core", "inner_margin", "outer_margin", "stroma")):
                rows.append(
                    {
                        "sample": sample,
                        "phenotype": name,
                        "region": region,
                        "density_per_mm2": scale * 100 * (j + 1),
                    }
                )
    fig = cohort_figure(
        pd.DataFrame(rows), {"a": "inflamed", "b": "desert"}, types=["CD8_T", "B_cell"]
    )
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["CD8_T", "B_cell"]
    heights = sorted(p.get_height() for p in visible[0].patches)
    assert heights == pytest.approx(sorted([100, 200, 300, 400, 50, 100, 150, 200]))
    ticks = [t.get_text() for t in visible[0].get_xticklabels()]
    assert ticks == ["a\ninflamed", "b\ndesert"]


def test_cells_figure_of_a_table_sample_shows_cells_front_and_counts():
    from frontline.plots import cells_figure

    _, _, cells = small_overview()
    tumor = box(0, 0, 80, 100)
    front = LineString([(80, 0), (80, 100)])
    fig = cells_figure(cells, (160.0, 100.0), tumor, front, title="t1: inflamed")
    (ax,) = fig.axes
    assert ax.get_xlim() == (0.0, 160.0) and ax.get_ylim() == (100.0, 0.0)  # y down, no image
    assert ax.get_xlabel() == "x (µm)" and ax.get_ylabel() == "y (µm)"
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    counts = cells["phenotype"].value_counts()
    assert f"CD8_T ({counts['CD8_T']})" in labels and "invasive front" in labels
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(cells)
    assert not ax.images  # no composite: there is no image


# the DCIS MIBI example's tree (config/examples/mibi_dcis.yaml): the demo's, keratin as PanKRT
DCIS_PHENOTYPES = {**TREE, "tumor": {"positive": ["PanKRT"]}}


def test_overview_composite_of_a_41_channel_panel_shows_the_channels_one_reads_it_by():
    from frontline.errors import FrontlineInputError
    from frontline.plots import overview_channels

    panel = [f"M{i}" for i in range(33)] + [
        "HH3",
        "PanKRT",
        "CD45",
        "CD3",
        "CD8",
        "CD20",
        "CD68",
        "MPO",
    ]
    shown = overview_channels(
        panel, nuclear_channel="HH3", phenotypes=DCIS_PHENOTYPES, tumor_phenotype="tumor"
    )
    assert list(shown) == ["HH3", "PanKRT", "CD45", "CD3", "CD8", "CD20"]
    assert shown["HH3"] == (0.15, 0.35, 1.0) and shown["PanKRT"] == (0.1, 0.9, 0.2)
    assert len(set(shown.values())) == len(shown)  # no colour twice
    chosen = overview_channels(panel, nuclear_channel="HH3", chosen=["HH3", "CD8"])
    assert list(chosen) == ["HH3", "CD8"]
    with pytest.raises(FrontlineInputError, match="not channels of the image"):
        overview_channels(panel, chosen=["DAPI"], sample="s1")
    # drawn: the legend names the six channels only, the title says how many of the panel
    image = np.random.default_rng(1).poisson(5, (len(panel), 40, 40)).astype(np.uint16)
    fig = overview_figure(image, panel, 4.0, 0.5, composite_channels=shown)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == list(shown)
    assert fig.axes[0].get_title() == "pseudo-colour composite (6 of 41 channels)"


def test_overview_shades_the_tumor_outlines_each_nest_and_titles_the_call_with_numbers():
    from shapely.geometry import MultiPolygon

    from frontline.plots import call_title

    image, channels, cells = small_overview()
    nests = MultiPolygon([box(10, 10, 60, 60), box(90, 20, 140, 80)])
    summary = {
        "phenotype_call": "excluded",
        "phenotype_call_confidence": "high",
        "call_phenotype": "CD8_T",
        "call_fraction_infiltrating": 0.08,
        "call_inflamed_min_fraction": 0.3,
        "call_density_per_mm2_tumor": 69.4,
        "call_density_per_mm2_outer_margin": 521.0,
        "call_desert_max_per_mm2": 100.0,
        "call_n_cells": 321,
    }
    title = call_title("s1", summary)
    assert title.startswith("s1: excluded (high confidence)")
    assert "CD8_T: 8% infiltrating (inflamed from 30%)" in title
    assert "69/mm² in the tumor, 521/mm² in the outer margin" in title and "n = 321" in title
    fig = overview_figure(image, channels, 4.0, 0.5, cells, nests, nests.boundary, title=title)
    left, right = fig.axes
    assert len(right.patches) == 2 and len(left.patches) == 2  # one shaded patch per nest
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "tumor (2 nests)" in labels
    assert fig.texts[0].get_text() == title
    no_front = call_title("s2", {"phenotype_call": "no_front", "phenotype_call_reason": "no tumor"})
    assert no_front == "s2: no_front\n(no tumor)"
