"""Rules table_phenotypes / table_cells: a cell table -> cells.parquet (+ phenotypes.parquet)."""

from frontline import celltables, io
from frontline.step import run


def main(smk):
    sample, p, out = smk.wildcards.sample, smk.params, smk.output
    result = celltables.normalise_cell_table(
        io.read_cell_table(smk.input.table, sample=sample),
        p.format,
        p.cell_tables,
        pixel_size_um=p.pixel_size_um,
        rows=celltables.parse_rows(p.rows, sample),
        fluor_map=p.fluor_map,
        phenotyping=p.phenotyping,
        sample=sample,
        file=smk.input.table,
    )
    io.write_parquet(result.cells, out.cells)
    if "phenotypes" in out.keys():
        io.write_parquet(result.phenotypes, out.phenotypes)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
