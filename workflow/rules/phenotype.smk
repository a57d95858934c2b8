# phenotype: a gate per marker (auto, the sample's gates table, its batch's, or the config), then
# the most specific phenotype, the activation states and the QC table.

from frontline.phenotype import gated_markers

STATES = config["states"]
# flags on these phenotypes' markers and lineages are errors: the tumor region and the call rest
# on them
KEY_PHENOTYPES = [config["front"]["tumor_phenotype"], config["spatial"]["call"]["phenotype"]]


rule batch_gates:
    input:
        cells=lambda wc: expand("results/{sample}/cells.parquet", sample=batch_members(wc.batch)),
    output:
        gates="results/batches/{batch}/gates.tsv",
    log:
        "logs/batch_gates/{batch}.log",
    benchmark:
        "benchmarks/batch_gates/{batch}.tsv"
    wildcard_constraints:
        batch=exactly(BATCHES),
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        # every cell table of the batch, pooled
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        samples=lambda wc: batch_members(wc.batch),
        phenotyping=config["phenotyping"],
        states=STATES,
    script:
        "../scripts/batch_gates.py"


rule phenotype:
    input:
        cells="results/{sample}/cells.parquet",
        image=image_of,  # none for a cell-table sample: gating plots without image crops
        labels=labels_of,
        gates=gates_of,  # the sample's own gates table, if the sheet names one
        batch_gates=batch_gates_of,  # the gates of the sample's batch, if it has one
    output:
        phenotypes="results/{sample}/phenotypes.parquet",
        gates=report(
            "results/{sample}/gates.tsv",
            caption="../report/gates.rst",
            category="3. Gating",
            subcategory="{sample}",
            labels={"sample": "{sample}", "marker": "all (gates.tsv)"},
        ),
        qc=report(
            "results/{sample}/qc.tsv",
            caption="../report/qc.rst",
            category="0. QC",
            subcategory="{sample}",
            labels={"sample": "{sample}", "table": "qc.tsv"},
        ),
        plots=[
            report(
                f"results/{{sample}}/plots/gating/{marker}.png",
                caption="../report/gating.rst",
                category="3. Gating",
                subcategory="{sample}",
                labels={"sample": "{sample}", "marker": marker},
            )
            for marker in gated_markers(config["phenotyping"], STATES)
        ],
    log:
        "logs/phenotype/{sample}.log",
    benchmark:
        "benchmarks/phenotype/{sample}.tsv"
    wildcard_constraints:
        sample=exactly(IMAGE_SAMPLES + GATED_TABLES),
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
        states=STATES,
        batch=lambda wc: batch_name(wc.sample),
        cell_expansion_um=config["measure"]["cell_expansion_um"],
        min_cells=config["spatial"]["min_cells"],
        key_phenotypes=KEY_PHENOTYPES,
    script:
        "../scripts/phenotype.py"
