"""Rule segment_normalisation: the nuclear channel's normalisation range, once per image."""

from frontline import segment
from frontline.step import open_input_image, run


def main(smk):
    p = smk.params
    with open_input_image(smk) as img:
        norm = segment.image_normalisation(img, p)
    segment.save_normalisation(smk.output.norm, norm, p.norm_percentiles, p.nuclear_channel)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
