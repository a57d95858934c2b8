"""Rule measure: image + nuclei labels -> results/{sample}/cells.parquet."""

from frontline import io, measure
from frontline.step import atomic_output, open_input_image, run


def main(smk):
    p = smk.params
    with open_input_image(smk) as img, io.open_labels(smk.input.labels) as labels:
        cells = measure.measure_cells(
            img,
            labels,
            img.pixel_size_um,
            cell_expansion_um=p.cell_expansion_um,
            tile_px=p.tile_px,
            ring_median=p.ring_median,
            workers=smk.threads,
        )
    with atomic_output(smk.output.cells) as tmp:
        cells.to_parquet(tmp, index=False)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
