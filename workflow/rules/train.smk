# Training: one job per (net, regime, seed). GPU-tagged: a GPU is requested on clusters, and locally
# `--resources gpu=N` bounds concurrent GPU jobs (each pinned to its own device via lock files).


rule train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **run_files("{net}", "{regime}", "{seed}"),
    params:
        spec=train_spec,
        sizes=size_args,
        device=config["device"],
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"{LOGS}/train/{{net}}/{{regime}}/seed{{seed}}.log",
    shell:
        "{SM} train --data {input.data} --spec {params.spec:q} {params.sizes} "
        "--out-dir $(dirname {output.metrics}) --device {params.device} --threads {threads} "
        "--gpu-lock-dir {GPU_LOCKS} 2> {log}"
