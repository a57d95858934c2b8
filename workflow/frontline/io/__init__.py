"""Reading and writing files: images (lazily), labels, OME-TIFF, GeoJSON, tables.

Modules, bottom to top (each imports only those above it):

- ``source``: what a format reader hands to ``open_image`` (:class:`Source`), window reads
- ``metadata``: pixel size and channel names (OME-XML, TIFF tags, ImageJ, sheet, config)
- ``vendor``: Akoya QPTIFF, inForm component data, MCMICRO markers.csv
- ``tiff``: OME-TIFF / TIFF series, folders of TIFFs, damaged-file checks, format detection
- ``image``: :func:`open_image`, :class:`ImageReader`, :class:`ArrayImage`
- ``ometiff``: the OME metadata and the one OME-TIFF writer (images, labels, pyramids)
- ``labels``: label images read whole or lazily, written whole or in strips
- ``geojson``: GeoJSON written feature by feature
- ``tables``: the analysis steps' tables, JSON, regions and figures (written atomically, read back)

Cell tables exported by other software (HALO, inForm, QuPath, MCMICRO) will get their readers
in a ``celltables`` module here, returning the ``cells.parquet`` columns.

``from frontline import io; io.open_image(...)``: everything public is importable from here.
"""

from .geojson import write_feature_collection
from .image import (
    NONFINITE_FIX,
    ArrayImage,
    ImageReader,
    nonfinite_counts,
    open_image,
    require_channels,
    require_finite,
)
from .labels import (
    ArrayLabels,
    LabelReader,
    open_labels,
    read_labels,
    require_pixel_size,
    strips_to_tiles,
    write_label_strips,
    write_labels,
)
from .metadata import MAX_TAG_PIXEL_SIZE_UM, PIXEL_SIZE_RANGE_UM, check_pixel_size
from .ometiff import TILE, ome_metadata, write_image, write_ome_tiff, write_pyramid
from .source import Source
from .tables import (
    read_annotation,
    read_gates_table,
    read_json,
    read_regions,
    read_text_table,
    read_tsv,
    save_figure,
    write_json,
    write_parquet,
    write_regions,
    write_text,
    write_tsv,
)
from .tiff import TIFF_SUFFIXES

__all__ = [
    "read_annotation",
    "read_gates_table",
    "read_json",
    "read_regions",
    "read_text_table",
    "read_tsv",
    "save_figure",
    "write_json",
    "write_parquet",
    "write_regions",
    "write_text",
    "write_tsv",
    "MAX_TAG_PIXEL_SIZE_UM",
    "NONFINITE_FIX",
    "nonfinite_counts",
    "require_finite",
    "PIXEL_SIZE_RANGE_UM",
    "check_pixel_size",
    "TIFF_SUFFIXES",
    "TILE",
    "ArrayImage",
    "ArrayLabels",
    "ImageReader",
    "LabelReader",
    "Source",
    "ome_metadata",
    "open_image",
    "open_labels",
    "read_labels",
    "require_channels",
    "require_pixel_size",
    "strips_to_tiles",
    "write_feature_collection",
    "write_image",
    "write_label_strips",
    "write_labels",
    "write_ome_tiff",
    "write_pyramid",
]
