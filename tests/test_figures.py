"""Figures: tidy DataFrame in, matplotlib Figure out (checked without writing files), one style."""

import json

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from sharpminima.analysis import records
from sharpminima.figures import registry, style
from sharpminima.figures.paths import fig3
from sharpminima.figures.slices import slice2d
from sharpminima.figures.training import fig2


def labelled(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


@pytest.fixture
def history():
    rows = []
    for regime, batch in (("SB", 256), ("LB", 6000)):
        for seed in (0, 1, 2):
            for epoch in range(1, 6):
                for split, base in (("train", 0.9), ("test", 0.8)):
                    rows.append({"net": "F1", "dataset": "mnist", "regime": regime, "seed": seed,
                                 "batch_size": batch, "epoch": epoch, "split": split,
                                 "accuracy": base + 0.01 * epoch + 0.001 * seed})
    return pd.DataFrame(rows)


@pytest.fixture
def paths():
    rows = []
    for path in ("linear", "curvilinear"):
        for alpha in np.linspace(-1, 2, 25):
            for split, shift in (("train", 0.0), ("test", 0.1)):
                rows.append({"net": "C1", "dataset": "cifar10", "seed": 3, "bn": "batch",
                             "path": path, "alpha": alpha, "split": split,
                             "loss": 0.01 + shift + (alpha - 0.5) ** 2,
                             "accuracy": max(0.0, 1 - 0.2 * (alpha - 0.5) ** 2 - shift)})
    return pd.DataFrame(rows)


@pytest.fixture
def slices():
    rows = []
    c = np.linspace(-1, 1, 5)
    for regime, k in (("SB", 1.0), ("LB", 30.0)):
        for x in c:
            for y in c:
                rows.append({"net": "F1", "dataset": "fashion_mnist", "regime": regime, "seed": 1,
                             "x": x, "y": y, "split": "train", "loss": 0.02 + k * (x * x + y * y),
                             "accuracy": 0.9})
    return pd.DataFrame(rows)


def test_fig2_draws_mean_curves_with_bands(history):
    fig = fig2(history, "demo")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy (%)"
    lines = labelled(ax)
    assert len(lines) == 4  # SB/LB x train/test
    assert {line.get_linestyle() for line in lines} == {"-", "--"}
    assert len(ax.collections) == 4  # one +-1 sd band per line
    sb_train = next(line for line in lines
                    if line.get_label().startswith("SB") and "train" in line.get_label())
    np.testing.assert_allclose(sb_train.get_ydata(), 100 * (0.9 + 0.01 * np.arange(1, 6) + 0.001))
    assert "n=3" in sb_train.get_label() and "batch 256" in sb_train.get_label()
    t = ax.get_title()
    assert "F1" in t and "MNIST" in t and "DEMO" in t


@pytest.mark.parametrize("kind, path", [("fig3", "linear"), ("fig7", "curvilinear")])
def test_parametric_plots_have_loss_left_and_accuracy_right(paths, kind, path):
    fig = registry.FIGURES[kind](paths, "full")
    assert isinstance(fig, Figure)
    ax, ax2 = fig.axes
    assert ax.get_ylabel().startswith("cross-entropy (nats") and ax2.get_ylabel() == "accuracy (%)"
    assert "alpha" in ax.get_xlabel()
    assert len(labelled(ax)) == 2 and len(labelled(ax2)) == 2  # train solid, test dashed
    assert [line.get_linestyle() for line in labelled(ax)] == ["-", "--"]
    train = labelled(ax)[0]
    expected = paths[(paths.path == path) & (paths.split == "train")]
    np.testing.assert_allclose(train.get_ydata(), expected["loss"])
    assert ax.get_yscale() == "log"
    t = ax.get_title()
    assert "C1" in t and "CIFAR-10" in t and "full scale" in t and "seed 3" in t
    assert ("Fig. 3" in t) == (kind == "fig3")


def test_parametric_plot_linear_scale_option(paths):
    fig = fig3(paths, "tiny", loss_scale="linear")
    assert fig.axes[0].get_yscale() == "linear" and "TINY" in fig.axes[0].get_title()


def test_slice2d_panels_share_one_colour_scale(slices):
    fig = slice2d(slices, "demo")
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split()[0] for ax in panels] == ["SB", "LB"]
    filled = [next(c for c in ax.collections if c.get_array() is not None) for ax in panels]
    norms = {(c.norm.vmin, c.norm.vmax) for c in filled}
    assert len(norms) == 1  # one scale for both panels
    assert norms.pop() == pytest.approx((0.02, 0.02 + 30 * 2))
    assert "filter-normalized" in panels[0].get_xlabel()
    colorbar = [ax for ax in fig.axes if ax not in panels]
    assert len(colorbar) == 1 and "cross-entropy (nats)" in colorbar[0].get_ylabel()
    assert "Fashion-MNIST" in fig.get_suptitle() and "DEMO" in fig.get_suptitle()


