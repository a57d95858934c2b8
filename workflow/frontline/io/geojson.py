"""Writing GeoJSON streamed feature by feature (a slide's cell outlines never held as text)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..files import atomic_output


def write_feature_collection(
    path: str | Path, *feature_lists: Iterable[dict], members: Mapping[str, Any] | None = None
) -> int:
    """Write a FeatureCollection, one feature per line, streaming the features as they come.

    Parameters
    ----------
    path : output ``.geojson``
    feature_lists : iterables (lists or generators) of GeoJSON Feature dicts, written in order;
        NaN is refused (it is not JSON)
    members : further top-level members written before the features (e.g. ``{"frontline":
        {"units": "um"}}``)

    Returns
    -------
    int, the number of features written
    """
    n = 0
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", ')
        for key, value in (members or {}).items():
            fh.write(f"{json.dumps(key)}: {json.dumps(value, allow_nan=False)}, ")
        fh.write('"features": [\n')
        for features in feature_lists:
            for feature in features:
                fh.write(
                    (",\n" if n else "")
                    + json.dumps(
                        feature, allow_nan=False, ensure_ascii=False, separators=(",", ":")
                    )
                )
                n += 1
        fh.write("\n]}\n")
    return n
