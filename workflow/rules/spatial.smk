# spatial: signed distance of every cell to the invasive front, densities in distance bands and
# regions, cell-cell statistics, the immune phenotype call (summary.json) and three figures.


rule spatial:
    input:
        cells="results/{sample}/cells.parquet",
        phenotypes="results/{sample}/phenotypes.parquet",
        regions="results/{sample}/tumor_um.geojson",
    output:
        cells="results/{sample}/cells_spatial.parquet",
        nests="results/{sample}/nests.tsv",
        densities=report(
            "results/{sample}/densities.tsv",
            caption="../report/densities.rst",
            category="2. Spatial",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "table: densities by distance band"},
        ),
        region_densities=report(
            "results/{sample}/region_densities.tsv",
            caption="../report/region_densities.rst",
            category="2. Spatial",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "table: densities by region"},
        ),
        nearest_tumor="results/{sample}/nearest_tumor.tsv",
        neighbours="results/{sample}/neighbours.tsv",
        neighbourhoods="results/{sample}/neighbourhoods.tsv",
        lfunction="results/{sample}/lfunction.tsv",
        mixing="results/{sample}/mixing.tsv",
        enrichment="results/{sample}/enrichment.tsv",
        summary="results/{sample}/summary.json",
        profile_png=report(
            "results/{sample}/plots/distance_profile.png",
            caption="../report/distance_profile.rst",
            category="2. Spatial",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "distance profile"},
        ),
        neighbourhoods_png=report(
            "results/{sample}/plots/neighbourhoods.png",
            caption="../report/neighbourhoods.rst",
            category="2. Spatial",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "neighbourhoods"},
        ),
        lfunction_png=report(
            "results/{sample}/plots/lfunction.png",
            caption="../report/lfunction.rst",
            category="2. Spatial",
            subcategory="{sample}",
            labels={"sample": "{sample}", "figure": "L-function"},
        ),
    log:
        "logs/spatial/{sample}.log",
    benchmark:
        "benchmarks/spatial/{sample}.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 2
    resources:
        # ~1 kB per cell plus a float32 distance raster of the slide at raster_um
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        spatial=config["spatial"],
        tumor_phenotype=config["front"]["tumor_phenotype"],
        phenotypes=config["phenotyping"]["phenotypes"],
        dpi=config["report"]["dpi"],
    script:
        "../scripts/spatial.py"
