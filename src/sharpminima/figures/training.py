"""Fig. 2 of the paper: accuracy during SB and LB training. Tidy frame in, Figure out.

The frame is `sharpminima.analysis.records.read_histories` of the runs' history.csv files.
"""

from __future__ import annotations

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from sharpminima.figures.style import (
    ACC_LABEL,
    SPLIT_STYLES,
    regime_color,
    regime_order,
    single,
    styled,
    title,
)


def fig2(df: pd.DataFrame, scale: str) -> Figure:
    """Train and test accuracy vs epoch, one colour per regime, mean over seeds with a +-1 sd band.

    `df`: tidy rows net, dataset, regime, seed, epoch, split (train/test), accuracy (fraction);
    optional batch_size. Runs that stopped early drop out of the mean after their last epoch (the
    legend gives the number of seeds, n).
    """
    net, dataset = single(df, "net"), single(df, "dataset")
    order = regime_order(df["regime"].unique())
    with styled():
        fig = Figure(figsize=(6.4, 4.4), layout="constrained")
        ax = fig.add_subplot()
        for regime in order:
            g = df[df["regime"] == regime]
            n = g["seed"].nunique()
            batch = (f", batch {int(g['batch_size'].iloc[0])}"
                     if "batch_size" in g and g["batch_size"].notna().any() else "")
            for split in ("train", "test"):
                s = g[g["split"] == split].groupby("epoch")["accuracy"]
                mean, sd = s.mean() * 100, s.std(ddof=1).fillna(0.0) * 100
                color = regime_color(regime, order)
                ax.plot(mean.index, mean.values, SPLIT_STYLES[split], color=color,
                        label=f"{regime}{batch}: {split} (n={n})")
                ax.fill_between(mean.index, (mean - sd).values, (mean + sd).values, color=color,
                                alpha=0.2, linewidth=0)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(ACC_LABEL)
        ax.set_title(title("Fig. 2: accuracy during training (mean ± 1 sd over seeds)", net,
                           dataset, scale))
        fig.legend(loc="outside lower center", ncols=len(order), fontsize="small")
    return fig
