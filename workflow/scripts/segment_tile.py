"""Rule segment_tile: the nuclei whose centre lies in one job tile -> tiles/{tile}.npz."""

from frontline import segment
from frontline.step import open_input_image, run


def main(smk):
    norm = segment.load_normalisation(smk.input.norm, smk.params.nuclear_channel)
    with open_input_image(smk) as img:
        job = segment.segment_image_tile(
            img, norm, smk.wildcards.tile, smk.params, threads=smk.threads
        )
    segment.save_job_tile(smk.output.objects, job)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
