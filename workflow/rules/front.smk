# front: tumor region, tissue and invasive front from the tumor cells, or a QuPath annotation.


rule front:
    input:
        image=image_of,  # none for a cell-table sample: the field is taken from its cells
        cells="results/{sample}/cells.parquet",
        phenotypes="results/{sample}/phenotypes.parquet",
        annotation=annotation_of,
    output:
        regions="results/{sample}/tumor.geojson",  # pixels, for QuPath
        regions_um="results/{sample}/tumor_um.geojson",  # µm, for the spatial step
    log:
        "logs/front/{sample}.log",
    benchmark:
        "benchmarks/front/{sample}.tsv"
    conda:
        "../../envs/frontline.yaml"
    threads: 2
    resources:
        # two distance transforms on a raster_um raster of the slide (~20 bytes per pixel)
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        **IMAGE_PARAMS,
        annotation_units=lambda wc: SAMPLES.loc[wc.sample, "annotation_units"],
        table_pixel_size_um=table_pixel_size_of,
        front=config["front"],
    script:
        "../scripts/front.py"
