"""Download one configured file or folder, verified (rules download_file / download_folder)."""

from frontline.download import expected_checksums, fetch, fetch_folder
from frontline.step import run


def main(smk):
    entry = smk.params.entry  # as validate filled it from the schema (timeout_s included)
    if "folder" in smk.output.keys():
        fetch_folder(entry["url"], smk.output.folder, entry["files"], timeout_s=entry["timeout_s"])
    else:
        fetch(
            entry["url"], smk.output.file, timeout_s=entry["timeout_s"], **expected_checksums(entry)
        )


run(snakemake, main)
