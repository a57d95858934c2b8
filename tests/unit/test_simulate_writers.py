"""Files of simulated samples (frontline.simulate.writers): determinism, the file contract,
big slides written tile by tile."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import tifffile

from frontline import io, simulate

PS = 0.5


# --- determinism and the file contract ---------------------------------------------------


def test_same_seed_gives_identical_files(tmp_path):
    sims = [simulate.simulate_tissue("excluded", (512, 512), PS, seed=3) for _ in range(2)]
    a, b = (
        {key: Path(f) for key, f in simulate.sample_files(tmp_path / str(k) / "s").items()}
        for k in range(2)
    )
    for sim, files in zip(sims, (a, b)):
        simulate.write_simulation(sim, files)
    assert np.array_equal(tifffile.imread(a["image"]), tifffile.imread(b["image"]))
    assert np.array_equal(io.read_labels(a["nuclei"])[0], io.read_labels(b["nuclei"])[0])
    assert a["cells"].read_bytes() == b["cells"].read_bytes()
    assert a["tumor"].read_bytes() == b["tumor"].read_bytes()
    other = simulate.simulate_tissue("excluded", (512, 512), PS, seed=4)
    assert not np.array_equal(other.image, sims[0].image)


def test_written_files_follow_the_contract(tmp_path):
    sim = simulate.simulate_tissue("inflamed", (512, 512), PS, seed=1)
    paths = {k: Path(v) for k, v in simulate.sample_files(tmp_path / "demo").items()}
    simulate.write_simulation(sim, paths)
    assert {p.name for p in tmp_path.iterdir()} == {
        "demo.ome.tif",
        "demo.truth_nuclei.ome.tif",
        "demo.truth_cells.parquet",
        "demo.truth_tumor.geojson",
    }
    with tifffile.TiffFile(paths["image"]) as tif:
        assert tif.series[0].shape == (8, 512, 512)
        meta = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert [c["Name"] for c in meta["Channel"]] == list(simulate.CHANNELS)
        assert float(meta["PhysicalSizeX"]) == PS
    labels, pixel_size = io.read_labels(paths["nuclei"])
    assert labels.dtype == np.uint32 and pixel_size == PS
    cells = pd.read_parquet(paths["cells"])
    assert list(cells.columns) == ["cell_id", "x_um", "y_um", "phenotype", "dist_front_um"]
    assert set(cells["phenotype"]) <= set(simulate.PHENOTYPES)
    geo = json.loads(paths["tumor"].read_text(encoding="utf-8"))
    props = geo["features"][0]["properties"]
    assert props["objectType"] == "annotation"
    assert props["classification"] == {"name": "Tumor", "color": [200, 0, 0]}
    assert props["coordinate_unit"] == "µm"
    # the truth files are what a sample sheet's `truth` prefix names
    assert simulate.truth_files(str(tmp_path / "demo")) == {
        k: str(v) for k, v in paths.items() if k != "image"
    }
    polygon = shapely.geometry.shape(geo["features"][0]["geometry"])
    assert abs(polygon.area - sim.tumor.area) < 1e-6 * sim.tumor.area


# --- large slides ------------------------------------------------------------------------


def test_large_slide_tiles_are_seamless(tmp_path):
    shape = (1024, 1536)
    for tile in (512, 1024):
        simulate.write_large_slide(
            tmp_path / f"s{tile}.ome.tif",
            shape,
            seed=2,
            tile_px=tile,
            labels_path=tmp_path / f"l{tile}.ome.tif",
            store_tile_px=256,
            min_level_px=256,
        )
    small, large = (io.read_labels(tmp_path / f"l{t}.ome.tif")[0] for t in (512, 1024))
    assert np.array_equal(small, large) and (small > 0).mean() > 0.1
    a = tifffile.imread(tmp_path / "s512.ome.tif")
    b = tifffile.imread(tmp_path / "s1024.ome.tif")
    assert a.shape == (8, 1024, 1536)
    # only shot and read noise differ: means agree per channel within 1 %
    assert np.allclose(a.mean(axis=(1, 2)), b.mean(axis=(1, 2)), rtol=0.01)
    # tiled differently, the images differ by noise only: no seam along any row or column
    diff = a[0].astype(float) - b[0].astype(float)
    assert np.abs(diff.mean(axis=0)).max() < 5 and np.abs(diff.mean(axis=1)).max() < 5
    with tifffile.TiffFile(tmp_path / "s512.ome.tif") as tif:
        series = tif.series[0]
        assert len(series.levels) >= 2 and series.levels[1].shape == (8, 512, 768)
        meta = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
        assert [c["Name"] for c in meta["Channel"]] == list(simulate.CHANNELS)
        assert float(meta["PhysicalSizeX"]) == PS


def test_large_slide_memory_does_not_grow_with_slide_size(tmp_path, repo_root):
    """After one single-tile slide, a 9-tile slide raises peak RSS by far less than its size."""
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(repo_root / "workflow")!r})
        from frontline import simulate
        simulate.write_large_slide({str(tmp_path / "one.ome.tif")!r}, (512, 512), seed=1,
                                   tile_px=512, labels_path={str(tmp_path / "one_l.ome.tif")!r},
                                   store_tile_px=256, min_level_px=128)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        simulate.write_large_slide({str(tmp_path / "big.ome.tif")!r}, (1536, 1536), seed=1,
                                   tile_px=512, labels_path={str(tmp_path / "big_l.ome.tif")!r},
                                   store_tile_px=256, min_level_px=128)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) * 1024)
    """)
    env = dict(os.environ, MALLOC_ARENA_MAX="1", OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    growth = int(out.stdout.split()[-1])
    full = 1536 * 1536 * (8 * 2 + 4)  # image + labels, bytes
    assert growth < 0.2 * full, f"peak RSS grew by {growth / 2**20:.0f} MiB"
    assert tifffile.imread(tmp_path / "big.ome.tif").shape == (8, 1536, 1536)
