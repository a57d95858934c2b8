"""`snakemake download` against an HTTP server on 127.0.0.1 (the ``http_server`` fixture):
verified files appear, a wrong checksum stops the run and leaves nothing."""

import hashlib

import pytest
from runs import make_workdir, snakemake

pytestmark = pytest.mark.timeout(300)

FILES = {"DAPI.tif": b"nuclei" * 1000, "CD8.tif": b"t cells" * 1000}


@pytest.fixture(scope="module")
def server(tmp_path_factory, http_server):
    root = tmp_path_factory.mktemp("served")
    (root / "point1").mkdir()
    for name, data in FILES.items():
        (root / "point1" / name).write_bytes(data)
    (root / "slide.ome.tif").write_bytes(b"slide" * 1000)
    return http_server(root)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def setup(work, server, slide_sha256):
    download = {
        "folders": {
            "data/point1": {
                "url": f"{server}/point1",
                "files": {name: {"sha256": sha(data)} for name, data in FILES.items()},
            }
        },
        "files": {"data/slide.ome.tif": {"url": f"{server}/slide.ome.tif", "sha256": slide_sha256}},
    }
    rows = [
        {"sample": "p1", "image": "data/point1", "pixel_size_um": "0.5"},
        {"sample": "s1", "image": "data/slide.ome.tif"},
    ]
    return make_workdir(work, rows=rows, overrides={"download": download})


def test_download_verifies_and_places_files(server, tmp_path):
    work = setup(tmp_path / "work", server, sha(b"slide" * 1000))
    proc = snakemake(work, "download", timeout_s=240, check=True)
    for name, data in FILES.items():
        assert (work / "data" / "point1" / name).read_bytes() == data
    assert (work / "data" / "slide.ome.tif").read_bytes() == b"slide" * 1000
    assert sorted(p.name for p in (work / "data").iterdir()) == ["point1", "slide.ome.tif"]
    assert "download_folder" in proc.output and "download_file" in proc.output


def test_checksum_mismatch_stops_and_keeps_nothing(server, tmp_path):
    wrong = "ab" * 32
    work = setup(tmp_path / "work", server, wrong)
    proc = snakemake(work, "download", timeout_s=240)
    assert proc.returncode != 0
    text = " ".join(proc.output.split())
    assert (
        f"checksum mismatch for {server}/slide.ome.tif: expected sha256 {wrong}, got "
        f"{sha(b'slide' * 1000)}" in text
    ), proc.output[-3000:]
    assert "file 'data/slide.ome.tif'" in text and "Fix: " in text
    leftovers = (
        sorted(str(p.relative_to(work)) for p in (work / "data").rglob("*"))
        if (work / "data").exists()
        else []
    )
    assert "data/slide.ome.tif" not in leftovers
    assert not [p for p in leftovers if p.endswith(".partial")], leftovers


def test_a_bad_checksum_in_the_config_is_refused_at_startup(server, tmp_path):
    work = setup(tmp_path / "work", server, "not-a-checksum")
    proc = snakemake(work, "download", timeout_s=240)
    assert proc.returncode != 0
    assert "download.files.data/slide.ome.tif.sha256" in proc.output, proc.output[-3000:]
    assert not (work / "data").exists()