def test_drawing_does_not_change_global_matplotlib_state(history):
    before = dict(mpl.rcParams)
    fig2(history, "full")
    assert dict(mpl.rcParams) == before


def test_read_histories_makes_the_tidy_frame(tmp_path):
    for regime, seed in (("SB", 0), ("LB", 0)):
        d = tmp_path / "F1" / regime / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"net": "F1", "dataset": "mnist",
                                                    "regime": regime, "seed": seed}))
        # epoch 2 was not evaluated (train.eval_every 3): minibatch loss only, left out
        pd.DataFrame({"epoch": [1, 2, 3], "batch_size": 256, "train_acc": [0.5, None, 0.6],
                      "test_acc": [0.4, None, 0.5], "train_loss": [1.0, None, 0.9],
                      "test_loss": [1.1, None, 1.0]}).to_csv(d / "history.csv", index=False)
    df = registry.read_inputs("fig2", sorted(tmp_path.glob("F1/*/seed0/history.csv")))
    assert len(df) == 2 * 2 * 2 and set(df.split) == {"train", "test"}
    assert set(df.epoch) == {1, 3} and df.accuracy.notna().all()
    assert isinstance(fig2(df, "tiny"), Figure)
    long = records.long_histories(records.histories(
        sorted(tmp_path.glob("F1/*/seed0/history.csv"))))
    assert len(long) == 2 * 2 * 2 and set(long.epoch) == {1, 3}


def test_save_writes_png_and_pdf_atomically(tmp_path, history):
    out = style.save(fig2(history, "full"), tmp_path / "figs" / "fig2_F1")
    assert [p.name for p in out] == ["fig2_F1.png", "fig2_F1.pdf"]
    assert out[0].read_bytes()[:4] == b"\x89PNG" and out[1].read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["fig2_F1.pdf", "fig2_F1.png"]


def test_registry_names_a_module_and_a_function_for_every_kind():
    import importlib

    from sharpminima.figures import correlation, sweeps
    assert set(registry.MODULE_OF) == {"fig2", "fig3", "fig7", "slice2d", *sweeps.FIGURES,
                                       *correlation.FIGURES}
    for kind, module in registry.MODULE_OF.items():
        assert registry.FIGURES[kind] is getattr(importlib.import_module(module), kind)


def test_registry_draws_a_not_measured_figure_for_an_empty_frame(tmp_path):
    fig = registry.draw("fig3", pd.DataFrame(), "tiny", tmp_path / "fig3_F1")
    assert "not measured" in fig.axes[0].texts[0].get_text()


def test_analysis_does_not_import_figures():
    import subprocess
    import sys
    code = ("import sys; import sharpminima.analysis.summary, sharpminima.analysis.report, "
            "sharpminima.analysis.findings; "
            "print(any(m.startswith(('sharpminima.figures', 'seaborn', 'matplotlib')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
