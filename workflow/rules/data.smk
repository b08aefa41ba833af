# Datasets: fetch (download or copy, verified by checksum) then prepare (canonical uint8 .npz).


rule fetch:
    input:
        user_data_file,
    output:
        raw_manifest("{dataset}"),
    params:
        overrides=lambda w: dataset_overrides(w.dataset),
        sm=SM,
    log:
        log_file("fetch"),
    shell:
        "{params.sm} fetch {wildcards.dataset} --out-dir $(dirname {output}) "
        "--overrides {params.overrides:q} 2> {log}"


rule prepare:
    input:
        rules.fetch.output,
    output:
        prepared("{dataset}"),
    params:
        overrides=lambda w: dataset_overrides(w.dataset),
        sm=SM,
    log:
        log_file("prepare"),
    shell:
        "{params.sm} prepare {wildcards.dataset} --raw-dir $(dirname {input}) --out {output} "
        "--overrides {params.overrides:q} 2> {log}"
