"""Marker gates: one positivity threshold per marker, and how far each cell clears it.

Modules: ``auto`` (the auto gate of one marker), ``panel`` (a panel's gates: auto, manual or
the batch's; positivity), ``batch`` (gates from the pooled cells of a batch of samples),
``margins`` (how far each cell clears each gate, to settle exclusive lineages).

1. :func:`gate_markers` finds a gate per marker of a panel: ``auto`` (:func:`auto_gate`), a
   number from the config or the sample's gates table (:func:`parse_gate`), or its batch's
   gate (:func:`batch_gates`); :func:`gate_marker` decides one marker.
2. :func:`positivity` turns gates into ``{marker}_positive`` columns.
3. :func:`gate_margins` and :func:`exclusive_margins` measure how far each cell is above each
   gate, to settle cells positive for two exclusive lineages (:mod:`frontline.phenotype`).

Auto gate
---------
Per marker and sample (or batch), on the mean intensity in the marker's compartment. No side
is assumed to be the majority: a field of tumor cells can be 95 % keratin-positive, a B-cell
follicle 90 % CD20-positive, an absent marker 0 %. The candidates, in this order:

- ``gmm``: a two-component Gaussian mixture on ``arcsinh(x / median)``; the gate is the
  bottom of the dip between the two fitted populations, used when the dip's depth
  (``confidence = 1 - density at the valley / density at the lower peak``) reaches
  ``min_confidence`` and the gate lies in the upper tail of the cells (half a robust SD above
  their median), or anywhere with a clear dip (confidence >= 0.5). It is kept unless the
  density gate below disagrees by more than a quarter of the smaller population's cells: a
  mixture fitted to one heavy-tailed negative population splits its tail off as positive.
- ``valley``: a kernel density (bandwidth 0.3 robust SDs) of ``arcsinh(x / c)`` with ``c``
  the 20th percentile of the intensities, a log-like scale on which a negative
  population's spread is a fold change. The deepest valley (depth >= 0.2) between the main
  peak and a second peak that holds at least 20 cells under its kernel and 10 cells (0.2 %)
  beyond the valley separates the two populations, whichever is larger. The gate is where
  the brighter population becomes the more likely one: that population is a Gaussian from
  its upper flank (which the dimmer cells do not reach), and the gate is the first point
  above the valley where it holds half of the density. A plateau of cells between the
  bulk and a bright bump (spill-over, dim staining) is negative, as in a person's gate at
  the foot of the bump; but a peak below the bump at least half as high as it is the
  bright population's own lower flank (a broad or lumpy population of a few hundred cells,
  e.g. keratin's ring median on a 0.5 mm field), and then the valley itself is the gate.
- ``reference``: one population, and cells known to be negative for the marker (cells
  positive for a lineage it excludes, :func:`frontline.phenotype.reference_markers`:
  CD45-positive cells for keratin, CD4/CD8-positive cells for CD20) whose median lies more
  than two of the population's SDs below its peak: the population is the positive one, and
  the gate is where it becomes the more likely one below its peak. ``confidence`` is the
  share of the known negatives the gate calls negative.
- ``floor``: at least 10 % of the cells sit exactly at the lowest value (the zeros of an
  ion-count image such as MIBI, or of a background-subtracted one) and nothing above them
  splits: those cells are negative and every other cell positive. With such a point mass the
  other candidates are fitted to the cells above it.
- ``negative_tail``: one population and nothing to say it is positive: it is taken as
  negative, and the gate is ``median + tail_mads`` robust SDs (1.4826 MAD) on the log-like
  scale, above which only clear outliers count.
- ``undefined``: (nearly) constant intensity: no gate, every cell negative, a warning.

``floor`` and ``negative_tail`` report the mixture's low confidence: they are the
fallbacks that the QC tables flag (:mod:`frontline.qc`).

Batches (sample sheet column ``batch``): the cells of a batch's samples are pooled
(``phenotyping: batch_normalisation``: ``none`` pools the intensities as measured, for one
staining and scanning run; ``median`` divides each sample's intensities by their median
first) and gated once; every sample of the batch uses that gate, so a tumor-filled field
borrows the negative cells of its batch, and a core with 3 positive cells gets the gate
that 100 positive cells of the batch define. On the five HALO cores of
``../shared/data/halo_tma`` the cores' negative bulks differ up to 12-fold in median while
HALO's own threshold is one number for all: median normalisation would move each core's
gate with its bulk, which is why ``none`` is the default.

Failure modes (what the QC flags and the gating plots are for):

- one population with no reference cells: taken as negative. A field that is entirely
  tumor (or B cells) then gets almost no positives (flag ``no_positive``): gate it in a
  batch with fields that have negatives, give the panel an exclusive lineage, or set the
  gate by hand;
- positives that form a shoulder of the negatives' tail rather than a bump (HALO's CD8):
  no valley, so the tail rule decides, and its gate can sit a little below or above where a
  person would put it;
- a rare marker whose positives are fewer than about 20 cells in the sample: no peak of its
  own, the tail rule decides; pooling a batch gives it the cells it needs;
- reference cells that are themselves mis-gated (their lineage marker failed) mislead the
  majority decision: the reference gate is only tried when the marker's own gate found
  one population;
- spill-over that shifts a whole lineage (a keratin-filled cell region around lymphocytes
  in a nest) is not a gating problem: choose the compartment (``ring_median``,
  ``exclusive_compartments``).

A marker may be weighed for the exclusive-lineage decision in another compartment than the
one it is gated in (``exclusive_compartments``, see :func:`exclusive_margins`): a cytoplasmic
lineage marker such as keratin is best read from the nucleus there, because a small immune
cell's grown cell region inside a tumour nest is mostly its neighbours' cytoplasm, while its
nucleus is its own. Besides the three means, a marker may be gated on its median over the ring
(compartment ``ring_median``), which resists lateral spill-over.
"""

from .auto import (
    FALLBACK_METHODS,
    METHODS,
    arcsinh_cofactor,
    auto_gate,
    log_scale_cofactor,
)
from .batch import BATCH_COLUMNS, NORMALISATIONS, batch_gates
from .margins import exclusive_margins, gate_margins
from .panel import (
    COMPARTMENTS,
    GATE_COLUMNS,
    compartment_values,
    gate_marker,
    gate_markers,
    measured_channels,
    parse_gate,
    positivity,
)

__all__ = [
    "BATCH_COLUMNS",
    "COMPARTMENTS",
    "FALLBACK_METHODS",
    "GATE_COLUMNS",
    "METHODS",
    "NORMALISATIONS",
    "arcsinh_cofactor",
    "auto_gate",
    "batch_gates",
    "compartment_values",
    "exclusive_margins",
    "gate_margins",
    "gate_marker",
    "gate_markers",
    "log_scale_cofactor",
    "measured_channels",
    "parse_gate",
    "positivity",
]
