# The paper's Section 4 experiments and what motivates them, each declared by a config block:
#   batch_sweep               Fig. 4: test accuracy and sharpness vs batch size
#   warm_start                Fig. 5: LB runs warm-started from SB iterates ("piggybacking")
#   sharpness_along_training  Fig. 6: sharpness vs training loss at checkpoints of SB and LB training
#   gradient_noise            spread of minibatch gradients vs m (the O(sqrt(m)) point) at checkpoints,
#                             and the gradient noise scale B_simple along SB and LB training
#   regimes.<r>.batch_schedule  dynamic sampling (the paper's proposed remedy): results/tables/dynamic
# Every training is the `train` verb (the one training loop) with a spec built here from the SB / LB
# regimes' resolved spec; every sharpness is the `sharpness` verb. Runs live in their own folders:
#   results/sweeps/batch/{net}/b{batch}/seed{seed}/              batch-size sweep
#   results/sweeps/trajectory/{net}/{regime}/seed{seed}/         SB and LB runs of a fixed length that
#       keep their iterates (iterates/epoch{e}.pt; e = 0 is x0) for Figs. 5 and 6 and the noise
#       checkpoints, and record B_simple per epoch in history.csv (no early stopping)
#   results/sweeps/warmstart/{net}/from{epoch}/seed{seed}/       LB from the SB iterate of that epoch
# Measurements sit beside what they measure: <model>.sharpness_<space>_eps<eps>.json,
# iterates/epoch{e}.noise.csv. Tidy frames (results/sweeps/**/{fig4,fig5,fig6,noise_*}.csv) feed the
# figures. Training and measurement rules are GPU-tagged; frames and figures run on the CPU.
# Paths: common.smk (batch_dir, trajectory_dir, warm_dir, iterate, model_sharpness, noise_file,
# frame_file); the training and sharpness jobs and the figure rule: common.smk's shared pieces.
# The functions and values that plan the experiments (specs, runs, targets): plan.smk.


localrules:
    fig4_frame,  # frames, figures and the table: light, on the submitting host
    fig5_frame,
    fig6_frame,
    noise_spread_frame,
    noise_scale_frame,
    fig4_figure,
    fig5_figure,
    fig6_figure,
    noise_spread_figure,
    noise_scale_figure,
    dynamic_table,


# ----------------------------------------------------------------------------------- training
# common.smk's train job, each with its own spec.


rule sweep_batch_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **run_files(batch_dir("{net}", "{batch}", "{seed}")),
    log:
        log_file("sweep_batch_train"),
    wildcard_constraints:
        batch=r"\d+",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **train_params(batch_spec),
    shell:
        TRAIN_SHELL


rule trajectory_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        **run_files(trajectory_dir("{net}", "{regime}", "{seed}")),
        **(
            {"iterates": [iterate("{net}", "{regime}", "{seed}", e) for e in TRAJECTORY_EPOCHS]}
            if TRAJECTORY_EPOCHS
            else {}
        ),
    log:
        log_file("trajectory_train"),
    wildcard_constraints:
        regime=f"{SWEEP_SB}|{SWEEP_LB}",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **train_params(trajectory_spec),
    shell:
        TRAIN_SHELL


rule warmstart_train:
    input:
        data=lambda w: prepared(net_dataset(w.net)),
        init=iterate("{net}", SWEEP_SB, "{seed}", "{epoch}"),
    output:
        **run_files(warm_dir("{net}", "{epoch}", "{seed}")),
    log:
        log_file("warmstart_train"),
    wildcard_constraints:
        epoch=r"\d+",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **train_params(warm_spec),
    shell:
        TRAIN_SHELL


# ----------------------------------------------------------------------------------- measurements


rule sweep_sharpness:
    input:
        model=sweep_model("{kind}", "{net}", "{path}"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        model_sharpness(sweep_model("{kind}", "{net}", "{path}"), "{space}", "{eps}"),
    log:
        log_file("sweep_sharpness"),
    wildcard_constraints:
        kind="|".join(SWEEP_KINDS),
        path=r"[A-Za-z0-9_/]+",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **sharpness_params(sweep_regime),  # common.smk's sharpness job
    shell:
        SHARPNESS_SHELL


rule grad_noise:
    input:
        model=iterate("{net}", "{regime}", "{seed}", "{epoch}"),
        data=lambda w: prepared(net_dataset(w.net)),
    output:
        noise_file("{net}", "{regime}", "{seed}", "{epoch}"),
    log:
        log_file("grad_noise"),
    wildcard_constraints:
        regime=f"{SWEEP_SB}|{SWEEP_LB}",
        epoch=r"\d+",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        **gpu_params(),
        size=lambda w: subset_args(w.net, "gradient_noise", ("train",)),
        sizes=" ".join(str(m) for m in NOISE["batch_sizes"]),
        repeats=NOISE["repeats"],
        seed=NOISE["seed"],
    shell:
        "{params.sm} grad-noise --model {input.model} --data {input.data} {params.size} "
        "--sizes {params.sizes} --repeats {params.repeats} --seed {params.seed} --out {output} "
        "--device {params.device} --threads {threads} --gpu-lock-dir {params.gpu_locks} 2> {log}"


# ----------------------------------------------------------------------------------- frames


rule fig4_frame:
    input:
        metrics=lambda w: batch_sweep_inputs(w.net)["metrics"],
        sharpness=lambda w: batch_sweep_inputs(w.net)["sharpness"],
    output:
        frame_file("fig4", "{net}"),
    log:
        log_file("fig4_frame"),
    conda:
        CONDA_ENV
    params:
        code=code_hash("sharpminima.analysis.sweeps", "batch_sweep_frame"),
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} sweep-frame fig4 --metrics {input.metrics} --sharpness {input.sharpness} "
        "--out {output} --scale {params.scale} 2> {log}"


