"""The input images at startup: each opens (metadata), has what the config asks of it, a
pixel size the model can be rescaled to, and finite pixels where it is sampled."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FrontlineInputError
from ..io import NONFINITE_FIX, nonfinite_counts, open_image
from .origin import Origin
from .references import check_markers
from .samples import produced_by_workflow

if TYPE_CHECKING:
    import pandas as pd

SAMPLES = 16  # sample windows per channel read at startup (256 px each)


def check_images(
    samples: pd.DataFrame,
    config: Mapping,
    sheet_path: str | os.PathLike,
    config_files: Origin | list | None = None,
) -> None:
    """Open every existing input image (metadata, and a sample of a float image's pixels) and
    check what the config asks of it.

    Catches damaged or RGB files, a missing or implausible pixel size (naming its source), a
    rescale to the model's pixel size that cannot work, channel names that the config uses
    but the image lacks (every marker a config key names, :mod:`.references`) and NaN or
    infinite pixels in a sample of every channel (:func:`check_pixel_values`) at startup.
    Images that a rule of the workflow makes are checked by the rules that read them.
    ``config`` has its defaults filled in.
    """
    from ..segment import check_rescale, expected_pixel_size

    origin = Origin.of(config_files)
    maps = config["fluor_maps"]
    model_size, model_from = expected_pixel_size(config["segmentation"])
    for sample, row in samples.iterrows():
        path = str(row.get("image", "") or "").strip()
        if not path or produced_by_workflow(path, config) or not Path(path).exists():
            continue
        size = str(row.get("pixel_size_um", "") or "").strip()
        fluor_key = str(row.get("fluor_map", "") or "").strip()
        if fluor_key and fluor_key not in maps:
            raise FrontlineInputError(
                f"fluor_map '{fluor_key}' is not a key of config `fluor_maps` {list(maps)}",
                sample=sample,
                file=sheet_path,
                fix="add the map under `fluor_maps:` or fix the sheet",
            )
        with open_image(
            path,
            sample=sample,
            pixel_size_um=float(size) if size else None,
            default_pixel_size_um=config["pixel_size_um"],
            channel_names=config["channel_names"],
            fluor_map=maps.get(fluor_key) if fluor_key else None,
        ) as img:
            channels = list(img.channels)  # open_image raised if no pixel size is known
            check_markers(config, channels, origin, sample=sample, file=path)
            if model_size is not None:
                check_rescale(
                    img.pixel_size_um,
                    model_size,
                    image_from=img.pixel_size_from,
                    model_from=model_from,
                    sample=sample,
                    file=path,
                )
            check_pixel_values(img, sample=sample, file=path)


def check_pixel_values(
    img: Any, *, sample: str | None = None, file: str | None = None, count: int = SAMPLES
) -> None:
    """No channel of a float image has NaN or infinite pixels in a grid of sample windows.

    The same grid as the nuclear channel's normalisation, ``count`` windows of 256 px per
    channel; the rules that read the image check every window they read
    (:func:`frontline.io.require_finite`), so what the sample misses stops the rule instead.
    The message gives each channel's share of such pixels in the sample.
    """
    if np.dtype(img.dtype).kind not in "fc":
        return  # integer pixels are always finite
    from ..segment import sample_windows

    windows = sample_windows(img.shape, 256, count)
    found = []
    for channel in img.channels:
        nan = inf = total = 0
        for window in windows:
            plane = img.read(channel, window, check_finite=False)
            n_nan, n_inf = nonfinite_counts(plane)
            nan, inf, total = nan + n_nan, inf + n_inf, total + plane.size
        if nan or inf:
            share = 100 * (nan + inf) / total
            found.append(f"'{channel}' {share:.3g}% ({nan} NaN, {inf} infinite)")
    if found:
        raise FrontlineInputError(
            f"the image has NaN or infinite pixels in {len(found)} channel(s), as shares of "
            f"{len(windows)} sample window(s) each: {'; '.join(found)}",
            sample=sample,
            file=file,
            fix=NONFINITE_FIX,
        )
