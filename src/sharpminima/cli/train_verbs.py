"""The training verb: one network at one regime and seed."""

from __future__ import annotations

import sys
from pathlib import Path

from sharpminima.cli.common import add_compute_args, add_size_args, json_arg, setup_compute


def cmd_train(args) -> int:
    from sharpminima.data import splits as data
    from sharpminima.measures import noise
    from sharpminima.training import train
    device = setup_compute(args)
    spec = train.TrainSpec.from_dict(args.spec)
    ds = data.load(args.data, device, args.train_size, args.test_size)
    metrics = train.train(spec, ds, Path(args.out_dir), device,
                          epoch_columns=noise.epoch_columns(spec, ds))
    print(f"{metrics['status']}: train acc {metrics['train_acc']:.4f}, "
          f"test acc {metrics['test_acc']:.4f}", file=sys.stderr)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train one network at one regime and seed")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--spec", type=json_arg, required=True, help="JSON training spec (TrainSpec)")
    p.add_argument("--out-dir", required=True)
    add_size_args(p, "train", "test")
    add_compute_args(p)
    p.set_defaults(func=cmd_train)
