# evaluate: accuracy against simulator truth, for samples whose sheet row names a truth prefix.


rule evaluate:
    input:
        unpack(lambda wc: {f"truth_{k}": v for k, v in truth_of(wc).items()}),
        nuclei="results/{sample}/nuclei.ome.tif",
        cells="results/{sample}/cells.parquet",
        phenotypes="results/{sample}/phenotypes.parquet",
    output:
        json="results/{sample}/evaluation.json",
    params:
        evaluation=config["evaluation"],
        phenotyping=config["phenotyping"],
    threads: 1
    resources:
        # two whole label images in memory (truth and prediction)
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    log:
        "logs/evaluate/{sample}.log",
    benchmark:
        "benchmarks/evaluate/{sample}.tsv"
    script:
        "../scripts/evaluate.py"
