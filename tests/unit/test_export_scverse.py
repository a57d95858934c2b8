"""AnnData (frontline.export.scverse): an h5ad that anndata and squidpy open."""

import numpy as np
import pandas as pd
import pytest

from frontline.export import marker_compartments, to_anndata


def test_marker_compartments_follow_the_config_and_fall_back(cell_table):
    columns = list(cell_table.columns)
    assert marker_compartments(columns, {"CD8": "ring"}, "nucleus") == {
        "CD8": "ring",
        "DAPI": "nucleus",
    }


def test_anndata_holds_markers_cells_and_um_coordinates(cell_table, tmp_path):
    import anndata as ad

    adata = to_anndata(
        cell_table,
        pixel_size_um=0.5,
        sample="s1",
        compartments={"CD8": "ring", "DAPI": "nucleus"},
    )
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert back.shape == (3, 2)
    assert back.var_names.tolist() == ["CD8", "DAPI"]
    assert back.var["compartment"].tolist() == ["ring", "nucleus"]
    np.testing.assert_allclose(back.X[:, 1], [10.0, 11.0, 12.0])
    np.testing.assert_allclose(back.X[[0, 2], 0], [7.0, 9.0])
    assert np.isnan(back.X[1, 0])
    np.testing.assert_allclose(back.layers["cell"][:, 0], [4.0, 5.0, 6.0])
    np.testing.assert_allclose(back.obsm["spatial"], [[1.5, 1.0], [6.0, 2.0], [3.0, 4.0]])
    assert back.obs_names.tolist() == ["1", "2", "3"]
    assert back.obs["cell_id"].tolist() == [1, 2, 3]
    assert back.obs["phenotype"].tolist() == ["CD8_T", "tumor", "CD8_T"]
    assert back.obs["region"].tolist() == ["outer_margin", "tumor_core", "stroma"]
    assert back.obs["dist_front_um"].tolist() == [12.5, -150.0, 130.0]
    assert back.uns["sample"] == "s1" and back.uns["pixel_size_um"] == 0.5
    assert list(back.uns["phenotype_colors"]) == ["#e41a1c", "#2ea043"]


def test_squidpy_runs_on_the_exported_anndata(tmp_path):
    import anndata as ad

    sq = pytest.importorskip("squidpy", reason="squidpy is a test extra")

    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame(
        {
            "cell_id": np.arange(1, n + 1),
            "x_um": rng.uniform(0, 500, n),
            "y_um": rng.uniform(0, 500, n),
            "CD8_cell_mean": rng.random(n),
            "DAPI_nucleus_mean": rng.random(n),
        }
    )
    # tumor cells on the left half, CD8 T cells on the right: strongly segregated
    table["phenotype"] = np.where(table["x_um"] < 250, "tumor", "CD8_T")
    table["region"] = "stroma"
    table["dist_front_um"] = table["x_um"] - 250
    path = tmp_path / "cells.h5ad"
    to_anndata(table, 0.5, "s").write_h5ad(path)
    adata = ad.read_h5ad(path)
    sq.gr.spatial_neighbors_radius(adata, radius=30.0)  # µm, as obsm["spatial"]
    zscore, count = sq.gr.nhood_enrichment(
        adata, cluster_key="phenotype", n_perms=50, seed=0, copy=True, show_progress_bar=False
    )
    cats = adata.obs["phenotype"].cat.categories.tolist()
    i, j = cats.index("tumor"), cats.index("CD8_T")
    assert zscore[i, i] > 5 and zscore[j, j] > 5  # each type neighbours its own kind
    assert zscore[i, j] < -5


def test_anndata_of_a_table_without_pixel_size(cell_table):
    adata = to_anndata(cell_table, None, "t1")
    assert "pixel_size_um" not in adata.uns and adata.uns["spatial_unit"] == "um"
    assert adata.n_obs == len(cell_table)
