# segment: nuclei labels from the nuclear channel with StarDist -> results/{sample}/nuclei.ome.tif
#
# A sample is segmented by one job (rule `segment`), or, with `segmentation.tile_jobs: true` or
# an image at least `tile_jobs_min_px` high or wide, by one job per job tile (`segment_tile`,
# run in parallel on a cluster) and a merge (`merge_tiles`). The tile list comes from the image
# header, read once when the DAG is built; an image that does not exist yet (made by an earlier
# rule) is segmented by one job.

from snakemake.logging import logger

SEG = config["segmentation"]
TILED_SAMPLES = [s for s in IMAGE_SAMPLES if uses_tile_jobs(s)]
SINGLE_SAMPLES = [s for s in IMAGE_SAMPLES if s not in TILED_SAMPLES]
for _s in IMAGE_SAMPLES:
    if SEG["tile_jobs"] and image_shape(_s) is None:
        logger.info(
            f"segment: the image of sample {_s} does not exist yet, so it is segmented "
            "by one job (run again once it exists to split it into tile jobs)"
        )

MODEL_PARAMS = dict(
    nuclear_channel=SEG["nuclear_channel"],
    model=SEG["model"],
    model_basedir=SEG["model_basedir"],
    model_pixel_size_um=SEG["model_pixel_size_um"],
    prob_thresh=SEG["prob_thresh"],
    nms_thresh=SEG["nms_thresh"],
    tile_px=SEG["tile_px"],
    overlap_px=SEG["overlap_px"],
    background_max=SEG["background_max"],
    precision=SEG["precision"],
)
# TensorFlow, one tile's activations (grow with tile_px squared) and one label strip
JOB_TILE_MP = (SEG["job_tile_px"] + 2 * SEG["job_halo_px"]) ** 2 / 1e6
SEGMENT_MEM_MB = 1500 + (SEG["tile_px"] + 2 * SEG["overlap_px"]) ** 2 // 1500


rule segment:
    input:
        image=image_of,
    output:
        labels="results/{sample}/nuclei.ome.tif",
    log:
        "logs/segment/{sample}.log",
    benchmark:
        "benchmarks/segment/{sample}.tsv"
    wildcard_constraints:
        sample=exactly(SINGLE_SAMPLES),
    conda:
        "../../envs/frontline.yaml"
    threads: min(4, workflow.cores)
    resources:
        mem_mb=lambda wc, attempt: SEGMENT_MEM_MB * attempt,
        runtime=lambda wc, attempt: int(10 + megapixels(wc) / 30) * attempt,
    params:
        **IMAGE_PARAMS,
        **MODEL_PARAMS,
        norm_percentiles=SEG["norm_percentiles"],
        min_contrast=SEG["min_contrast"],
    script:
        "../scripts/segment.py"


rule segment_normalisation:
    input:
        image=image_of,
    output:
        norm="results/{sample}/tiles/normalisation.json",
    log:
        "logs/segment_normalisation/{sample}.log",
    benchmark:
        "benchmarks/segment_normalisation/{sample}.tsv"
    wildcard_constraints:
        sample=exactly(TILED_SAMPLES),
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        **IMAGE_PARAMS,
        nuclear_channel=SEG["nuclear_channel"],
        norm_percentiles=SEG["norm_percentiles"],
        min_contrast=SEG["min_contrast"],
    script:
        "../scripts/segment_normalisation.py"


rule segment_tile:
    input:
        image=image_of,
        norm="results/{sample}/tiles/normalisation.json",
    output:
        objects="results/{sample}/tiles/{tile}.npz",
    log:
        "logs/segment_tile/{sample}/{tile}.log",
    benchmark:
        "benchmarks/segment_tile/{sample}/{tile}.tsv"
    wildcard_constraints:
        sample=exactly(TILED_SAMPLES),
        tile=r"r\d+c\d+",
    conda:
        "../../envs/frontline.yaml"
    threads: min(4, workflow.cores)
    resources:
        mem_mb=lambda wc, attempt: SEGMENT_MEM_MB * attempt,
        runtime=lambda wc, attempt: int(10 + JOB_TILE_MP / 30) * attempt,
    params:
        **IMAGE_PARAMS,
        **MODEL_PARAMS,
        job_tile_px=SEG["job_tile_px"],
        job_halo_px=SEG["job_halo_px"],
    script:
        "../scripts/segment_tile.py"


rule merge_tiles:
    input:
        tiles=job_tiles_of,
    output:
        labels="results/{sample}/nuclei.ome.tif",
    log:
        "logs/merge_tiles/{sample}.log",
    benchmark:
        "benchmarks/merge_tiles/{sample}.tsv"
    wildcard_constraints:
        sample=exactly(TILED_SAMPLES),
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1500 * attempt,
        runtime=lambda wc, attempt: int(10 + megapixels(wc) / 200) * attempt,
    script:
        "../scripts/merge_tiles.py"
