# Datasets: fetch (download or copy, verified by checksum) then prepare (canonical uint8 .npz).
import os


def user_data_file(wildcards):
    """The user's own data file of a dataset (TIMIT: datasets.timit.path), an input of its fetch,
    so that rewriting it reruns fetch, prepare and everything downstream. [] for downloaded
    datasets, and while the file does not exist: fetch then says what is expected there."""
    if wildcards.dataset != "timit":
        return []
    path = (config["datasets"].get("timit") or {}).get("path")
    return [os.path.expanduser(path)] if path and os.path.isfile(os.path.expanduser(path)) else []


rule fetch:
    input:
        user_data_file,
    output:
        f"{DATA}/raw/{{dataset}}/MANIFEST.json",
    params:
        overrides=lambda w: dataset_overrides(w.dataset),
    log:
        f"{LOGS}/fetch/{{dataset}}.log",
    shell:
        "{SM} fetch {wildcards.dataset} --out-dir $(dirname {output}) "
        "--overrides {params.overrides:q} 2> {log}"


rule prepare:
    input:
        rules.fetch.output,
    output:
        prepared("{dataset}"),
    params:
        overrides=lambda w: dataset_overrides(w.dataset),
    log:
        f"{LOGS}/prepare/{{dataset}}.log",
    shell:
        "{SM} prepare {wildcards.dataset} --raw-dir $(dirname {input}) --out {output} "
        "--overrides {params.overrides:q} 2> {log}"
