# Datasets: fetch (download or copy, verified by checksum) then prepare (canonical uint8 .npz).
# CPU rules: on a cluster they run on the submitting host (which also has the internet access a
# download needs); only GPU-tagged rules become cluster jobs.


localrules:
    fetch,
    prepare,


rule fetch:
    input:
        user_data_file,
    output:
        raw_manifest("{dataset}"),
    log:
        log_file("fetch"),
    conda:
        CONDA_ENV
    params:
        overrides=lambda w: dataset_overrides(w.dataset),
        sm=SM,
    shell:
        "{params.sm} fetch {wildcards.dataset} --out-dir $(dirname {output}) "
        "--overrides {params.overrides:q} 2> {log}"


rule prepare:
    input:
        rules.fetch.output,
    output:
        prepared("{dataset}"),
    log:
        log_file("prepare"),
    conda:
        CONDA_ENV
    params:
        overrides=lambda w: dataset_overrides(w.dataset),
        sm=SM,
    shell:
        "{params.sm} prepare {wildcards.dataset} --raw-dir $(dirname {input}) --out {output} "
        "--overrides {params.overrides:q} 2> {log}"
