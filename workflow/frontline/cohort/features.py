"""Patient-level features: the per-sample outputs of a patient's images pooled, then measured.

A patient's images are pooled before any ratio is taken: a density is the patient's cells over
the patient's area (total cells / total mm² of its images, never a mean of per-image
densities), a fraction is cells over cells, a median is over the pooled cells, a mixing score
is pair counts over pair counts, an enrichment z-score is the pooled observed minus expected
pairs over the pooled standard deviation. The same function run with each image as its own
unit gives the per-image table (for the mixed-effects model of :mod:`.groups`).

Inputs per sample (:class:`SampleOutputs`): ``summary.json`` (only ``phenotype_call``,
``has_front``, ``tissue_area_mm2``, ``tumor_area_mm2``, ``front_length_um`` are read, each
optional: the call's evidence keys are not relied on), ``region_densities.tsv``,
``densities.tsv``, ``enrichment.tsv`` and the per-cell ``cells_spatial.parquet`` columns
:data:`CELL_COLUMNS`.

Regions pool as the spatial step defines them: an image without an invasive front has its
tumor as ``tumor_core`` and the rest of its tissue as ``stroma`` (as in its ``summary.json``);
the features that need a front (ratio inside / outside, fraction near the front, distance to
it) pool the images with one.

The features and their units are listed by :func:`describe` (written as
``results/cohort/feature_descriptions.tsv``). A feature a unit cannot have (fewer than
``spatial.min_cells`` cells of a type pooled, no image with a front, no tissue of a region) is
NaN, and its reason is in :attr:`Features.not_computable`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..spatial import ALL_IMMUNE, REGIONS, mixing_scores, not_computable
from ..spatial.params import Params
from .descriptions import describe

CELL_COLUMNS = ("x_um", "y_um", "phenotype", "in_tissue", "dist_front_um", "dist_nearest_tumor_um")
INNER, OUTER = REGIONS[:2], REGIONS[2:]  # inside the tumor / outside it (ratio_intratumoral_...)
NO_CALL = frozenset({"no_front", "not_computable", "", "None", "nan"})  # calls that say nothing


@dataclass
class SampleOutputs:
    """One sample's spatial outputs, as the cohort reads them (see the module docstring)."""

    summary: Mapping[str, Any]
    region_densities: pd.DataFrame
    densities: pd.DataFrame
    enrichment: pd.DataFrame
    cells: pd.DataFrame

    @classmethod
    def from_result(cls, result: Any) -> SampleOutputs:
        """From a :class:`frontline.spatial.SpatialResult` (the step's outputs in memory)."""
        return cls(
            summary=result.summary,
            region_densities=result.region_densities,
            densities=result.densities,
            enrichment=result.enrichment,
            cells=result.cells[list(CELL_COLUMNS)],
        )


@dataclass
class Features:
    """Features of some units (patients, or images).

    ``table``: one row per unit, the unit's name in the first column (``patient``; the image
    table has ``sample, patient``). ``not_computable``: ``unit, feature, reason`` for each NaN
    feature. ``bands``: ``unit, phenotype, band_start_um, band_end_um, n_cells, area_mm2,
    density_per_mm2`` (the signed-distance band densities pooled; images with a front only).
    """

    table: pd.DataFrame
    not_computable: pd.DataFrame
    bands: pd.DataFrame


@dataclass
class _Counts:
    """What one sample contributes to a pool: counts, areas and distances."""

    n_cells: int
    type_counts: dict
    region_cells: pd.DataFrame  # types x regions
    region_area: pd.Series  # regions, mm²
    band_cells: pd.DataFrame  # types x band index
    band_area: pd.DataFrame  # band_start_um, band_end_um, area_mm2
    front_dist: dict  # type -> signed distances of its cells in tissue (images with a front)
    nearest: dict  # type -> distances to the nearest tumor cell (empty: too few tumor cells)
    mixing: pd.DataFrame  # name -> n_cells, tumor_pairs, immune_pairs
    enrichment: dict  # (a, b) -> (observed, expected, variance)
    has_front: bool
    call: str
    tissue_mm2: float
    tumor_mm2: float
    front_um: float


