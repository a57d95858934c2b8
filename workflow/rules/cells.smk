# cells: a sample's cell table (sheet column `cells`: HALO, inForm, QuPath, MCMICRO or generic)
# in frontline's cells.parquet form, and phenotypes.parquet when the table names phenotypes or
# gives positivity flags (for the phenotype tree); otherwise the phenotype rule gates its
# intensities. From there a table sample runs the same rules as an image sample.

TABLE_PARAMS = dict(
    format=lambda wc: sheet.cells_format(SAMPLES, wc.sample),
    rows=lambda wc: SAMPLES.loc[wc.sample, "cells_rows"],
    pixel_size_um=table_pixel_size_of,
    fluor_map=fluor_map_of,
    cell_tables=config["cell_tables"],
    phenotyping=config["phenotyping"],
    reader=library_version("celltables"),  # new reader code: tables read again
)


rule table_phenotypes:
    input:
        table=lambda wc: SAMPLES.loc[wc.sample, "cells"],
    output:
        cells="results/{sample}/cells.parquet",
        phenotypes="results/{sample}/phenotypes.parquet",
    log:
        "logs/table_phenotypes/{sample}.log",
    benchmark:
        "benchmarks/table_phenotypes/{sample}.tsv"
    wildcard_constraints:
        sample=exactly(PHENOTYPED_TABLES),
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        # the whole table (a file of many samples too) as text, then one sample's rows
        mem_mb=lambda wc, input, attempt: int(1000 + 8 * input.size_mb) * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        **TABLE_PARAMS,
    script:
        "../scripts/table_cells.py"


rule table_cells:
    input:
        table=lambda wc: SAMPLES.loc[wc.sample, "cells"],
    output:
        cells="results/{sample}/cells.parquet",
    log:
        "logs/table_cells/{sample}.log",
    benchmark:
        "benchmarks/table_cells/{sample}.tsv"
    wildcard_constraints:
        sample=exactly(GATED_TABLES),
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, input, attempt: int(1000 + 8 * input.size_mb) * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        **TABLE_PARAMS,
    script:
        "../scripts/table_cells.py"
