# evaluate: accuracy against simulator truth, for samples whose sheet row names a truth prefix.


rule evaluate:
    input:
        unpack(lambda wc: {f"truth_{k}": v for k, v in truth_of(wc).items()}),
        nuclei="results/{sample}/nuclei.ome.tif",
        cells="results/{sample}/cells.parquet",
        phenotypes="results/{sample}/phenotypes.parquet",
        spatial_cells="results/{sample}/cells_spatial.parquet",
        regions="results/{sample}/tumor_um.geojson",
        densities="results/{sample}/densities.tsv",
        summary="results/{sample}/summary.json",
    output:
        json="results/{sample}/evaluation.json",
    log:
        "logs/evaluate/{sample}.log",
    benchmark:
        "benchmarks/evaluate/{sample}.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        # two whole label images in memory (truth and prediction)
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        evaluation=config["evaluation"],
        phenotyping=config["phenotyping"],
        spatial=config["spatial"],
        tumor_phenotype=config["front"]["tumor_phenotype"],
        edge_tolerance_um=config["front"]["edge_tolerance_um"],
    script:
        "../scripts/evaluate.py"