def feature_types(params: Params) -> list[str]:
    """The phenotypes features are given for: the immune types, all_immune and the tumor."""
    return list(dict.fromkeys([*params.immune_types, ALL_IMMUNE, params.tumor_phenotype]))


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def sample_counts(out: SampleOutputs, params: Params, immune_lineage: Sequence[str]) -> _Counts:
    """What one sample adds to a pool (its counts, areas, distances and pair counts)."""
    p, types = params, feature_types(params)
    cells = out.cells
    phen = cells["phenotype"].astype(str).to_numpy()
    lineage = list(immune_lineage)
    masks = {t: np.isin(phen, lineage) if t == ALL_IMMUNE else phen == t for t in types}
    dist = cells["dist_front_um"].to_numpy(dtype=float)
    in_tissue = cells["in_tissue"].to_numpy(dtype=bool)
    has_front = out.summary.get("has_front")
    has_front = bool(np.isfinite(dist).any()) if has_front is None else bool(has_front)
    rd = out.region_densities
    region_area = (
        rd.drop_duplicates("region").set_index("region")["area_mm2"].reindex(list(REGIONS))
    ).fillna(0.0)
    region_cells = (
        rd.pivot_table(index="phenotype", columns="region", values="n_cells", aggfunc="sum")
        .reindex(index=types, columns=list(REGIONS))
        .fillna(0.0)
    )
    bands = out.densities
    band_area = bands.drop_duplicates(["band_start_um", "band_end_um"])[
        ["band_start_um", "band_end_um", "area_mm2"]
    ].reset_index(drop=True)
    band_cells = (
        bands.pivot_table(
            index="phenotype", columns="band_start_um", values="n_cells", aggfunc="sum"
        )
        .reindex(index=types, columns=band_area["band_start_um"])
        .fillna(0.0)
    )
    n_tumor = int(masks[p.tumor_phenotype].sum())
    near = cells["dist_nearest_tumor_um"].to_numpy(dtype=float)
    nearest = {
        t: near[masks[t] & np.isfinite(near)] if n_tumor >= p.min_cells else near[:0]
        for t in p.immune_types
    }
    front_dist = {
        t: dist[masks[t] & in_tissue & np.isfinite(dist)] if has_front else dist[:0] for t in types
    }
    xy = cells[["x_um", "y_um"]].to_numpy(dtype=float)
    # min_cells 0: every image gives its pair counts; the pool applies min_cells to the sums
    mixing = mixing_scores(
        xy, phen, p.immune_types, lineage, p.tumor_phenotype, p.mixing_radius_um, 0
    ).set_index("phenotype")[["n_cells", "tumor_pairs", "immune_pairs"]]
    return _Counts(
        n_cells=len(cells),
        type_counts={t: int(m.sum()) for t, m in masks.items()},
        region_cells=region_cells,
        region_area=region_area,
        band_cells=band_cells,
        band_area=band_area,
        front_dist=front_dist,
        nearest=nearest,
        mixing=mixing,
        enrichment=_enrichment_sums(out.enrichment, enrichment_pairs(params)),
        has_front=has_front,
        call=str(out.summary.get("phenotype_call")),
        tissue_mm2=_float(out.summary.get("tissue_area_mm2", region_area.sum())),
        tumor_mm2=_float(out.summary.get("tumor_area_mm2")),
        front_um=_float(out.summary.get("front_length_um")),
    )


def enrichment_pairs(params: Params) -> list[tuple[str, str]]:
    """Unordered pairs of the immune types and the tumor phenotype (each pair once)."""
    names = list(dict.fromkeys([*params.immune_types, params.tumor_phenotype]))
    return [(a, b) for i, a in enumerate(names) for b in names[i:]]


