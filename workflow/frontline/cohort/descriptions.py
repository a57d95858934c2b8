"""What each feature of ``features.tsv`` is: its unit, how a patient's images pool into it,
and whether the outcome statistics may test it (``feature_descriptions.tsv``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

DESCRIPTIVE = (  # columns that describe a unit; never tested
    "n_images",
    "n_images_with_front",
    "n_cells",
    "tissue_area_mm2",
    "tumor_area_mm2",
    "front_length_um",
    "phenotype_call",
    "image_calls",
    "call_agreement",
)

_DESCRIPTIONS = (  # (pattern of the name, unit, what it pools, what it is)
    (r"n_images", "images", "count", "images of the patient"),
    (r"n_images_with_front", "images", "count", "images with an invasive front"),
    (r"n_cells", "cells", "sum", "cells of the patient's images"),
    (r"n_cells_(?P<t>.+)", "cells", "sum", "{t} cells"),
    (r"tissue_area_mm2", "mm²", "sum", "tissue area"),
    (r"tumor_area_mm2", "mm²", "sum", "tumor area"),
    (r"front_length_um", "µm", "sum", "length of the invasive front"),
    (
        r"phenotype_call",
        "",
        "majority of the images' calls (ties: more tissue)",
        "immune phenotype call (no_front when no image has a front)",
    ),
    (r"image_calls", "", "listing", "the images' calls and how many images had each"),
    (r"call_agreement", "fraction", "images", "share of the images whose call is the patient's"),
    (
        r"density_per_mm2_tissue_(?P<t>.+)",
        "cells/mm²",
        "total cells / total tissue area",
        "{t} cells per mm² of tissue",
    ),
    (
        r"density_per_mm2_(?P<r>tumor_core|inner_margin|outer_margin|stroma)_(?P<t>.+)",
        "cells/mm²",
        "total cells / total area of the region",
        "{t} cells per mm² of {r}",
    ),
    (
        r"ratio_intratumoral_stromal_(?P<t>.+)",
        "ratio",
        "pooled density inside / outside the tumor (images with a front)",
        "{t} density inside the tumor over its density outside it, within the tissue",
    ),
    (
        r"fraction_near_front_(?P<t>.+)",
        "fraction",
        "cells / cells (images with a front)",
        "share of the {t} cells in tissue within spatial.near_front_um of the front",
    ),
    (
        r"median_dist_front_um_(?P<t>.+)",
        "µm",
        "median over the pooled cells",
        "median signed distance of the {t} cells to the front (negative inside the tumor)",
    ),
    (
        r"median_dist_nearest_tumor_um_(?P<t>.+)",
        "µm",
        "median over the pooled cells (images with min_cells tumor cells)",
        "median distance of a {t} cell to its nearest tumor cell",
    ),
    (
        r"mixing_score",
        "ratio",
        "pair counts / pair counts",
        "immune-tumor over immune-immune cell pairs within spatial.mixing_radius_um",
    ),
    (
        r"mixing_score_(?P<t>.+)",
        "ratio",
        "pair counts / pair counts",
        "{t}-tumor over {t}-immune cell pairs within spatial.mixing_radius_um",
    ),
    (
        r"enrichment_z_(?P<a>.+)__(?P<b>.+)",
        "z",
        "(sum observed - sum expected pairs) / sqrt(sum variance)",
        "neighbourhood enrichment of {a}-{b} pairs within spatial.enrichment_radius_um "
        "(positive: closer than random relabelling)",
    ),
)


def describe(columns: Sequence[str]) -> pd.DataFrame:
    """Name, unit, pooling and meaning of each feature column.

    Returns
    -------
    DataFrame ``feature, unit, pooled_as, description, tested`` (tested: not a descriptive
    column; which are tested is decided by ``cohort.features``)
    """
    rows = []
    for name in columns:
        if name in ("patient", "sample"):
            continue
        for pattern, unit, pooled, text in _DESCRIPTIONS:
            match = re.fullmatch(pattern, name)
            if match:
                rows.append(
                    {
                        "feature": name,
                        "unit": unit,
                        "pooled_as": pooled,
                        "description": text.format(**match.groupdict()),
                        "tested": name not in DESCRIPTIVE and not name.startswith("n_cells"),
                    }
                )
                break
        else:
            rows.append(
                {"feature": name, "unit": "", "pooled_as": "", "description": "", "tested": True}
            )
    return pd.DataFrame(rows, columns=["feature", "unit", "pooled_as", "description", "tested"])
