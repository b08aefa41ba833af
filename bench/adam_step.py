"""The cost of one Adam update per network: PyTorch's default implementation vs the fused kernel
(speed option fused_adam), on the device present, at the paper's input shapes.

At small batches the update is a large share of a step: SB's 100 steps per epoch pay it 100 times,
LB's 10 steps 10 times. Random gradients stand in for a backward pass (the update's cost does not
depend on their values). Median of --repeats timings of --steps updates each, after a warm-up.

    python bench/adam_step.py [--nets F1,C1] [--threads 1]  # -> bench/results/adam-step-cpu.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

import flops as flopcount
from run import device_label, sync
from sharpminima.nets.models import build
from sharpminima.training import speed

CASES = {"default": {}, "fused_adam": {"fused_adam": True}}


def step_ms(net: str, options: dict, device: torch.device, steps: int, repeats: int) -> float:
    """Median milliseconds of one Adam update over every parameter of `net`."""
    d = flopcount.PAPER_DATA[net]
    model = build(net, d["input_shape"], d["num_classes"]).to(device)
    opt = speed.adam(model.parameters(), options, lr=1e-3)
    g = torch.Generator(device=device).manual_seed(0)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=g, device=device)
    for _ in range(3):  # warm-up: the optimizer state is created at the first step
        opt.step()
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            opt.step()
        sync(device)
        times.append((time.perf_counter() - t) / steps * 1000)
    return statistics.median(times)


def table(rows: list[dict], device_name: str, command: str) -> str:
    lines = [f"# One Adam update: default vs fused (`speed.fused_adam`) on {device_name}",
             "", "    " + command, "",
             "| net | parameters | default ms/update | fused ms/update | speed-up |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['net']} | {r['params']:,} | {r['default']:.2f} | "
                     f"{r['fused_adam']:.2f} | {r['default'] / r['fused_adam']:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="F1,C1")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="Markdown file (default: "
                    "bench/results/adam-step-<cpu|cuda>.md)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for net in args.nets.split(","):
        params = sum(p.numel() for p in build(net, flopcount.PAPER_DATA[net]["input_shape"],
                                              flopcount.PAPER_DATA[net]["num_classes"])
                     .parameters())
        row = {"net": net, "params": params}
        for name, options in CASES.items():
            row[name] = step_ms(net, options, device, args.steps, args.repeats)
            print(f"{net} {name}: {row[name]:.2f} ms per update", flush=True)
        rows.append(row)
    out = args.out or Path(__file__).parent / "results" / f"adam-step-{device.type}.md"
    command = "python bench/adam_step.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out.write_text(table(rows, device_label(device), command.strip()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
