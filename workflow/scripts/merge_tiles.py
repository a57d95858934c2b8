"""Rule merge_tiles: job tiles' nuclei -> results/{sample}/nuclei.ome.tif, each nucleus once."""

from frontline import segment as sg
from frontline.step import run


def main(smk):
    sample = smk.wildcards.sample
    shape, pixel_size_um, rows = sg.job_rows(list(smk.input.tiles), sample=sample)
    stats = {}
    strips = sg.merge_job_rows(rows, stats=stats)
    sg.write_label_strips(smk.output.labels, strips, shape, pixel_size_um)
    sg.report_count(stats, sample, smk.output.labels)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
