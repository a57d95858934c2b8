"""Small files in the layouts vendors write, for tests of ``frontline.io``.

Each writer reproduces the page order, XML descriptions, resolution tags and extra pages of
the real format at a size a test can afford:

- Akoya QPTIFF (PhenoImager HT / Vectra Polaris): full-resolution fluor pages, an RGB
  thumbnail, reduced-resolution pages per pyramid level (NewSubfileType 1), an RGB overview
  (macro) and an RGB label image; every page carries a ``PerkinElmer-QPI-ImageDescription``
  XML whose declaration says utf-16 while the text is utf-8, as in real files.
- inForm ``*_component_data.tif``: float32 unmixed component pages, then an RGB thumbnail.
- pyramidal OME-TIFF with SubIFD levels, as bfconvert / bioformats2raw+raw2ometiff write.
"""

import numpy as np
import tifffile

QPI_SOFTWARE = "PerkinElmer-QPI"


def qpi_description(
    image_type,
    name=None,
    biomarker=None,
    color="255,255,255",
    software="PhenoImagerHT 2.0.0",
    scan_profile=None,
):
    """The XML ImageDescription of one QPTIFF / inForm page."""
    fields = [
        ("DescriptionVersion", "2"),
        ("AcquisitionSoftware", software),
        ("ImageType", image_type),
        ("Identifier", "4a4c6f2e-2b7d-4c1e-9a51-5a1c2a3a4b5c"),
        ("SlideID", "Slide_01"),
        ("Barcode", ""),
        ("ComputerName", "SCANNER-01"),
        ("IsUnmixedComponent", "True"),
    ]
    if image_type in ("FullResolution", "ReducedResolution"):
        fields += [
            ("ExposureTime", "2500"),
            ("SignalUnits", "64"),
            ("Name", name),
            ("Color", color),
            ("Responsivity", ""),
        ]
        if biomarker is not None:
            fields.append(("Biomarker", biomarker))
        fields.append(("Objective", "20x"))
    body = "".join(f"<{k}>{v}</{k}>" for k, v in fields if v is not None)
    if scan_profile is not None:
        body += f"<ScanProfile>{scan_profile}</ScanProfile>"
    return (
        '<?xml version="1.0" encoding="utf-16"?>\r\n'
        f"<PerkinElmer-QPI-ImageDescription>{body}</PerkinElmer-QPI-ImageDescription>"
    )


def _rgb(shape, value):
    return np.full((*shape, 3), value, np.uint8)


def _downsample(plane, factor):
    """Block mean (what a scanner's pyramid holds), not a stride of the full image."""
    h, w = plane.shape[0] // factor, plane.shape[1] // factor
    blocks = plane[: h * factor, : w * factor].reshape(h, factor, w, factor)
    return blocks.mean(axis=(1, 3)).astype(plane.dtype)


