# Training: one job per (net, regime, seed). GPU-tagged: a GPU is requested on clusters, and locally
# `--resources gpu=N` bounds concurrent GPU jobs (each pinned to its own device via lock files).
# The job (params, shell) is common.smk's train job, shared with the sweeps' trainings.


rule train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **run_files(run_dir("{net}", "{regime}", "{seed}")),
    log:
        log_file("train"),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **train_params(train_spec),
    shell:
        TRAIN_SHELL
