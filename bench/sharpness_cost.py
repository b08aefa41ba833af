"""Cost of one full-space sharpness computation on F1-sized data: where does the time go?

Not a test: a measurement. Trains the paper's F1 (784 -> 5 x [Linear 512, BN with batch statistics,
ReLU] -> Linear 10, Glorot init; 1,462,794 trainable parameters) briefly with Adam, then runs one
full-space Metric 2.1 computation (eps 1e-3, 10 L-BFGS-B iterations, chunk 5000) on the 60k-example
training set, and records the wall time, the number of loss+gradient passes, the time inside the
passes and the time outside them (SciPy, float32 <-> float64 conversions, setup).

Requirement checked: time outside the passes < 10% of the total on this machine's CPU.

Data: Fashion-MNIST from the Debian package dataset-fashion-mnist when installed (IDX .gz files
parsed directly); otherwise random uint8 images and labels of the same shape, flagged in the output.
The cost of a pass depends on the shapes only, so random data measures the same time split.

    python bench/sharpness_cost.py [--epochs 2] [--out bench/results/sharpness_cost_cpu.json]
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sharpminima.core.atomic import write_json
from sharpminima.core.provenance import device_name, package_versions
from sharpminima.data.splits import Split
from sharpminima.measures.lbfgs_box import LBFGSB_ENGINE
from sharpminima.measures.sharpness import sharpness, sharpness_with_basis
from sharpminima.nets.models import build, count_trainable

FASHION = Path("/usr/share/datasets/fashion-mnist")
HERE = Path(__file__).resolve().parent


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped): big-endian header of magic (dtype code, ndim) and dims, then uint8."""
    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    if raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def training_split(data_dir: Path, seed: int) -> tuple[Split, str]:
    """The 60k training images as uint8 [N, 1, 28, 28] plus labels, and a note on their source."""
    images = data_dir / "train-images-idx3-ubyte.gz"
    labels = data_dir / "train-labels-idx1-ubyte.gz"
    if images.exists() and labels.exists():
        x = read_idx(images).reshape(-1, 1, 28, 28)
        y = read_idx(labels).astype(np.int64)
        return Split(torch.from_numpy(x.copy()), torch.from_numpy(y)), f"fashion-mnist ({data_dir})"
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (60000, 1, 28, 28), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (60000,), generator=gen)
    return Split(x, y), f"RANDOM uint8 images and labels ({data_dir} not found)"


def train(model: torch.nn.Module, split: Split, epochs: int, batch: int, seed: int) -> float:
    """Adam (Keras defaults) on seeded random batches; returns the wall time."""
    start = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(split), generator=gen)
        for i in range(0, len(split), batch):
            xb, yb = split.batch(order[i:i + batch])
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=FASHION)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--engine", choices=["setulb", "minimize"], default=None,
                    help=f"L-BFGS-B driver (default: the library's, {LBFGSB_ENGINE})")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "sharpness_cost_cpu.json")
    args = ap.parse_args()

    device = torch.device(args.device)
    split, source = training_split(args.data_dir, args.seed)
    split = Split(split.x.to(device), split.y.to(device))
    model = build("F1", (1, 28, 28), 10, seed=args.seed).to(device)
    train_s = train(model, split, args.epochs, args.batch, args.seed)

    if args.engine is None:  # the public entry point, as the pipeline calls it
        res = sharpness(model, split, args.eps, space="full", iters=args.iters, chunk=args.chunk)
    else:  # same computation with an explicit L-BFGS-B driver, for comparison
        res = sharpness_with_basis(model, split, args.eps, None, args.iters, args.chunk,
                                   engine=args.engine)
    outside_fraction = res["time_outside_s"] / res["wall_s"]
    report = {
        "what": "one full-space sharpness computation (Metric 2.1) of F1 on 60k training examples",
        "data": source, "n_train": len(split), "device": device_name(device),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "packages": package_versions(), "n_params": count_trainable(model),
        "train": {"epochs": args.epochs, "batch": args.batch, "optimizer": "Adam lr 1e-3",
                  "wall_s": train_s},
        "sharpness": res,
        "wall_s": res["wall_s"], "passes": res["passes"],
        "time_in_passes_s": res["time_in_passes_s"], "time_outside_s": res["time_outside_s"],
        "outside_fraction": outside_fraction,
        "seconds_per_pass": res["time_in_passes_s"] / res["passes"],
        "requirement": "outside_fraction < 0.10", "requirement_met": outside_fraction < 0.10,
    }
    write_json(args.out, report)
    print(f"data: {source}; {report['n_params']:,} parameters; trained {args.epochs} epochs "
          f"in {train_s:.1f} s")
    print(f"sharpness {res['sharpness']:.4g} (f(x) {res['f_x']:.4g} -> {res['f_max']:.4g}); "
          f"{res['iterations']} iterations, {res['passes']} passes; {res['lbfgsb_message']} "
          f"(engine {res['lbfgsb_engine']})")
    print(f"wall {res['wall_s']:.1f} s = passes {res['time_in_passes_s']:.1f} s "
          f"({report['seconds_per_pass']:.2f} s each) + outside {res['time_outside_s']:.2f} s "
          f"[SciPy {res['time_scipy_s']:.2f}, transfers {res['time_transfers_s']:.2f}, "
          f"setup {res['time_setup_s']:.2f}] -> outside fraction {outside_fraction:.1%} "
          f"({'meets' if report['requirement_met'] else 'FAILS'} < 10%)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
