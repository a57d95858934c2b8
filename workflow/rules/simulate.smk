# Synthetic demo samples with known truth (config `simulate:`).

import re

SIM = config["simulate"]


rule simulate:
    output:
        **frontline_simulate.sample_files(f"{SIM['outdir']}/{{name}}"),  # image, nuclei, cells, tumor
    log:
        "logs/simulate/{name}.log",
    benchmark:
        "benchmarks/simulate/{name}.tsv"
    wildcard_constraints:
        name="|".join(map(re.escape, SIM["samples"])) or "NO_SIMULATED_SAMPLES",
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: (512 + 100 * SIM["shape_px"][0] * SIM["shape_px"][1] // 2**20)
        * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        preset=lambda wc: SIM["samples"][wc.name]["preset"],
        seed=lambda wc: SIM["samples"][wc.name]["seed"],
        shape_px=SIM["shape_px"],
        pixel_size_um=SIM["pixel_size_um"],
        simulator=library_version("simulate"),  # new simulator code: new images and truth
    script:
        "../scripts/simulate.py"
