"""Nuclei segmentation with StarDist: seamless, tile by tile, in bounded memory.

How a slide is segmented
------------------------
1. **Normalisation** (:func:`normalisation_range`): the low/high percentiles of the nuclear
   channel are computed once per image from a regular grid of sample windows, so every tile
   is scaled the same way and the slide is not read twice.
2. **Candidates, tile by tile** (:func:`tile_candidates`): each prediction tile is read with
   ``overlap`` pixels of context on every side, rescaled to the model's pixel size, and the
   network gives object candidates (a probability and radial distances on the model's grid).
   Only candidates whose centre lies in the tile's core are kept, so each candidate comes from
   exactly one tile.
3. **Non-maximum suppression, band by band** (:func:`suppress_bands`): StarDist's NMS runs
   over one band (a row of tiles) together with the first rows of the next band; objects kept
   in earlier bands are final and suppress the candidates they overlap. No two kept objects
   overlap by more than ``nms_thresh`` anywhere, tile and band borders included, so no nucleus
   is found twice.
4. **Rendering, strip by strip** (:func:`render_strips`): whole polygons are drawn in
   ascending probability (as StarDist does) into 512-row strips; a strip is emitted once no
   later object can reach it. A nucleus is never cut by a tile border.

Memory is bounded by one tile's network activations plus a few bands of objects and one strip
of labels (512 rows x slide width): it does not grow with the slide's height or its number of
tiles. Label ids are 1..N in the order of the objects' centres (row, then column).

Cluster mode splits the slide into job tiles (:func:`job_grid`); each job finds the objects
whose centre lies in its core (:func:`segment_objects` with ``core``), and
:func:`merge_job_rows` runs the same band NMS over the jobs' objects, one job row at a time,
and renders the slide.

Coordinates: pixels of the image, (row, column) = (y, x), pixel centres at integers (the
convention of StarDist and scikit-image). Windows are ``(y0, y1, x0, x1)``, end exclusive.

Modules, bottom to top (each imports only those above it; TensorFlow and StarDist are imported
when a model is loaded or run, not here):

- ``model``: loading the StarDist model, the published-model registry, network precision
- ``normalisation``: the image's intensity range from sample windows (saved for tile jobs)
- ``nms``: the :class:`Objects` type, NMS across bands, rendering into label strips
- ``predict``: the plan, candidates tile by tile, final objects band by band
- ``jobs``: cluster tile jobs, their files and their merge
- ``pipeline``: one call per rule (:func:`segment_image`, :func:`segment_image_tile`, ...)
"""

from .jobs import (
    JobTile,
    job_grid,
    job_rows,
    load_job_tile,
    merge_job_rows,
    save_job_tile,
    segment_job,
)
from .model import (
    PUBLISHED_HINT,
    SegmentationModel,
    configured_model,
    cpu_has_bfloat16,
    expected_pixel_size,
    load_model,
    models_folder,
    published_models,
    resolve_precision,
    set_threads,
)
from .nms import STRIP, Objects, polygon_coords, render, render_strips, suppress_bands
from .normalisation import (
    Normalisation,
    load_normalisation,
    normalisation_range,
    pixel_noise,
    sample_windows,
    save_normalisation,
)
from .pipeline import image_normalisation, merge_tiles, segment_image, segment_image_tile
from .predict import (
    RESCALE_RANGE,
    Plan,
    check_rescale,
    log_plan,
    plan,
    predict_bands,
    predict_tile,
    segment_labels,
    segment_objects,
    tile_candidates,
    tiles,
)

__all__ = [
    "RESCALE_RANGE",
    "check_rescale",
    "PUBLISHED_HINT",
    "STRIP",
    "JobTile",
    "Normalisation",
    "Objects",
    "Plan",
    "SegmentationModel",
    "configured_model",
    "expected_pixel_size",
    "cpu_has_bfloat16",
    "image_normalisation",
    "job_grid",
    "job_rows",
    "load_job_tile",
    "load_model",
    "models_folder",
    "load_normalisation",
    "log_plan",
    "merge_job_rows",
    "merge_tiles",
    "normalisation_range",
    "pixel_noise",
    "plan",
    "polygon_coords",
    "predict_bands",
    "predict_tile",
    "published_models",
    "render",
    "render_strips",
    "resolve_precision",
    "sample_windows",
    "save_job_tile",
    "save_normalisation",
    "segment_image",
    "segment_image_tile",
    "segment_job",
    "segment_labels",
    "segment_objects",
    "set_threads",
    "suppress_bands",
    "tile_candidates",
    "tiles",
]
