"""Download one configured file or folder, verified (rules download_file / download_folder)."""

from frontline.download import expected_checksums, fetch, fetch_folder
from frontline.step import run


def main(smk):
    entry = smk.params.entry
    if "folder" in smk.output.keys():
        fetch_folder(
            entry["url"],
            smk.output.folder,
            entry.get("files") or {},
            timeout_s=entry.get("timeout_s", 60),
        )
    else:
        fetch(
            entry["url"],
            smk.output.file,
            timeout_s=entry.get("timeout_s", 60),
            **expected_checksums(entry),
        )


run(snakemake, main)
