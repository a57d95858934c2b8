"""Small named cases shared by the tests of frontline.cohort (imported by the test modules)."""

import numpy as np
import pandas as pd

from frontline import config
from frontline.cohort import SampleOutputs
from frontline.spatial import REGIONS, Params

IMMUNE = ("CD8_T", "macrophage")
PARAMS = Params.from_config({"immune_types": list(IMMUNE), "min_cells": 5})
ENRICHMENT_COLUMNS = [
    "phenotype",
    "neighbour_phenotype",
    "observed_pairs",
    "expected_pairs",
    "sd_pairs",
    "zscore",
    "computable",
    "reason",
]
BAND_COLUMNS = ["phenotype", "band_start_um", "band_end_um", "n_cells", "area_mm2"]


def region_table(counts, areas):
    """``region_densities.tsv`` of one image: counts {phenotype: {region: n}}, areas {region:
    mm²} (regions not given have no area and no cells)."""
    rows = []
    for phenotype, by_region in counts.items():
        for region in REGIONS:
            area = areas.get(region, 0.0)
            n = by_region.get(region, 0)
            rows.append(
                {
                    "phenotype": phenotype,
                    "region": region,
                    "n_cells": n,
                    "area_mm2": area,
                    "density_per_mm2": n / area if area > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)


def image(
    rng,
    counts,
    areas,
    call="inflamed",
    has_front=True,
    enrichment=None,
    bands=None,
    near_tumor_um=15.0,
):
    """One image's SampleOutputs with cells placed at random in a 1 mm field: ``counts``
    {phenotype: {region: n}} also sets the cells (region by the sign of dist_front_um: tumor
    core -150 µm, inner margin -50, outer margin +50, stroma +150)."""
    offsets = dict(zip(REGIONS, (-150.0, -50.0, 50.0, 150.0)))
    rows = []
    for phenotype, by_region in counts.items():
        if phenotype == "all_immune":
            continue
        for region, n in by_region.items():
            rows += [(phenotype, offsets[region] if has_front else np.nan)] * int(n)
    phen = np.array([r[0] for r in rows], dtype=object)
    xy = rng.uniform(0, 1000, size=(len(rows), 2))
    cells = pd.DataFrame(
        {
            "x_um": xy[:, 0],
            "y_um": xy[:, 1],
            "phenotype": phen.astype(str),
            "in_tissue": True,
            "dist_front_um": np.array([r[1] for r in rows], dtype=float),
            "dist_nearest_tumor_um": np.where(phen == "tumor", 10.0, near_tumor_um),
        }
    )
    immune = {r: sum(counts.get(t, {}).get(r, 0) for t in IMMUNE) for r in REGIONS}
    counts = {**counts, "all_immune": immune}
    area_total = sum(areas.values())
    summary = {
        "phenotype_call": call,
        "has_front": has_front,
        "tissue_area_mm2": area_total,
        "tumor_area_mm2": areas.get("tumor_core", 0) + areas.get("inner_margin", 0),
        "front_length_um": 1000.0 if has_front else 0.0,
    }
    return SampleOutputs(
        summary=summary,
        region_densities=region_table(counts, areas),
        densities=pd.DataFrame(bands if bands is not None else [], columns=BAND_COLUMNS),
        enrichment=pd.DataFrame(enrichment or [], columns=ENRICHMENT_COLUMNS),
        cells=cells,
    )


def cohort_settings(**overrides):
    return config.section("cohort", **overrides)


def planted_cohort(seed, n_patients=80, n_fields=3, hr_per_sd=0.5, response_slope=1.5):
    """A cohort whose hazard rises with low CD8 density in the tumor core.

    Each patient has a true CD8 tumor-core density d (gamma, mean 160 and SD 80 cells/mm²)
    and an unrelated macrophage density (the same law, independent). Each of ``n_fields``
    fields has a core area of 0.2-0.6 mm² and Poisson counts of both types; the patient's
    feature is the pooled density (total cells / total area). Survival is exponential with
    log-hazard ``log(hr_per_sd) * (d - 160) / 80`` (so the hazard ratio per SD of the density
    is ``hr_per_sd``), censored uniformly (about 30 %); response (R / NR) is logistic in the
    same standardised density with slope ``response_slope``. Age is an unrelated covariate.

    Returns
    -------
    images : one row per field: ``sample, patient, n_cd8, n_macrophage, area_mm2``,
        ``density_per_mm2_tumor_core_CD8_T``, ``density_per_mm2_tumor_core_macrophage``
    clinical : one row per patient, as text: ``patient, os_days, death, response, age``
    """
    rng = np.random.default_rng(seed)
    mean, sd = 160.0, 80.0
    shape, scale = (mean / sd) ** 2, sd**2 / mean
    cd8 = rng.gamma(shape, scale, n_patients)
    mac = rng.gamma(shape, scale, n_patients)
    z = (cd8 - mean) / sd
    hazard = np.exp(np.log(hr_per_sd) * z) / 1000.0
    event_time = rng.exponential(1.0 / hazard)
    censor_time = rng.uniform(0, 4000, n_patients)
    time = np.minimum(event_time, censor_time)
    death = (event_time <= censor_time).astype(int)
    response = np.where(rng.random(n_patients) < 1 / (1 + np.exp(-response_slope * z)), "R", "NR")
    patients = [f"p{i:03d}" for i in range(n_patients)]
    area = rng.uniform(0.2, 0.6, (n_patients, n_fields))
    n_cd8 = rng.poisson(cd8[:, None] * area)
    n_mac = rng.poisson(mac[:, None] * area)
    images = pd.DataFrame(
        {
            "sample": [f"{p}_f{j}" for p in patients for j in range(n_fields)],
            "patient": np.repeat(patients, n_fields),
            "n_cd8": n_cd8.ravel(),
            "n_macrophage": n_mac.ravel(),
            "area_mm2": area.ravel(),
        }
    )
    images["density_per_mm2_tumor_core_CD8_T"] = images["n_cd8"] / images["area_mm2"]
    images["density_per_mm2_tumor_core_macrophage"] = images["n_macrophage"] / images["area_mm2"]
    clinical = pd.DataFrame(
        {
            "patient": patients,
            "os_days": np.round(time, 1),
            "death": death,
            "response": response,
            "age": rng.integers(40, 85, n_patients),
        }
    ).astype(str)
    return images, clinical


def pooled(images):
    """Patient features of :func:`planted_cohort` images: total cells / total area, and a
    call (``inflamed`` from 100 CD8 T cells per mm² of tumor core, else ``desert``)."""
    sums = images.groupby("patient", sort=False)[["n_cd8", "n_macrophage", "area_mm2"]].sum()
    cd8 = sums["n_cd8"] / sums["area_mm2"]
    return pd.DataFrame(
        {
            "patient": sums.index,
            "phenotype_call": np.where(cd8 >= 100, "inflamed", "desert"),
            "density_per_mm2_tumor_core_CD8_T": cd8,
            "density_per_mm2_tumor_core_macrophage": sums["n_macrophage"] / sums["area_mm2"],
        }
    ).reset_index(drop=True)
