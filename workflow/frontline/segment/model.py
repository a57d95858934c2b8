"""The nuclei model: loading a StarDist 2D model (shipped, published or a folder) and its settings.

``segmentation.model`` names a folder in ``model_basedir`` (the shipped ``frontline_nuclei``,
works offline), one of StarDist's published models (downloaded once), or a model folder path.
:func:`configured_model` loads the one a config section names.
"""

from __future__ import annotations

import contextlib
import io as _stdio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FrontlineInputError

log = logging.getLogger(__name__)

PUBLISHED_HINT = (
    "set `segmentation.model: frontline_nuclei` (the model shipped in "
    "resources/models, works offline)"
)


# ----------------------------------------------------------------------------- the model


@dataclass
class SegmentationModel:
    """A loaded StarDist model and what frontline needs to apply it.

    Attributes
    ----------
    stardist : stardist.models.StarDist2D
    name : str, as given in the config
    source : "shipped" | "published" | "path"
    pixel_size_um : float or None, µm per pixel the model expects (None: images are not rescaled)
    prob_thresh, nms_thresh : float, the thresholds used (config, else the model's)
    """

    stardist: object
    name: str
    source: str
    pixel_size_um: float | None
    prob_thresh: float
    nms_thresh: float
    precision: str = "float32"
    _network: object = field(default=None, repr=False)

    @property
    def grid(self) -> tuple[int, int]:
        """Subsampling of the network's output, (gy, gx)."""
        return tuple(int(g) for g in self.stardist.config.grid)

    @property
    def n_rays(self) -> int:
        return int(self.stardist.config.n_rays)

    @property
    def network(self) -> Callable:
        """The network as one traced function of a (1, h, w, 1) float32 batch -> (prob, dist).

        With ``precision == "bfloat16"`` the layers compute in bfloat16 (float32 weights and
        outputs): about twice as fast on CPUs with AVX512-BF16 or AMX, probabilities within
        ~0.03 of float32.
        """
        if self._network is None:
            import tensorflow as tf

            keras_model = self.stardist.keras_model
            if self.precision == "bfloat16":
                keras_model = _bfloat16_clone(keras_model)
            self._network = tf.function(
                lambda x: tuple(
                    tf.cast(t, tf.float32) for t in keras_model([x], training=False)[:2]
                ),
                input_signature=[tf.TensorSpec([1, None, None, 1], tf.float32)],
            )
        return self._network

    @property
    def div_by(self) -> int:
        """Tile edges the network accepts without padding are multiples of this."""
        config = self.stardist.config
        return int(config.unet_pool[0] ** config.unet_n_depth * config.grid[0])


