# measure: one row per cell (nucleus grown by cell_expansion_um), shape and marker means.


rule measure:
    input:
        image=image_of,
        labels="results/{sample}/nuclei.ome.tif",
    output:
        cells="results/{sample}/cells.parquet",
    log:
        "logs/measure/{sample}.log",
    benchmark:
        "benchmarks/measure/{sample}.tsv"
    wildcard_constraints:
        sample=exactly(IMAGE_SAMPLES),
    conda:
        "../../envs/frontline.yaml"
    threads: 2
    resources:
        # one tile (+ halo) at a time; the table grows with the number of cells
        mem_mb=lambda wc, attempt: (1500 + config["measure"]["tile_px"] ** 2 // 8000) * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        **IMAGE_PARAMS,
        cell_expansion_um=config["measure"]["cell_expansion_um"],
        tile_px=config["measure"]["tile_px"],
        ring_median=phenotype.ring_median_markers(config["phenotyping"]),
    script:
        "../scripts/measure.py"
