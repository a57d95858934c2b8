"""Rule segment_normalisation: the nuclear channel's normalisation range, once per image."""

from frontline import io
from frontline import segment as sg
from frontline.step import open_input_image, run


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    with open_input_image(smk) as img:
        io.require_channels(
            img,
            [p.nuclear_channel],
            sample=sample,
            what="segmentation (segmentation.nuclear_channel)",
        )
        norm = sg.normalisation_range(
            lambda w: img.read(p.nuclear_channel, w),
            img.shape,
            p.norm_percentiles,
            min_contrast=p.min_contrast,
        )
    sg.save_normalisation(smk.output.norm, norm, p.norm_percentiles, p.nuclear_channel)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
