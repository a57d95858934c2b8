"""Rule segment_tile: the nuclei whose centre lies in one job tile -> tiles/{tile}.npz."""

from frontline import io
from frontline import segment as sg
from frontline.step import open_input_image, run


def main(smk):
    sample, tile, p = smk.wildcards.sample, smk.wildcards.tile, smk.params
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
    norm = sg.load_normalisation(smk.input.norm, p.nuclear_channel)
    with open_input_image(smk) as img:
        io.require_channels(
            img,
            [p.nuclear_channel],
            sample=sample,
            what="segmentation (segmentation.nuclear_channel)",
        )
        plan = sg.plan(model, img.pixel_size_um, p.tile_px, p.overlap_px)
        sg.log_plan(plan, img.shape, img.pixel_size_um, model)
        job = sg.segment_job(
            model,
            lambda w: img.read(p.nuclear_channel, w),
            img.shape,
            norm,
            plan,
            tile,
            p.job_tile_px,
            p.job_halo_px,
            background_max=p.background_max,
        )
        job.pixel_size_um = img.pixel_size_um
    sg.save_job_tile(smk.output.objects, job)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
