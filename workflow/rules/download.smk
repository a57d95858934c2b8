# download: public images named in the config's `download:` section (see config/examples/).
# Each file is checked against its sha256/md5 before it appears; nothing partial is left.
# The rules run on the submit host (compute nodes often have no internet).

DOWNLOAD = config["download"]


localrules:
    download_file,
    download_folder,


rule download_file:
    output:
        file="{download_path}",
    log:
        "logs/download/{download_path}.log",
    wildcard_constraints:
        download_path=exactly(DOWNLOAD["files"].keys()),
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        entry=lambda wc: DOWNLOAD["files"][wc.download_path],
    script:
        "../scripts/download.py"


rule download_folder:
    output:
        folder=directory("{download_folder}"),
    log:
        "logs/download/{download_folder}.log",
    wildcard_constraints:
        download_folder=exactly(DOWNLOAD["folders"].keys()),
    conda:
        "../../envs/frontline.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        entry=lambda wc: DOWNLOAD["folders"][wc.download_folder],
    script:
        "../scripts/download.py"


rule download:
    """Fetch every file and folder of the config's `download:` section: snakemake download"""
    input:
        list(DOWNLOAD["files"]) + list(DOWNLOAD["folders"]),
    localrule: True
