"""Rule merge_tiles: job tiles' nuclei -> results/{sample}/nuclei.ome.tif, each nucleus once."""

from frontline import io, segment
from frontline.step import run


def main(smk):
    shape, pixel_size_um, strips = segment.merge_tiles(smk.input.tiles, smk.wildcards.sample)
    io.write_label_strips(smk.output.labels, strips, shape, pixel_size_um)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
