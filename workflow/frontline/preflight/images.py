"""The input images at startup: each opens (metadata), and has what the config asks of it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FrontlineInputError
from .origin import Origin
from .references import check_markers
from .samples import produced_by_workflow

if TYPE_CHECKING:
    import pandas as pd


def check_images(
    samples: pd.DataFrame,
    config: Mapping,
    sheet_path: str | os.PathLike,
    config_files: Origin | list | None = None,
) -> None:
    """Open every existing input image (metadata only) and check what the config asks of it.

    Catches damaged or RGB files, a missing pixel size and channel names that the config uses
    but the image lacks (every marker a config key names, :mod:`.references`) at startup.
    Images that a rule of the workflow makes are checked by the rules that read them.
    ``config`` has its defaults filled in.
    """
    from ..io import open_image

    origin = Origin.of(config_files)
    maps = config["fluor_maps"]
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
