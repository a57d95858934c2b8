"""The presets and their density model (frontline.simulate.presets)."""

import numpy as np
import pytest

from frontline import simulate


def test_expected_density_function():
    d = np.array([-300.0, -5.0, 5.0, 25.0, 300.0])
    tumor = simulate.expected_density_per_mm2("inflamed", "tumor", d)
    assert tumor[0] == tumor[1] == 2600 and tumor[2] == tumor[4] == 0
    cd8 = simulate.expected_density_per_mm2("excluded", "CD8_T", d)
    assert abs(cd8[0] - 15) < 1e-6 and abs(cd8[4] - 120) < 1e-6 and cd8[3] > 700
    with pytest.raises(ValueError):
        simulate.expected_density_per_mm2("hot", "CD8_T", d)


def test_every_preset_has_a_density_for_every_phenotype():
    for preset in simulate.PRESETS:
        assert set(simulate.DENSITY_TABLE[preset]) == set(simulate.PHENOTYPES)
        for phenotype in simulate.PHENOTYPES:
            density = simulate.expected_density_per_mm2(
                preset, phenotype, np.linspace(-300, 300, 61)
            )
            assert density.shape == (61,) and (density >= 0).all()
    with pytest.raises(ValueError, match="unknown phenotype"):
        simulate.expected_density_per_mm2("inflamed", "platelet", 0.0)
