"""frontline.colours: one colour per phenotype, no two alike however many there are."""

import numpy as np
from skimage.color import rgb2lab

from frontline.colours import (
    KNOWN_PHENOTYPES,
    MIN_DELTA_E,
    phenotype_colours,
    phenotype_colours_float,
)

# the 20 phenotypes of the published TNBC classification (Keren et al. 2018), as one field has
TNBC = (
    "tumor Macrophage CD8T Otherimmune CD4T CD3T DCMono MonoNeu Neutrophil Endothelial DC B "
    "Treg Mesenchymal Other NK Keratin-positive_tumor Unidentified Tregs Mono_Neu"
).split()


def _min_delta_e(colours):
    lab = rgb2lab(np.asarray(list(colours.values()), float).reshape(-1, 1, 3) / 255).reshape(-1, 3)
    d = np.linalg.norm(lab[:, None] - lab[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return d.min()


def test_twenty_and_forty_phenotypes_get_colours_far_apart():
    tnbc = phenotype_colours(TNBC)
    assert set(tnbc) == set(TNBC)
    assert tnbc["tumor"] == KNOWN_PHENOTYPES["tumor"]
    assert len(set(tnbc.values())) == len(TNBC)
    assert _min_delta_e(tnbc) >= MIN_DELTA_E
    many = phenotype_colours([f"type_{i:02d}" for i in range(40)] + ["CD8_T", "B_cell"])
    assert len(set(many.values())) == 42
    assert _min_delta_e(many) >= MIN_DELTA_E


def test_colours_are_the_same_for_the_same_names_in_any_order():
    names = ["Treg", "NK", "CD8_T", "Mono", "DC", "B_cell"]
    assert phenotype_colours(names) == phenotype_colours(reversed(names))
    floats = phenotype_colours_float(names)
    assert all(0 <= v <= 1 for rgb in floats.values() for v in rgb)
    # the known names keep their colour, whatever else is in the panel
    assert phenotype_colours(names)["CD8_T"] == KNOWN_PHENOTYPES["CD8_T"]


def test_the_greys_of_unclassified_classes_stay_shared():
    colours = phenotype_colours(["other", "stromal", "unclassified", "NK"])
    assert colours["other"] == colours["stromal"] == colours["unclassified"]
    assert colours["NK"] != colours["other"]