def write_qptiff(
    path,
    planes,
    fluors,
    biomarkers=None,
    pixel_size_um=0.4977,
    levels=2,
    resolution_tags=True,
    scan_profile_um=None,
    tile=(128, 128),
):
    """Write a QPTIFF-like whole-slide file.

    Parameters
    ----------
    planes : (C, Y, X) uint8 array, or a list of 2-D arrays (to write odd files)
    fluors : C fluor names (``<Name>``), e.g. "DAPI", "Opal 570"
    biomarkers : C marker names (``<Biomarker>``) or None (older files have none)
    pixel_size_um : µm per pixel, written as XResolution/YResolution in pixels per cm
    levels : reduced-resolution levels (each half the previous size)
    resolution_tags : False writes no resolution tags (a file with a missing pixel size)
    scan_profile_um : write ``<ScanProfile>`` with ``<PixelSizeMicrons>`` when given

    Returns
    -------
    list of the reduced levels written, each (C, y, x)
    """
    planes = [np.asarray(p) for p in planes]
    biomarkers = biomarkers or [None] * len(planes)
    profile = None
    if scan_profile_um is not None:
        profile = (
            f"<root><ScanResolution><PixelSizeMicrons>{scan_profile_um}"
            "</PixelSizeMicrons><Magnification>20</Magnification></ScanResolution></root>"
        )
    res = {}
    if resolution_tags:
        res = {
            "resolution": (1e4 / pixel_size_um, 1e4 / pixel_size_um),
            "resolutionunit": "CENTIMETER",
        }
    common = {
        "software": QPI_SOFTWARE,
        "photometric": "minisblack",
        "compression": "zlib",
        "metadata": None,
    }
    reduced = []
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        for plane, fluor, marker in zip(planes, fluors, biomarkers):
            tif.write(
                plane,
                tile=tile,
                description=qpi_description("FullResolution", fluor, marker, scan_profile=profile),
                **common,
                **res,
            )
        thumb = planes[0][::8, ::8].shape
        tif.write(
            _rgb(thumb, 40),
            description=qpi_description("Thumbnail"),
            software=QPI_SOFTWARE,
            photometric="rgb",
            metadata=None,
            **res,
        )
        for level in range(1, levels + 1):
            factor = 2**level
            level_planes = [_downsample(p, factor) for p in planes]
            reduced.append(np.stack(level_planes))
            for plane, fluor, marker in zip(level_planes, fluors, biomarkers):
                tif.write(
                    plane,
                    tile=tile,
                    subfiletype=1,
                    description=qpi_description("ReducedResolution", fluor, marker),
                    **common,
                    **(
                        {
                            "resolution": (1e4 / pixel_size_um / factor,) * 2,
                            "resolutionunit": "CENTIMETER",
                        }
                        if resolution_tags
                        else {}
                    ),
                )
        tif.write(
            _rgb((120, 300), 200),
            description=qpi_description("Overview"),
            software=QPI_SOFTWARE,
            photometric="rgb",
            metadata=None,
            subfiletype=1,
        )
        tif.write(
            _rgb((100, 100), 250),
            description=qpi_description("Label"),
            software=QPI_SOFTWARE,
            photometric="rgb",
            metadata=None,
            subfiletype=1,
        )
    return reduced


def write_inform_components(path, components, names, pixel_size_um=0.4977):
    """Write an inForm-like ``*_component_data.tif``: float32 pages, then an RGB thumbnail.

    Parameters
    ----------
    components : (C, Y, X) float32 unmixed component images
    names : C component names as inForm writes them (e.g. "DAPI", "Opal 570",
        "Autofluorescence")
    """
    res = {"resolution": (1e4 / pixel_size_um, 1e4 / pixel_size_um), "resolutionunit": "CENTIMETER"}
    with tifffile.TiffWriter(path) as tif:
        for plane, name in zip(components, names):
            tif.write(
                np.asarray(plane, np.float32),
                photometric="minisblack",
                metadata=None,
                software="inForm 2.6.0",
                description=qpi_description("FullResolution", name, software="inForm 2.6.0"),
                **res,
            )
        thumb = components[0][::4, ::4].shape
        tif.write(
            _rgb(thumb, 90),
            photometric="rgb",
            metadata=None,
            software="inForm 2.6.0",
            description=qpi_description("Thumbnail", software="inForm 2.6.0"),
            **res,
        )


def write_pyramidal_ome(
    path, image, names, pixel_size_um, levels=2, tile=(128, 128), level_images=None
):
    """Write a (C, Y, X) OME-TIFF with ``levels`` SubIFD pyramid levels (halving each time).

    ``level_images`` replaces the written reduced levels (to tell them apart in tests).

    Returns
    -------
    list of the reduced levels written, each (C, y, x)
    """
    image = np.asarray(image)
    if level_images is None:
        level_images = [
            np.stack([_downsample(p, 2**k) for p in image]) for k in range(1, levels + 1)
        ]
    metadata = {
        "axes": "CYX",
        "Channel": {"Name": list(names)},
        "PhysicalSizeX": pixel_size_um,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": pixel_size_um,
        "PhysicalSizeYUnit": "µm",
    }
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(
            image,
            tile=tile,
            compression="zlib",
            subifds=len(level_images),
            metadata=metadata,
            photometric="minisblack",
        )
        for level in level_images:
            tif.write(level, tile=tile, compression="zlib", subfiletype=1, photometric="minisblack")
    return level_images