def _enrichment_sums(table: pd.DataFrame, pairs: list[tuple[str, str]]) -> dict:
    if table.empty:
        return {}
    rows = table.set_index(["phenotype", "neighbour_phenotype"])
    out = {}
    for pair in pairs:
        if pair not in rows.index:
            continue  # a type absent from the image: no pairs, none expected
        obs, exp, sd = (
            float(rows.loc[pair, c]) for c in ("observed_pairs", "expected_pairs", "sd_pairs")
        )
        if np.isfinite([obs, exp, sd]).all():
            out[pair] = (obs, exp, sd * sd)
    return out


def _patient_call(parts: list[_Counts]) -> tuple[str, str, float]:
    """The unit's call: its images' most common informative call (ties: the one covering more
    tissue); ``no_front`` when no image has one. Also the image calls and their agreement."""
    calls = Counter(c.call for c in parts)
    listing = ", ".join(f"{k}: {v}" for k, v in calls.most_common())
    informative = {k: v for k, v in calls.items() if k not in NO_CALL}
    if not informative:
        return (parts[0].call if len(calls) == 1 else "no_front"), listing, np.nan
    area = Counter()
    for c in parts:
        area[c.call] += c.tissue_mm2 if np.isfinite(c.tissue_mm2) else 0.0
    best = max(informative, key=lambda k: (informative[k], area[k]))
    return best, listing, informative[best] / sum(informative.values())


def pool(parts: list[_Counts], params: Params) -> tuple[dict, dict, pd.DataFrame]:
    """Features of one unit from its samples' counts.

    Returns
    -------
    (values, reasons, bands) : dict feature -> value (NaN where not computable), dict feature
    -> reason, DataFrame of pooled band densities
    """
    p, types = params, feature_types(params)
    values, reasons = {}, {}

    def put(name, value, reason=""):
        value = _float(value)
        if reason or not np.isfinite(value):
            value = np.nan
            reasons[name] = reason or "undefined (division by zero)"
        values[name] = value

    call, listing, agreement = _patient_call(parts)
    front = [c for c in parts if c.has_front]
    values.update(
        n_images=len(parts),
        n_images_with_front=len(front),
        n_cells=sum(c.n_cells for c in parts),
        tissue_area_mm2=float(np.nansum([c.tissue_mm2 for c in parts])),
        tumor_area_mm2=float(np.nansum([c.tumor_mm2 for c in parts])),
        front_length_um=float(np.nansum([c.front_um for c in parts])),
        phenotype_call=call,
        image_calls=listing,
        call_agreement=agreement,
    )
    counts = {t: sum(c.type_counts[t] for c in parts) for t in types}
    for t in types:
        values[f"n_cells_{t}"] = counts[t]
    cells = sum(c.region_cells for c in parts)
    area = sum(c.region_area for c in parts)
    for t in types:
        for reg in REGIONS:
            why = "" if area[reg] > 0 else f"no {reg} tissue in the images"
            put(f"density_per_mm2_{reg}_{t}", cells.at[t, reg] / area[reg] if not why else 0, why)
        put(
            f"density_per_mm2_tissue_{t}",
            cells.loc[t].sum() / area.sum() if area.sum() > 0 else 0,
            "" if area.sum() > 0 else "no tissue in the images",
        )
    _front_features(front, p, types, put)
    for t in p.immune_types:
        d = np.concatenate([c.nearest[t] for c in parts])
        why = ""
        if not any(c.type_counts[p.tumor_phenotype] >= p.min_cells for c in parts):
            why = f"no image with {p.min_cells} {p.tumor_phenotype} cells (min_cells)"
        elif len(d) < p.min_cells:
            why = not_computable(t, len(d), p.min_cells)
        put(f"median_dist_nearest_tumor_um_{t}", np.median(d) if not why else 0, why)
    _mixing_features(parts, p, counts, put)
    _enrichment_features(parts, p, counts, put)
    return values, reasons, _pooled_bands(front, types)


