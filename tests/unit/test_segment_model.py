"""The nuclei model (frontline.segment.model): precision, and models that cannot be loaded."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from frontline import segment as sg
from frontline.errors import FrontlineInputError

ROOT = Path(__file__).resolve().parents[2]


def test_auto_precision_follows_the_cpu():
    assert sg.resolve_precision("float32") == "float32"
    expected = "bfloat16" if sg.cpu_has_bfloat16() else "float32"
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        expected = "float32"
    assert sg.resolve_precision("auto") == expected
    with pytest.raises(FrontlineInputError, match="precision"):
        sg.resolve_precision("fp8")


def test_missing_model_folder(tmp_path):
    with pytest.raises(FrontlineInputError) as err:
        sg.load_model(str(tmp_path / "models" / "mine"), sample="s1")
    assert "does not exist" in str(err.value) and "frontline_nuclei" in str(err.value)
    with pytest.raises(FrontlineInputError) as err:
        sg.load_model("no_such_model", tmp_path)
    assert "no_such_model" in str(err.value) and "2D_versatile_fluo" in str(err.value)


def test_folder_that_is_not_a_stardist_model(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    with pytest.raises(FrontlineInputError, match="no config.json"):
        sg.load_model(str(folder))
    (folder / "config.json").write_text('{"n_rays": 32, "n_dim": 2, "n_channel_in": 1}')
    with pytest.raises(FrontlineInputError, match="no weights"):
        sg.load_model(str(folder))
    (folder / "config.json").write_text('{"layers": 3}')
    with pytest.raises(FrontlineInputError, match="not describe a StarDist 2D model"):
        sg.load_model(str(folder))
    (folder / "config.json").write_text('{"n_rays": 32, "n_dim": 2, "n_channel_in": 1}')
    (folder / "weights_best.h5").write_bytes(b"not hdf5")
    with pytest.raises(FrontlineInputError, match="StarDist cannot load the model"):
        sg.load_model(str(folder))


def test_published_model_without_network_suggests_the_shipped_one(tmp_path):
    """No cached copy (empty KERAS_HOME) and no route out (proxy on a closed port)."""
    env = dict(
        os.environ,
        KERAS_HOME=str(tmp_path / "keras"),
        TF_CPP_MIN_LOG_LEVEL="3",
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        PYTHONPATH=str(ROOT / "workflow"),
    )
    code = (
        "from frontline.segment import load_model\n"
        "from frontline.errors import FrontlineInputError\n"
        "try:\n    load_model('2D_versatile_fluo', sample='s1')\n"
        "except FrontlineInputError as e:\n    print('ERROR:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("ERROR:")]
    assert line, out.stdout + out.stderr
    assert "2D_versatile_fluo" in line[0] and "cannot be downloaded" in line[0]
    assert "frontline_nuclei" in line[0] and "s1" in line[0]


def test_shipped_models_are_found_from_another_working_folder(tmp_path, monkeypatch):
    """A relative model_basedir: the working folder's when it has one, else the workflow's."""
    workflow_dir = tmp_path / "checkout"
    (workflow_dir / "resources" / "models").mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    assert sg.models_folder("resources/models", workflow_dir) == str(
        workflow_dir / "resources" / "models"
    )
    (project / "resources" / "models").mkdir(parents=True)
    assert sg.models_folder("resources/models", workflow_dir) == "resources/models"
    assert sg.models_folder("elsewhere", workflow_dir) == "elsewhere"  # in neither: unchanged
    assert sg.models_folder(str(tmp_path), workflow_dir) == str(tmp_path)
