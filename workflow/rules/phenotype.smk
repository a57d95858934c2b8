# phenotype: a gate per marker (auto, the sample's gates table, or the config), then the most
# specific phenotype.

from frontline.phenotype import gated_markers


rule phenotype:
    input:
        cells="results/{sample}/cells.parquet",
        image=image_of,
        labels="results/{sample}/nuclei.ome.tif",
        gates=gates_of,  # the sample's own gates table, if the sheet names one
    output:
        phenotypes="results/{sample}/phenotypes.parquet",
        gates=report(
            "results/{sample}/gates.tsv",
            caption="../report/gates.rst",
            category="3. Gating",
            subcategory="{sample}",
            labels={"sample": "{sample}", "marker": "all (gates.tsv)"},
        ),
        plots=[
            report(
                f"results/{{sample}}/plots/gating/{marker}.png",
                caption="../report/gating.rst",
                category="3. Gating",
                subcategory="{sample}",
                labels={"sample": "{sample}", "marker": marker},
            )
            for marker in gated_markers(config["phenotyping"])
        ],
    log:
        "logs/phenotype/{sample}.log",
    benchmark:
        "benchmarks/phenotype/{sample}.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        # the cell table plus one plot crop per marker
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        **IMAGE_PARAMS,
        phenotyping=config["phenotyping"],
        cell_expansion_um=config["measure"]["cell_expansion_um"],
    script:
        "../scripts/phenotype.py"
