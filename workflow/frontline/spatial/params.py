"""Parameters of the spatial step: the config's ``spatial:`` section, defaults from the schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import config

_TUPLES = ("band_range_um", "radii_um", "immune_types", "lfunction_radii_um")


@dataclass
class Params:
    """Parameters of the spatial step, µm unless named otherwise.

    Every field but the last three is a key of the config's ``spatial:`` section, documented
    (with its default) in the config schema; build Params with :meth:`from_config`.
    ``tumor_phenotype`` is the config's ``front: tumor_phenotype``; ``front_step_um`` is the
    spacing of the densified front and ``workers`` the threads of the KD-tree queries.
    """

    margin_um: float
    band_width_um: float
    band_range_um: tuple
    near_front_um: float
    radii_um: tuple
    immune_types: tuple
    min_cells: int
    neighbourhood_k: int
    n_neighbourhoods: int
    lfunction_radii_um: tuple
    permutations: int
    envelope: str
    envelope_level: float
    mixing_radius_um: float
    enrichment_radius_um: float
    raster_um: float
    seed: int
    call: dict
    tumor_phenotype: str
    front_step_um: float = 0.5
    workers: int = 1

    @classmethod
    def from_config(cls, spatial_config: dict | None = None, **overrides: Any) -> Params:
        """Params from a config ``spatial:`` section; absent keys take their schema defaults.

        ``immune_types`` and ``call.phenotype`` have none (they name a panel's phenotypes):
        the section or ``overrides`` must give them.

        Parameters
        ----------
        spatial_config : dict, the section (None: all defaults); ``call`` is merged key by key
        overrides : fields to set (e.g. ``tumor_phenotype``, ``workers``, ``permutations``);
            ``tumor_phenotype`` defaults to the schema's ``front: tumor_phenotype``

        Raises
        ------
        ValueError
            an unknown key, or no ``immune_types`` / ``call.phenotype``
        """
        given = dict(spatial_config or {})
        given.update(overrides)
        unknown = sorted(set(given) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown spatial parameter(s) {unknown}")
        values = config.section("spatial")
        values["tumor_phenotype"] = config.section("front")["tumor_phenotype"]
        call = {**values.pop("call"), **(given.pop("call", None) or {})}
        values.update(given)
        # keys that name phenotypes have no default (the panel decides): the caller gives them
        missing = [k for k in ("immune_types",) if k not in values]
        missing += [f"call.{k}" for k in ("phenotype",) if k not in call]
        if missing:
            raise ValueError(
                f"spatial parameter(s) {missing} have no default (they name phenotypes of a "
                "panel); give them, e.g. immune_types=('CD8_T',), call={'phenotype': 'CD8_T'}"
            )
        for key in _TUPLES:
            values[key] = tuple(values[key])
        return cls(call=call, **values)
