"""Where a reproduction's time goes: every stage of every network, on whatever device is present.

A measurement, not a test. For each network (F1, F2, C1-C4, built for the paper's data shapes) it
measures, with warm-up, repeated timings and their median:
  train      training throughput (samples/s) at SB (256) and LB (10% of the paper's training set)
             through the pipeline's own loop (train.train_epoch + the plain remedies.Step: data
             resident on the device, batches are index slices); the epoch time follows from it
  naive      the same training the tutorial way: torch DataLoader over a float32 TensorDataset in
             host memory, shuffled, each batch copied host -> device; ratio = ours / naive
  pass       one full-training-set loss+gradient pass (evaluate.loss_and_grad, chunks of 5000):
             the unit of sharpness cost (one sharpness computation is ~11-12 of them)
  eval       evaluation throughput (evaluate.evaluate, chunks of 5000, forward only)
  sharpness  one full-space sharpness computation (eps 1e-3, 10 L-BFGS-B iterations); projected
             to the full training set as passes x full pass time + the time outside the passes
  speed      training throughput at SB with each speed option (sharpminima.training.speed) on
  multiseed  S seeds at once (sharpminima.training.multiseed) vs the same seeds one after the other
and the device's matrix-multiply rate (float32; on CUDA also TF32 and bf16), so every stage's
achieved FLOP/s (analytic counts, bench/flops.py) is shown as a fraction of the hardware limit.

Sizes. Data is generated (random uint8 images / float32 features of the paper's shapes and class
counts): the cost of these nets depends on shapes only. Each measurement processes enough samples
to take about --target seconds per repeat, estimated from the FLOP count and the measured matmul
rate, capped at the full dataset; throughputs are per sample, and full-set times are scaled from
them (linear in N: the passes are chunked). With --quick on a slow device (the CPU), the LB batch
is capped so that one step stays under --max-step seconds (the measured batch is recorded) and the
sharpness computation runs on a subset of the training set (recorded; its projection uses the
full-set pass time). Nothing here changes the arithmetic of the pipeline.

    python bench/run.py [--device auto] [--nets F1,C1] [--quick] [--repeats 5] [--out PATH]
    python bench/report.py bench/results/<device>.json     # the Markdown table
    python bench/projection.py bench/results/<device>.json # device-hours of `make reproduce`
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import flops as flopcount  # noqa: E402
from sharpminima.core.atomic import write_json  # noqa: E402
from sharpminima.core.provenance import code_version, package_versions, resolve_device  # noqa: E402
from sharpminima.data.splits import Dataset, Split  # noqa: E402
from sharpminima.measures.sharpness import sharpness  # noqa: E402
from sharpminima.nets import models  # noqa: E402
from sharpminima.nets.evaluate import evaluate, loss_and_grad  # noqa: E402
from sharpminima.training import remedies, speed  # noqa: E402
from sharpminima.training.multiseed import MultiSeed  # noqa: E402
from sharpminima.training.train import epoch_permutation, train_epoch  # noqa: E402

SB = 256
LB_FRACTION = 0.1
EVAL_CHUNK = 5000
#: Assumed fraction of the matmul rate a stage reaches, only to size the measurements.
SIZING_EFFICIENCY = 0.3


# ------------------------------------------------------------------------------------- helpers

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, warmup: int, repeats: int) -> dict:
    """Run fn warmup times, then time `repeats` runs; the first warm-up's duration is kept (it
    includes one-off costs: compilation, allocator growth)."""
    first = None
    for i in range(warmup):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        if i == 0:
            first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "times_s": times, "first_warmup_s": first}


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} CPU ({torch.get_num_threads()} threads)"


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def load_average() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def generated_split(shape, classes: int, n: int, device, seed: int = 0) -> Split:
    """n random examples of the paper's shape: uint8 images, or float32 features (TIMIT)."""
    g = torch.Generator().manual_seed(seed)
    if len(shape) == 3:
        x = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    else:
        x = torch.randn(n, *shape, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return Split(x.to(device), y.to(device))


def dataset(split: Split, shape, classes: int) -> Dataset:
    return Dataset("generated", split, split, classes, tuple(shape), {})


# ------------------------------------------------------------------------------ matmul rate

def matmul_rates(device, repeats: int) -> dict:
    """Square matmul FLOP/s (2 n^3 per product): float32 IEEE; on CUDA also TF32 and bf16."""
    n = 8192 if device.type == "cuda" else 2048
    out = {"n": n}
    cases = [("fp32", torch.float32, False)]
    if device.type == "cuda":
        cases += [("tf32", torch.float32, True), ("bf16", torch.bfloat16, False)]
    for name, dtype, tf32 in cases:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        reps = 10 if device.type == "cuda" else 3
        with speed.tf32_matmul(tf32):
            t = timed(lambda: [torch.mm(a, b) for _ in range(reps)], device, 2, repeats)
        out[name] = {"flop_per_s": 2 * n ** 3 * reps / t["median_s"], **t}
    return out


# --------------------------------------------------------------------------- the measurements

class NetBench:
    def __init__(self, net: str, device, args, peak: float):
        self.net, self.device, self.args, self.peak = net, device, args, peak
        d = flopcount.PAPER_DATA[net]
        self.shape, self.classes = d["input_shape"], d["num_classes"]
        self.n_train, self.n_test = d["n_train"], d["n_test"]
        self.flops = flopcount.count(net, self.shape, self.classes)
        self.lb = round(LB_FRACTION * self.n_train)

    # sizing: samples a measurement needs to last about `target` seconds
    def est_rate(self, per_sample_flops: float) -> float:
        return self.peak * SIZING_EFFICIENCY / per_sample_flops

    def samples_for(self, per_sample_flops: float, cap: int, floor: int = 1) -> int:
        return int(min(cap, max(floor, self.args.target * self.est_rate(per_sample_flops))))

    def steps_for(self, batch: int) -> int:
        n = self.samples_for(self.flops.train, cap=self.n_train, floor=batch)
        return max(1, n // batch)

    def measured_batch(self, batch: int) -> int:
        if not self.args.quick:
            return batch
        cap = int(self.args.max_step * self.est_rate(self.flops.train))
        return batch if batch <= cap else max(2 * SB, cap // SB * SB)

    def model(self, seed=0, options=None):
        m = models.build(self.net, self.shape, self.classes, seed=seed).to(self.device)
        return speed.prepare_model(m, options, self.device, log=lambda s: None)

    def fraction(self, samples_per_s: float, per_sample_flops: float) -> dict:
        achieved = samples_per_s * per_sample_flops
        return {"flop_per_s": achieved, "fraction_of_matmul_peak": achieved / self.peak}

    # --- training through the pipeline's loop
    def train(self, batch: int, options=None, warmup=None) -> dict:
        steps = self.steps_for(batch)
        n = steps * batch
        data = dataset(generated_split(self.shape, self.classes, n, self.device), self.shape,
                       self.classes)
        model = self.model(options=options)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        step = remedies.Step(model, opt, data.train, batch)
        epoch = [0]

        def run():
            epoch[0] += 1
            with speed.training(options, self.device):
                train_epoch(model, opt, data, batch, epoch_permutation(n, 0, epoch[0]), None,
                            step, epoch[0])

        t = timed(run, self.device, warmup or self.args.warmup, self.args.repeats)
        rate = n / t["median_s"]
        steps_full = self.n_train // batch
        return {"batch": batch, "steps_timed": steps, "samples_timed": n, **t,
                "samples_per_s": rate, "step_s": t["median_s"] / steps,
                "epoch_s": steps_full * batch / rate, **self.fraction(rate, self.flops.train)}

    # --- the tutorial way
    def naive(self, batch: int) -> dict:
        from torch.utils.data import DataLoader, TensorDataset

        steps = self.steps_for(batch)
        n = steps * batch
        split = generated_split(self.shape, self.classes, n, "cpu")
        x = split.x.float().div_(255.0) if split.x.dtype == torch.uint8 else split.x
        loader = DataLoader(TensorDataset(x, split.y), batch_size=batch, shuffle=True,
                            drop_last=True, generator=torch.Generator().manual_seed(0))
        model = self.model()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run():
            model.train()
            running = 0.0
            for xb, yb in loader:
                xb, yb = xb.to(self.device), yb.to(self.device)
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                running += loss.item()

        t = timed(run, self.device, self.args.warmup, self.args.repeats)
        rate = n / t["median_s"]
        return {"batch": batch, "steps_timed": steps, "samples_timed": n, **t,
                "samples_per_s": rate, "epoch_s": self.n_train // batch * batch / rate,
                **self.fraction(rate, self.flops.train)}

    # --- full-set passes
    def pass_(self) -> dict:
        n = self.samples_for(self.flops.train, cap=self.n_train, floor=min(256, self.n_train))
        chunk = min(EVAL_CHUNK, n)
        n = max(chunk, n // chunk * chunk)
        split = generated_split(self.shape, self.classes, n, self.device)
        model = self.model()
        t = timed(lambda: loss_and_grad(model, split, chunk), self.device, 1, self.args.repeats)
        rate = n / t["median_s"]
        return {"samples_timed": n, "chunk": chunk, **t, "samples_per_s": rate,
                "full_pass_s": self.n_train / rate, **self.fraction(rate, self.flops.train)}

    def eval(self) -> dict:
        n = self.samples_for(self.flops.forward, cap=self.n_train, floor=min(256, self.n_train))
        chunk = min(EVAL_CHUNK, n)
        n = max(chunk, n // chunk * chunk)
        split = generated_split(self.shape, self.classes, n, self.device)
        model = self.model()
        t = timed(lambda: evaluate(model, split, chunk), self.device, 1, self.args.repeats)
        rate = n / t["median_s"]
        return {"samples_timed": n, "chunk": chunk, **t, "samples_per_s": rate,
                "epoch_eval_s": (self.n_train + self.n_test) / rate,
                **self.fraction(rate, self.flops.forward)}

    def sharpness(self, full_pass_s: float) -> dict:
        # ~12 passes: size the subset so that the whole computation takes ~4 x target
        n = self.samples_for(self.flops.train * 3, cap=self.n_train, floor=min(128, self.n_train))
        n = self.n_train if not self.args.quick else n
        chunk = min(EVAL_CHUNK, n)
        split = generated_split(self.shape, self.classes, n, self.device)
        model = self.model()
        sync(self.device)
        res = sharpness(model, split, 1e-3, space="full", iters=10, chunk=chunk)
        projected = res["passes"] * full_pass_s + res["time_outside_s"]
        return {"samples": n, "chunk": chunk, "wall_s": res["wall_s"], "passes": res["passes"],
                "iterations": res["iterations"], "time_in_passes_s": res["time_in_passes_s"],
                "time_outside_s": res["time_outside_s"], "time_scipy_s": res["time_scipy_s"],
                "full_set_projected_s": projected if n < self.n_train else res["wall_s"],
                "measured_on_full_set": n == self.n_train}

    def multiseed(self, batch: int, seeds: int, single_rate: float) -> dict:
        steps = self.steps_for(batch)
        n = steps * batch
        data = dataset(generated_split(self.shape, self.classes, n, self.device), self.shape,
                       self.classes)
        ms = MultiSeed(list(range(seeds)), data, batch, net=self.net, device=self.device)
        epoch = [0]

        def run():
            epoch[0] += 1
            ms.train_epoch(epoch[0]).tolist()

        t = timed(run, self.device, self.args.warmup, self.args.repeats)
        rate = seeds * n / t["median_s"]
        return {"seeds": seeds, "batch": batch, "steps_timed": steps, **t,
                "samples_per_s": rate, "sequential_samples_per_s": single_rate,
                "speedup_vs_sequential": rate / single_rate,
                **self.fraction(rate, self.flops.train)}


#: --quick on a CPU: torch.compile of the VGG nets (C2/C4) is not measured. Inductor's CPU code for
#: them takes minutes to build (5+ min on 2 cores) and then runs the max-pool/BN kernels in slow
#: generated loops (seen: C1 compiled at 0.25-1.2x eager speed, run to run), so a quick run would
#: spend most of its time there. A full (non-quick) run measures it.
QUICK_CPU_NO_COMPILE = ("C2", "C4")


def speed_cases(net: str, device, quick: bool = False) -> dict[str, dict]:
    """The options worth measuring for `net` on `device` (channels_last only for conv nets)."""
    conv = net.startswith("C")
    compile_ok = not (quick and device.type == "cpu" and net in QUICK_CPU_NO_COMPILE)
    cases = {"compile": {"compile": True}} if compile_ok else {}
    if conv:
        cases["channels_last"] = {"channels_last": True}
        if compile_ok:
            cases["compile+channels_last"] = {"compile": True, "channels_last": True}
    if device.type == "cuda":
        cases["tf32"] = {"tf32": True}
        cases["autocast_bf16"] = {"autocast_bf16": True}
        cases["all"] = {"compile": True, "channels_last": conv, "tf32": True,
                        "autocast_bf16": True}
    return cases


def _parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--nets", default=",".join(flopcount.PAPER_DATA))
    ap.add_argument("--quick", action="store_true",
                    help="CPU-feasible: cap the LB batch (--max-step) and the sharpness subset")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--target", type=float, default=None,
                    help="seconds per timed repeat (default 1 on CPU, 0.5 on CUDA)")
    ap.add_argument("--max-step", type=float, default=15.0,
                    help="--quick: cap the LB batch so that one step takes about this long (s)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--skip", default="", help="comma list of stages to skip: naive,pass,eval,"
                                                "sharpness,speed,multiseed,lb")
    ap.add_argument("--multiseed-nets", default="F1,F2,C1,C3")
    ap.add_argument("--seeds", type=int, default=5, help="seeds trained at once (multiseed)")
    ap.add_argument("--out", type=Path, default=None,
                    help="default bench/results/<device>.json")
    ap.add_argument("--merge", action="store_true",
                    help="keep the nets already in --out (same device) and replace only those "
                         "measured now (each net records its own date and load average)")
    return ap.parse_args(argv)


def _header(args, device, label: str, skip: set[str]) -> dict:
    """The results file's description of this run: device, versions, settings, notes."""
    return {
        "device": label, "device_type": device.type,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(), "code": code_version(), "cuda": torch.version.cuda,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "load_average_start": load_average(),
        "settings": {"quick": args.quick, "repeats": args.repeats, "warmup": args.warmup,
                     "target_s": args.target, "max_step_s": args.max_step, "skip": sorted(skip),
                     "seeds": args.seeds},
        "notes": [
            "data: generated, of the paper's shapes and class counts (cost depends on shapes only)",
            "times: median of the repeats after warm-up; samples/s = samples per timed repeat / "
            "median",
            "FLOPs: bench/flops.py (Linear/Conv multiply-adds x2; backward = 2 x forward minus "
            "the first layer's input gradient); fraction = achieved FLOP/s / measured fp32 "
            "matmul FLOP/s",
        ],
    }


def _merge_previous(result: dict, out: Path, label: str) -> None:
    """--merge: keep the nets of the results file already at `out` (of the same device)."""
    previous = json.loads(out.read_text())
    if previous.get("device") != label:
        raise SystemExit(f"--merge: {out} holds {previous.get('device')!r}, not {label!r}")
    result["nets"] = previous.get("nets", {})
    result["merged_runs"] = previous.get("merged_runs", [previous["date"]]) + [result["date"]]


def _note(net: str, stage: str, rec: dict) -> None:
    print(f"{net} {stage}: " + ", ".join(
        f"{k} {v:.4g}" for k, v in rec.items()
        if k in ("samples_per_s", "epoch_s", "full_pass_s", "wall_s",
                 "full_set_projected_s", "fraction_of_matmul_peak",
                 "speedup_vs_sequential", "batch")), file=sys.stderr, flush=True)


def _train_stages(b: "NetBench", r: dict, skip: set[str]) -> None:
    """Training throughput at SB and LB, and the naive loop's at both."""
    r["train"] = {"SB": b.train(SB)}
    _note(b.net, "train SB", r["train"]["SB"])
    if "lb" not in skip:
        lb = b.measured_batch(b.lb)
        rec = r["train"]["LB"] = {**b.train(lb), "batch_nominal": b.lb}
        # the epoch of the nominal LB batch, at the throughput measured at `lb`
        rec["epoch_s"] = b.n_train // b.lb * b.lb / rec["samples_per_s"]
        rec["batch_capped"] = lb != b.lb
        _note(b.net, "train LB", rec)
    if "naive" not in skip:
        r["naive"] = {"SB": b.naive(SB)}
        r["naive"]["SB"]["ratio_ours_over_naive"] = (
            r["train"]["SB"]["samples_per_s"] / r["naive"]["SB"]["samples_per_s"])
        _note(b.net, "naive SB", r["naive"]["SB"])
        if "LB" in r["train"]:
            lb = r["train"]["LB"]["batch"]
            r["naive"]["LB"] = b.naive(lb)
            r["naive"]["LB"]["ratio_ours_over_naive"] = (
                r["train"]["LB"]["samples_per_s"] / r["naive"]["LB"]["samples_per_s"])
            _note(b.net, "naive LB", r["naive"]["LB"])


def _speed_stage(b: "NetBench", r: dict, args) -> None:
    """Training throughput at SB with each speed option worth measuring for this net."""
    r["speed"] = {}
    base = r["train"]["SB"]["samples_per_s"]
    cases = speed_cases(b.net, b.device, args.quick)
    if "compile" not in cases:
        r["speed_note"] = ("compile not measured (--quick on a CPU, see "
                           "QUICK_CPU_NO_COMPILE in bench/run.py)")
    for name, opts in cases.items():
        rec = b.train(SB, opts, warmup=max(args.warmup, 2))
        rec["speedup"] = rec["samples_per_s"] / base
        r["speed"][name] = rec
        _note(b.net, f"speed {name}", rec)


def _bench_net(net: str, device, args, peak: float, skip: set[str], ms_nets: set[str]) -> dict:
    """Every stage not skipped, for one net: its record in the results file."""
    b = NetBench(net, device, args, peak)
    r = {"flops": {k: v for k, v in b.flops.as_dict().items() if k != "layers"},
         "layers": b.flops.layers, "n_train": b.n_train, "n_test": b.n_test,
         "dataset": flopcount.PAPER_DATA[net]["dataset"], "sb": SB, "lb": b.lb}
    r["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    r["load_average_start"] = load_average()
    t0 = time.perf_counter()
    _train_stages(b, r, skip)
    if "pass" not in skip:
        r["pass"] = b.pass_()
        _note(net, "pass", r["pass"])
    if "eval" not in skip:
        r["eval"] = b.eval()
        _note(net, "eval", r["eval"])
    if "sharpness" not in skip and "pass" in r:
        r["sharpness"] = b.sharpness(r["pass"]["full_pass_s"])
        _note(net, "sharpness", r["sharpness"])
    if "speed" not in skip:
        _speed_stage(b, r, args)
    if "multiseed" not in skip and net in ms_nets:
        r["multiseed"] = b.multiseed(SB, args.seeds, r["train"]["SB"]["samples_per_s"])
        _note(net, "multiseed", r["multiseed"])
    r["bench_wall_s"] = time.perf_counter() - t0
    r["load_average_end"] = load_average()
    return r


def main(argv=None) -> dict:
    args = _parse(argv)
    torch.set_num_threads(args.threads or os.cpu_count())
    torch.set_num_interop_threads(1)
    device = resolve_device(args.device)
    args.target = args.target or (0.5 if device.type == "cuda" else 1.0)
    skip = {s for s in args.skip.split(",") if s}
    label = device_label(device)
    out = args.out or HERE / "results" / f"{slug(label)}.json"
    result = _header(args, device, label, skip)
    print(f"device: {label}; torch threads {torch.get_num_threads()}; load {load_average()}",
          file=sys.stderr)
    result["matmul"] = matmul_rates(device, args.repeats)
    peak = result["matmul"]["fp32"]["flop_per_s"]
    print(f"fp32 matmul: {peak / 1e9:.1f} GFLOP/s", file=sys.stderr)
    result["nets"] = {}
    if args.merge and out.exists():
        _merge_previous(result, out, label)
    ms_nets = set(args.multiseed_nets.split(","))
    for net in [n for n in args.nets.split(",") if n]:
        result["nets"][net] = _bench_net(net, device, args, peak, skip, ms_nets)
        result["load_average_end"] = load_average()
        write_json(out, result)  # after every net: a partial file survives an interruption
    print(f"wrote {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
