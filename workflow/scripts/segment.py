"""Rule segment: image -> results/{sample}/nuclei.ome.tif (one job, streamed tile by tile)."""

from frontline import io, segment
from frontline.step import open_input_image, run


def main(smk):
    with open_input_image(smk) as img:
        strips = segment.segment_image(img, smk.params, threads=smk.threads)
        io.write_label_strips(smk.output.labels, strips, img.shape, img.pixel_size_um)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
