"""`sharpminima nets`: the registry as a table, built on the paper's dataset shapes."""

from __future__ import annotations

import pandas as pd

from sharpminima.data import datasets
from sharpminima.nets import models


def nets_frame(bn: str = "batch") -> pd.DataFrame:
    rows = []
    for name, net in models.NETS.items():
        ds = datasets.DATASETS[net.dataset]
        model = models.build(name, ds.input_shape, ds.num_classes, bn=bn)
        rows.append({"net": name, "dataset": net.dataset,
                     "input": "x".join(map(str, ds.input_shape)), "classes": ds.num_classes,
                     "layers": net.summary, "trainable_params": models.count_trainable(model)})
    return pd.DataFrame(rows)


def nets_table(bn: str = "batch") -> str:
    df = nets_frame(bn)
    df["trainable_params"] = df["trainable_params"].map("{:,}".format)
    return df.to_markdown(index=False, colalign=["left"] * 5 + ["right"])