def _front_features(front: list[_Counts], p: Params, types: list[str], put) -> None:
    """Ratio inside/outside the tumor, fraction near the front and median distance to it."""
    cells = sum((c.region_cells for c in front), start=0)
    area = sum((c.region_area for c in front), start=0)
    for t in types:
        n = sum(c.type_counts[t] for c in front)
        why = "no image with an invasive front" if not front else ""
        why = why or (not_computable(t, n, p.min_cells) if n < p.min_cells else "")
        n_in = cells.loc[t, list(INNER)].sum() if front else 0
        n_out = cells.loc[t, list(OUTER)].sum() if front else 0
        a_in = area[list(INNER)].sum() if front else 0
        a_out = area[list(OUTER)].sum() if front else 0
        ok = a_in > 0 and a_out > 0 and n_out > 0
        put(
            f"ratio_intratumoral_stromal_{t}",
            (n_in / a_in) / (n_out / a_out) if ok and not why else 0,
            why or ("" if n_out > 0 else f"no {t} cells outside the tumor"),
        )
        d = np.concatenate([c.front_dist[t] for c in front]) if front else np.array([])
        why = why or ("" if len(d) else f"no {t} cells in the tissue")
        put(
            f"fraction_near_front_{t}", np.mean(np.abs(d) <= p.near_front_um) if not why else 0, why
        )
        put(f"median_dist_front_um_{t}", np.median(d) if not why else 0, why)


def _mixing_features(parts: list[_Counts], p: Params, counts: dict, put) -> None:
    """Mixing scores (Keren et al. 2018) from the pooled pair counts."""
    n_tumor = counts[p.tumor_phenotype]
    for name in [ALL_IMMUNE, *p.immune_types]:
        key = "mixing_score" if name == ALL_IMMUNE else f"mixing_score_{name}"
        tumor_pairs = sum(np.nan_to_num(c.mixing.at[name, "tumor_pairs"]) for c in parts)
        immune_pairs = sum(np.nan_to_num(c.mixing.at[name, "immune_pairs"]) for c in parts)
        why = not_computable(name, counts[name], p.min_cells) if counts[name] < p.min_cells else ""
        if not why and n_tumor < p.min_cells:
            why = not_computable(p.tumor_phenotype, n_tumor, p.min_cells)
        if not why and not immune_pairs > 0:
            why = f"no {name}-immune pairs within {p.mixing_radius_um:g} µm"
        put(key, tumor_pairs / immune_pairs if not why else 0, why)


def _enrichment_features(parts: list[_Counts], p: Params, counts: dict, put) -> None:
    """Pooled neighbourhood enrichment: (sum observed - sum expected) / sqrt(sum variance)."""
    for a, b in enrichment_pairs(p):
        sums = np.array([c.enrichment.get((a, b), (0.0, 0.0, 0.0)) for c in parts]).sum(axis=0)
        few = [t for t in (a, b) if counts[t] < p.min_cells]
        why = not_computable(few[0], counts[few[0]], p.min_cells) if few else ""
        why = why or ("" if sums[2] > 0 else "no variance under relabelling")
        put(f"enrichment_z_{a}__{b}", (sums[0] - sums[1]) / np.sqrt(sums[2]) if not why else 0, why)


def _pooled_bands(front: list[_Counts], types: list[str]) -> pd.DataFrame:
    cols = ["phenotype", "band_start_um", "band_end_um", "n_cells", "area_mm2", "density_per_mm2"]
    usable = [c for c in front if not c.band_area.empty]
    if not usable:
        return pd.DataFrame(columns=cols)
    edges = usable[0].band_area[["band_start_um", "band_end_um"]]
    area = sum(c.band_area["area_mm2"].to_numpy(dtype=float) for c in usable)
    rows = []
    for t in types:
        n = sum(c.band_cells.loc[t].to_numpy(dtype=float) for c in usable)
        with np.errstate(invalid="ignore", divide="ignore"):
            dens = np.where(area > 0, n / np.where(area > 0, area, 1), np.nan)
        rows.append(edges.assign(phenotype=t, n_cells=n, area_mm2=area, density_per_mm2=dens))
    return pd.concat(rows, ignore_index=True)[cols]