def _bfloat16_clone(keras_model: Any) -> Any:
    """A copy of a Keras model whose layers compute in bfloat16 (weights stay float32)."""
    import keras

    def clone(layer):
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(keras_model, clone_function=clone)
    copy.set_weights(keras_model.get_weights())
    return copy


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bfloat16`` on a CPU that computes it natively (and no GPU), else float32."""
    if precision in ("float32", "bfloat16"):
        return precision
    if precision != "auto":
        raise FrontlineInputError(
            f"segmentation.precision is '{precision}'", fix="use auto, float32 or bfloat16"
        )
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "float32"
    return "bfloat16" if cpu_has_bfloat16() else "float32"


def set_threads(n: int) -> None:
    """Let TensorFlow use ``n`` threads (a job's share of a cluster node); call before loading."""
    import tensorflow as tf

    n = max(1, int(n))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TensorFlow already initialised in this process: keep its setting
        log.info("TensorFlow is already initialised; its thread count stays as it is")


def models_folder(basedir: str | Path, workflow_dir: str | Path) -> str:
    """``segmentation.model_basedir`` as a run reads it.

    A relative folder is read from the working folder when it is there, else from the
    workflow's own folder: the shipped models travel with the Snakefile, so a run in another
    folder (``snakemake --directory``, a project folder) finds them.

    Parameters
    ----------
    basedir : the config's ``segmentation.model_basedir``
    workflow_dir : the folder of the Snakefile

    Returns
    -------
    str, the folder (unchanged when it is absolute, exists, or is in neither place)
    """
    path = Path(basedir)
    if path.is_absolute() or path.is_dir() or not (Path(workflow_dir) / path).is_dir():
        return str(basedir)
    return str(Path(workflow_dir) / path)


def expected_pixel_size(settings: Mapping[str, Any]) -> tuple[float | None, str]:
    """The µm per pixel a ``segmentation`` section's model expects, without loading it.

    Returns
    -------
    (pixel size or None, where it came from): ``segmentation.model_pixel_size_um``, else the
    model folder's ``frontline.json``, else None (a published model: no rescaling)
    """
    if settings["model_pixel_size_um"] is not None:
        return float(
            settings["model_pixel_size_um"]
        ), "the config's segmentation.model_pixel_size_um"
    spec = str(settings["model"]).strip()
    for folder in (Path(spec).expanduser(), Path(settings["model_basedir"] or "") / spec):
        meta = folder / "frontline.json"
        if spec and meta.is_file():
            try:
                size = json.loads(meta.read_text(encoding="utf-8")).get("pixel_size_um")
                return (None if size is None else float(size)), str(meta)
            except (ValueError, AttributeError, TypeError):
                return None, str(meta)  # the segment rule reports a broken file
    return None, "the model (no frontline.json)"


def published_models() -> list[str]:
    """Names (and aliases) of StarDist's published 2D models."""
    from csbdeep.models.pretrained import get_registered_models
    from stardist.models import StarDist2D

    names, aliases = get_registered_models(StarDist2D, return_aliases=True, verbose=False)
    return list(names) + [a for key in names for a in aliases.get(key, ())]


def load_model(
    spec: str,
    basedir: str | Path | None = "resources/models",
    *,
    prob_thresh: float | None = None,
    nms_thresh: float | None = None,
    pixel_size_um: float | None = None,
    precision: str = "float32",
    sample: str | None = None,
) -> SegmentationModel:
    """Load a StarDist 2D nuclei model from the config's ``segmentation.model``.

    Parameters
    ----------
    spec : str, one of
        - a folder in ``basedir`` (a shipped model, e.g. ``frontline_nuclei``),
        - a published StarDist name (``2D_versatile_fluo``; downloaded once, needs internet),
        - a path to a StarDist model folder (config.json, thresholds.json, weights*.h5).
    basedir : folder of shipped models
    prob_thresh, nms_thresh : float or None; None takes the model's thresholds.json
    pixel_size_um : float or None, µm per pixel the model expects; overrides the model's
        ``frontline.json``. None for a model without one: images are not rescaled.
    precision : "float32" (StarDist's numbers), "bfloat16" (faster on CPUs with AVX512-BF16
        or AMX) or "auto" (bfloat16 where the CPU computes it natively)
    sample : sample name, for error messages

    Returns
    -------
    SegmentationModel
    """
    spec = str(spec).strip()
    if not spec:
        raise FrontlineInputError(
            "`segmentation.model` is empty", sample=sample, fix=PUBLISHED_HINT
        )
    shipped = Path(basedir) / spec if basedir else None
    as_path = Path(spec).expanduser()
    looks_like_path = "/" in spec or "\\" in spec or spec.startswith(".") or as_path.is_absolute()
    if as_path.is_dir() and looks_like_path:
        model = _load_folder(as_path, spec, "path", prob_thresh, nms_thresh, pixel_size_um, sample)
    elif shipped is not None and shipped.is_dir():
        model = _load_folder(
            shipped, spec, "shipped", prob_thresh, nms_thresh, pixel_size_um, sample
        )
    elif as_path.is_dir():
        model = _load_folder(as_path, spec, "path", prob_thresh, nms_thresh, pixel_size_um, sample)
    elif not looks_like_path and spec in published_models():
        model = _load_published(spec, prob_thresh, nms_thresh, pixel_size_um, sample)
    elif looks_like_path:
        raise FrontlineInputError(
            f"the model folder '{spec}' does not exist",
            sample=sample,
            file=spec,
            fix="set `segmentation.model` to an existing StarDist "
            "model folder, or " + PUBLISHED_HINT,
        )
    else:
        where = f"in '{basedir}'" if basedir else "(no `model_basedir` set)"
        raise FrontlineInputError(
            f"the model '{spec}' is not a folder {where}, not a folder path and not a published "
            f"StarDist model (published: {published_models()})",
            sample=sample,
            file=shipped if shipped is not None else spec,
            fix="check `segmentation.model` and `segmentation.model_basedir`, or " + PUBLISHED_HINT,
        )
    model.precision = resolve_precision(precision)
    log.info("network precision: %s", model.precision)
    return model


def _load_folder(folder, spec, source, prob_thresh, nms_thresh, pixel_size_um, sample):
    from stardist.models import StarDist2D

    fix = (
        "point `segmentation.model` at a folder written by StarDist (config.json, "
        "thresholds.json, weights_best.h5), or " + PUBLISHED_HINT
    )
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FrontlineInputError(
            "the model folder has no config.json, so it is not a StarDist model",
            sample=sample,
            file=folder,
            fix=fix,
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise FrontlineInputError(
            f"the model's config.json is not valid JSON ({err})",
            sample=sample,
            file=config_file,
            fix=fix,
        ) from None
    if not isinstance(config, dict) or "n_rays" not in config or config.get("n_dim", 2) != 2:
        raise FrontlineInputError(
            "config.json does not describe a StarDist 2D model (no n_rays, or not 2D)",
            sample=sample,
            file=config_file,
            fix=fix,
        )
    if int(config.get("n_channel_in", 1)) != 1:
        raise FrontlineInputError(
            f"the model expects {config.get('n_channel_in')} input channels; nuclei segmentation "
            "feeds it one (the nuclear channel)",
            sample=sample,
            file=config_file,
            fix="use a single-channel fluorescence model, or " + PUBLISHED_HINT,
        )
    weights = sorted(list(folder.glob("*.h5")) + list(folder.glob("*.hdf5")))
    if not weights:
        raise FrontlineInputError(
            "the model folder has no weights (*.h5)", sample=sample, file=folder, fix=fix
        )
    try:
        model = _quiet(StarDist2D, None, name=folder.name, basedir=str(folder.parent))
    except Exception as err:  # noqa: BLE001 - any failure here means a broken model folder
        raise FrontlineInputError(
            f"StarDist cannot load the model ({type(err).__name__}: {err})",
            sample=sample,
            file=folder,
            fix=fix,
        ) from None
    expected = pixel_size_um
    meta_file = folder / "frontline.json"
    if expected is None and meta_file.is_file():
        try:
            expected = json.loads(meta_file.read_text(encoding="utf-8")).get("pixel_size_um")
        except (ValueError, AttributeError) as err:
            raise FrontlineInputError(
                f"frontline.json is not valid ({err})",
                sample=sample,
                file=meta_file,
                fix='write {"pixel_size_um": <µm>}',
            ) from None
    return _finish(model, spec, source, expected, prob_thresh, nms_thresh, sample, folder)


def _load_published(name, prob_thresh, nms_thresh, pixel_size_um, sample):
    from stardist.models import StarDist2D

    try:
        model = _quiet(StarDist2D.from_pretrained, name)
    except Exception as err:  # noqa: BLE001 - keras raises a bare Exception for a failed fetch
        raise FrontlineInputError(
            f"the published StarDist model '{name}' is not cached and cannot be downloaded "
            f"({type(err).__name__}: {str(err)[:200]})",
            sample=sample,
            fix="connect to the internet once (the model is cached in ~/.keras/models), or "
            + PUBLISHED_HINT,
        ) from None
    if model is None:
        raise FrontlineInputError(
            f"StarDist has no published model '{name}'", sample=sample, fix=PUBLISHED_HINT
        )
    if int(model.config.n_channel_in) != 1:
        raise FrontlineInputError(
            f"the published model '{name}' expects {model.config.n_channel_in} input channels; "
            "nuclei segmentation feeds it one (the nuclear channel)",
            sample=sample,
            fix="use '2D_versatile_fluo', or " + PUBLISHED_HINT,
        )
    return _finish(model, name, "published", pixel_size_um, prob_thresh, nms_thresh, sample, None)


def _finish(model, spec, source, expected, prob_thresh, nms_thresh, sample, folder):
    if expected is not None:
        try:
            expected = float(expected)
        except (TypeError, ValueError):
            expected = float("nan")
        if not expected > 0:
            raise FrontlineInputError(
                "the model's expected pixel size is not a positive number",
                sample=sample,
                file=folder,
                fix="set `segmentation.model_pixel_size_um` (µm per pixel)",
            )
    prob = model.thresholds.prob if prob_thresh is None else prob_thresh
    nms = model.thresholds.nms if nms_thresh is None else nms_thresh
    log.info(
        "model %s (%s%s): prob_thresh %.3f, nms_thresh %.2f, pixel size %s",
        spec,
        source,
        f", {folder}" if folder is not None else "",
        prob,
        nms,
        "not set (no rescaling)" if expected is None else f"{expected:g} µm",
    )
    return SegmentationModel(model, spec, source, expected, float(prob), float(nms))


def _quiet(func: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a StarDist loader, sending what it prints to the log instead of stdout."""
    out = _stdio.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            return func(*args, **kwargs)
    finally:
        for line in out.getvalue().splitlines():
            if line.strip():
                log.info("stardist: %s", line.strip())


def configured_model(
    settings: Mapping[str, Any], *, threads: int | None = None, sample: str | None = None
) -> SegmentationModel:
    """The model a ``segmentation`` config section names, with its thresholds and precision.

    Parameters
    ----------
    settings : the ``segmentation`` section (``frontline.config.section("segmentation")``, or
        a rule's params with its keys): ``model``, ``model_basedir``, ``prob_thresh``,
        ``nms_thresh``, ``model_pixel_size_um``, ``precision``
    threads : TensorFlow threads (a job's share of a node); None keeps TensorFlow's default
    sample : sample name, for error messages
    """
    if threads is not None:
        set_threads(threads)
    return load_model(
        settings["model"],
        settings["model_basedir"],
        prob_thresh=settings["prob_thresh"],
        nms_thresh=settings["nms_thresh"],
        pixel_size_um=settings["model_pixel_size_um"],
        precision=settings["precision"],
        sample=sample,
    )
