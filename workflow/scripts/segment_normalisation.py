"""Rule segment_normalisation: the nuclear channel's normalisation range, once per image."""

from frontline import io
from frontline import segment as sg
from frontline.step import run


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    with io.open_image(smk.input.image, sample=sample, pixel_size_um=p.pixel_size_um,
                       default_pixel_size_um=p.default_pixel_size_um,
                       channel_names=p.channel_names, fluor_map=p.fluor_map) as img:
        io.require_channels(img, [p.nuclear_channel], sample=sample,
                            what="segmentation (segmentation.nuclear_channel)")
        norm = sg.normalisation_range(lambda w: img.read(p.nuclear_channel, w), img.shape,
                                      p.norm_percentiles, min_contrast=p.min_contrast)
    sg.save_normalisation(smk.output.norm, norm, p.norm_percentiles, p.nuclear_channel)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