def unit_features(
    counts: Mapping[str, _Counts], units: Mapping[str, str], params: Params, unit: str
) -> Features:
    """Features of each unit (a group of samples: a patient, or one image).

    Parameters
    ----------
    counts : sample -> :func:`sample_counts`
    units : sample -> unit name (the units appear in the order of their first sample)
    params : the spatial step's :class:`Params`
    unit : the name of the unit column (``patient`` or ``sample``)
    """
    members: dict[str, list[str]] = {}
    for sample, name in units.items():
        members.setdefault(name, []).append(sample)
    rows, skipped, bands = [], [], []
    for name, samples in members.items():
        values, reasons, band = pool([counts[s] for s in samples], params)
        rows.append({unit: name, **values})
        skipped += [{"unit": name, "feature": k, "reason": v} for k, v in reasons.items()]
        if not band.empty:
            bands.append(band.assign(unit=name))
    band_cols = [
        "unit",
        "phenotype",
        "band_start_um",
        "band_end_um",
        "n_cells",
        "area_mm2",
        "density_per_mm2",
    ]
    return Features(
        table=pd.DataFrame(rows),
        not_computable=pd.DataFrame(skipped, columns=["unit", "feature", "reason"]),
        bands=(
            pd.concat(bands, ignore_index=True)[band_cols]
            if bands
            else pd.DataFrame(columns=band_cols)
        ),
    )


@dataclass
class CohortFeatures:
    """Patient features, image features and the description of every feature."""

    patients: Features
    images: Features
    descriptions: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables the cohort_features rule writes, by output name: ``features``,
        ``images``, ``descriptions``, ``bands`` (the patients') and ``not_computable``
        (patients and images, with a ``level`` column)."""
        skipped = pd.concat(
            [
                self.patients.not_computable.assign(level="patient"),
                self.images.not_computable.assign(level="image"),
            ],
            ignore_index=True,
        )
        return {
            "features": self.patients.table,
            "images": self.images.table,
            "descriptions": self.descriptions,
            "bands": self.patients.bands,
            "not_computable": skipped[["level", "unit", "feature", "reason"]],
        }


def cohort_features(
    outputs: Mapping[str, SampleOutputs] | Iterable[tuple[str, SampleOutputs]],
    patients: Mapping[str, str],
    params: Params,
    immune_lineage: Sequence[str],
) -> CohortFeatures:
    """Patient-level and image-level features of a cohort.

    Parameters
    ----------
    outputs : sample -> :class:`SampleOutputs`, or (sample, outputs) pairs (an iterator is
        read one sample at a time: only each sample's counts are kept)
    patients : sample -> patient (:func:`frontline.sheet.patients_of`)
    params : the spatial step's :class:`Params` (immune types, tumor phenotype, min_cells,
        near_front_um, mixing_radius_um)
    immune_lineage : the phenotypes ``all_immune`` counts

    Returns
    -------
    :class:`CohortFeatures`; the image table has the columns ``sample, patient`` first
    """
    pairs = outputs.items() if isinstance(outputs, Mapping) else outputs
    counts = {s: sample_counts(out, params, immune_lineage) for s, out in pairs}
    by_patient = unit_features(counts, {s: patients[s] for s in counts}, params, "patient")
    by_image = unit_features(counts, {s: s for s in counts}, params, "sample")
    by_image.table.insert(1, "patient", [patients[s] for s in by_image.table["sample"]])
    return CohortFeatures(by_patient, by_image, describe(by_patient.table.columns))
