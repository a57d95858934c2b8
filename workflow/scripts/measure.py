"""Rule measure: image + nuclei labels -> results/{sample}/cells.parquet."""

from frontline import io
from frontline.errors import FrontlineInputError
from frontline.measure import measure_cells
from frontline.step import atomic_output, open_input_image, run


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    with open_input_image(smk) as img, io.open_labels(smk.input.labels) as labels:
        check_same_grid(img, labels, sample, smk.input.labels)
        cells = measure_cells(
            img,
            labels,
            img.pixel_size_um,
            cell_expansion_um=p.cell_expansion_um,
            tile_px=p.tile_px,
            ring_median=p.ring_median,
        )
    with atomic_output(smk.output.cells) as tmp:
        cells.to_parquet(tmp, index=False)


def check_same_grid(img, labels, sample, labels_path):
    """The label image must cover the image pixel for pixel."""
    if tuple(labels.shape) != tuple(img.shape):
        raise FrontlineInputError(
            f"the nuclei labels are {tuple(labels.shape)} px but the image is "
            f"{tuple(img.shape)} px",
            sample=sample,
            file=labels_path,
            fix="delete the labels and rerun segmentation",
        )
    if labels.pixel_size_um and abs(labels.pixel_size_um / img.pixel_size_um - 1) > 0.01:
        raise FrontlineInputError(
            f"the nuclei labels have {labels.pixel_size_um:g} µm/px but the image has "
            f"{img.pixel_size_um:g} µm/px",
            sample=sample,
            file=labels_path,
            fix="delete the labels and rerun segmentation with the same pixel size",
        )


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
