"""What frontline reads in an image: ``python -m frontline.io IMAGE [IMAGE ...]``.

Prints, per image, its format, size, pixel size (and where it came from) and the channel
names, exactly as the config must name them (README.md, "Running on your own images").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import FrontlineInputError
from .image import open_image


def describe(path: str) -> str:
    """One paragraph about an image: format, size, pixel size and its source, channels."""
    try:
        img = open_image(path)
        size = f"{img.pixel_size_um:g} µm per pixel (from {img.pixel_size_from})"
    except FrontlineInputError as err:
        if "carries no pixel size" not in err.problem:
            return f"{path}: {err.message()}"
        img = open_image(path, default_pixel_size_um=1.0)  # to list the channels
        size = "none in the file: give it in the sample sheet's pixel_size_um column"
    with img:
        height, width = img.shape
        return (
            f"{path}\n  format: {img.source}, {width} x {height} px, {img.dtype}\n"
            f"  pixel size: {size}\n  channels: {', '.join(img.channels)}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print(__doc__.strip())
        return 2
    for path in paths:
        print(describe(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
