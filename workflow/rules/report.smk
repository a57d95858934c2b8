# report: per-sample overview figure, QuPath and AnnData exports, the cohort table and figure.
# Every figure is wrapped in report(), so `snakemake --report report.html` shows it with its
# caption (workflow/report/*.rst).

REPORT = config["report"]


rule overview_plot:
    input:
        image=image_of,
        cells="results/{sample}/cells_spatial.parquet",
        regions="results/{sample}/tumor.geojson",
        summary="results/{sample}/summary.json",
    output:
        png=report(
            "results/{sample}/plots/overview.png",
            caption="../report/overview.rst",
            category="1. Overview",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "overview"},
        ),
    log:
        "logs/overview_plot/{sample}.log",
    benchmark:
        "benchmarks/overview_plot/{sample}.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        # the overview (a pyramid level or a strided read) and the cell table
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        **IMAGE_PARAMS,
        max_px=REPORT["overview_max_px"],
        dpi=REPORT["dpi"],
        channels=REPORT["overview_channels"],
        nuclear_channel=config["segmentation"]["nuclear_channel"],
        phenotypes=config["phenotyping"]["phenotypes"],
        tumor_phenotype=config["front"]["tumor_phenotype"],
    script:
        "../scripts/overview_plot.py"


rule qupath_export:
    input:
        labels="results/{sample}/nuclei.ome.tif",
        cells="results/{sample}/cells_spatial.parquet",
        regions="results/{sample}/tumor.geojson",
    output:
        geojson="results/{sample}/qupath_cells.geojson",
    log:
        "logs/qupath_export/{sample}.log",
    benchmark:
        "benchmarks/qupath_export/{sample}.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        # one label tile at a time; outlines of all cells (~0.5 kB each) are kept
        mem_mb=lambda wc, attempt: (2000 + config["measure"]["tile_px"] ** 2 // 4000) * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        outline=REPORT["qupath_outline"],
        cell_expansion_um=config["measure"]["cell_expansion_um"],
        tile_px=config["measure"]["tile_px"],
    script:
        "../scripts/qupath_export.py"


rule anndata_export:
    input:
        labels="results/{sample}/nuclei.ome.tif",
        cells="results/{sample}/cells_spatial.parquet",
    output:
        h5ad="results/{sample}/cells.h5ad",
    log:
        "logs/anndata_export/{sample}.log",
    benchmark:
        "benchmarks/anndata_export/{sample}.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        compartments=config["phenotyping"]["compartments"],
        default_compartment=config["phenotyping"]["default_compartment"],
    script:
        "../scripts/anndata_export.py"


rule cohort:
    input:
        summaries=expand("results/{sample}/summary.json", sample=SAMPLES.index),
        densities=expand("results/{sample}/region_densities.tsv", sample=SAMPLES.index),
        evaluations=expand("results/{sample}/evaluation.json", sample=samples_with_truth()),
    output:
        table=report(
            "results/cohort/summary.tsv",
            caption="../report/cohort_table.rst",
            category="0. Cohort",
            labels={"figure": "table: one row per sample (summary.tsv)"},
        ),
        png=report(
            "results/cohort/summary.png",
            caption="../report/cohort.rst",
            category="0. Cohort",
            labels={"figure": "immune densities by region"},
        ),
    log:
        "logs/cohort/cohort.log",
    benchmark:
        "benchmarks/cohort/cohort.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        samples=list(SAMPLES.index),
        evaluated=samples_with_truth(),
        immune_types=list(config["spatial"]["immune_types"]) + ["all_immune"],
        dpi=REPORT["dpi"],
    script:
        "../scripts/cohort.py"
