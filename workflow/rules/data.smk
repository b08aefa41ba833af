# Datasets: fetch (download or copy, verified by checksum) then prepare (canonical uint8 .npz).


rule fetch:
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
