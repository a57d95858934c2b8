"""Rule segment: image -> results/{sample}/nuclei.ome.tif (one job, streamed tile by tile)."""

from frontline import io
from frontline import segment as sg
from frontline.step import open_input_image, run


def main(smk):
    sample, p = smk.wildcards.sample, smk.params
    sg.set_threads(smk.threads)
    model = sg.load_model(
        p.model,
        p.model_basedir,
        prob_thresh=p.prob_thresh,
        nms_thresh=p.nms_thresh,
        pixel_size_um=p.model_pixel_size_um,
        precision=p.precision,
        sample=sample,
    )
    with open_input_image(smk) as img:
        io.require_channels(
            img,
            [p.nuclear_channel],
            sample=sample,
            what="segmentation (segmentation.nuclear_channel)",
        )

        def read(window):
            return img.read(p.nuclear_channel, window)

        norm = sg.normalisation_range(
            read, img.shape, p.norm_percentiles, min_contrast=p.min_contrast
        )
        plan = sg.plan(model, img.pixel_size_um, p.tile_px, p.overlap_px)
        sg.log_plan(plan, img.shape, img.pixel_size_um, model)
        stats = {}
        strips = sg.segment_labels(
            model, read, img.shape, norm, plan, background_max=p.background_max, stats=stats
        )
        sg.write_label_strips(smk.output.labels, strips, img.shape, img.pixel_size_um)
    sg.report_count(stats, sample, smk.output.labels)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