rule fig5_frame:
    input:
        histories=lambda w: warm_inputs(w.net)["histories"],
        sharpness=lambda w: warm_inputs(w.net)["sharpness"],
    output:
        frame_file("fig5", "{net}"),
    log:
        log_file("fig5_frame"),
    conda:
        CONDA_ENV
    params:
        code=code_hash("sharpminima.analysis.sweeps", "warm_start_frame"),
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} sweep-frame fig5 --histories {input.histories} --sharpness {input.sharpness} "
        "--out {output} --scale {params.scale} 2> {log}"


rule fig6_frame:
    input:
        histories=lambda w: along_inputs(w.net)["histories"],
        sharpness=lambda w: along_inputs(w.net)["sharpness"],
    output:
        frame_file("fig6", "{net}"),
    log:
        log_file("fig6_frame"),
    conda:
        CONDA_ENV
    params:
        code=code_hash("sharpminima.analysis.sweeps", "along_training_frame"),
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} sweep-frame fig6 --sharpness {input.sharpness} --histories {input.histories} "
        "--out {output} --scale {params.scale} 2> {log}"


rule noise_spread_frame:
    input:
        lambda w: noise_spread_inputs(w.net),
    output:
        frame_file("noise_spread", "{net}"),
    log:
        log_file("noise_spread_frame"),
    conda:
        CONDA_ENV
    params:
        code=code_hash("sharpminima.analysis.sweeps", "spread_frame"),
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} sweep-frame noise_spread --records {input} --out {output} "
        "--scale {params.scale} 2> {log}"


rule noise_scale_frame:
    input:
        lambda w: noise_scale_inputs(w.net),
    output:
        frame_file("noise_scale", "{net}"),
    log:
        log_file("noise_scale_frame"),
    conda:
        CONDA_ENV
    params:
        code=code_hash("sharpminima.analysis.sweeps", "noise_scale_frame"),
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} sweep-frame noise_scale --histories {input} --out {output} "
        "--scale {params.scale} 2> {log}"


# ----------------------------------------------------------------------------------- figures
# common.smk's figure rule, drawn from the frames above.


rule fig4_figure:
    input:
        inputs=frame_file("fig4", "{net}"),
    output:
        figure_outputs("fig4"),
    log:
        log_file("fig4_figure"),
    conda:
        CONDA_ENV
    params:
        **figure_params("fig4"),
    shell:
        FIGURE_SHELL


rule fig5_figure:
    input:
        inputs=frame_file("fig5", "{net}"),
    output:
        figure_outputs("fig5"),
    log:
        log_file("fig5_figure"),
    conda:
        CONDA_ENV
    params:
        **figure_params("fig5"),
    shell:
        FIGURE_SHELL


rule fig6_figure:
    input:
        inputs=frame_file("fig6", "{net}"),
    output:
        figure_outputs("fig6"),
    log:
        log_file("fig6_figure"),
    conda:
        CONDA_ENV
    params:
        **figure_params("fig6"),
    shell:
        FIGURE_SHELL


rule noise_spread_figure:
    input:
        inputs=frame_file("noise_spread", "{net}"),
    output:
        figure_outputs("noise_spread"),
    log:
        log_file("noise_spread_figure"),
    conda:
        CONDA_ENV
    params:
        **figure_params("noise_spread"),
    shell:
        FIGURE_SHELL


rule noise_scale_figure:
    input:
        inputs=frame_file("noise_scale", "{net}"),
    output:
        figure_outputs("noise_scale"),
    log:
        log_file("noise_scale_figure"),
    conda:
        CONDA_ENV
    params:
        **figure_params("noise_scale"),
    shell:
        FIGURE_SHELL


# ----------------------------------------------------------------------------------- dynamic


rule dynamic_table:
    input:
        **dynamic_inputs(),
    output:
        **table_outputs("dynamic"),
    log:
        log_file("dynamic_table"),
    conda:
        CONDA_ENV
    params:
        code=code_hash("sharpminima.analysis.sweeps", "dynamic_table"),
        scale=config["scale"],
        sm=SM,
    shell:
        "{params.sm} dynamic-table --metrics {input.metrics} --sharpness {input.sharpness} "
        "--out-csv {output.csv} --out-md {output.md} --scale {params.scale} 2> {log}"
