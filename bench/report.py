"""Benchmark results JSON (bench/run.py) -> Markdown tables (bench/results/<device>.md).

    python bench/report.py bench/results/<device>.json [--out PATH] [--no-projection]

Columns (all per network, paper data shapes; "% peak" = achieved FLOP/s / measured fp32 matmul
FLOP/s of the same device, FLOPs from bench/flops.py):
  train SB/LB    samples/s of the pipeline's training loop at the SB (256) / LB (10%) batch;
                 epoch = floor(N/B) x B / (samples/s), the training steps only
  naive x        ours / naive samples/s (torch DataLoader + per-batch host-to-device copies)
  pass           one full-training-set loss+gradient pass (s): the unit of sharpness cost
  eval           evaluation samples/s (forward only)
  sharpness      one full-space sharpness computation on the full training set (s): measured,
                 or projected = passes x pass + time outside the passes when measured on a subset
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from flops import human  # noqa: E402


def fmt(x, digits=3) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def header(res: dict) -> list[str]:
    v = res["versions"]
    mm = res["matmul"]
    rates = ", ".join(f"{k} {mm[k]['flop_per_s'] / 1e9:,.0f} GFLOP/s"
                      for k in ("fp32", "tf32", "bf16") if k in mm)
    s = res["settings"]
    load = res.get("load_average_start"), res.get("load_average_end")
    load_txt = " / ".join("-" if x is None else f"{x[0]:.2f}" for x in load)
    return [
        f"# Benchmark: {res['device']}",
        "",
        f"- date: {res['date']}; torch {v.get('torch')}, Python {v.get('python')}, numpy "
        f"{v.get('numpy')}, scipy {v.get('scipy')}" + (f", CUDA {res['cuda']}" if res.get("cuda")
                                                        else ""),
        f"- torch threads: {res['torch_threads']} (cores: {res['cpu_count']}); 1-minute load "
        f"average at start / end: {load_txt}",
        f"- matrix-multiply rate ({mm['n']}x{mm['n']}): {rates} (the \"peak\" below is fp32)",
        f"- settings: {'--quick, ' if s['quick'] else ''}{s['repeats']} timed repeats (median) "
        f"after {s['warmup']} warm-up, ~{s['target_s']} s per repeat"
        + (f"; skipped: {', '.join(s['skip'])}" if s["skip"] else ""),
        f"- code: {res['code'].get('git_commit', '?')[:10]}"
        + (" (dirty tree)" if res["code"].get("git_dirty") else ""),
        "",
    ]


def training_table(res: dict) -> list[str]:
    lines = [
        "## Training (the pipeline's loop) vs the naive DataLoader loop",
        "",
        "| net | params | train FLOP/sample | SB samples/s | SB epoch s | SB % peak | naive x SB "
        "| LB batch (measured) | LB samples/s | LB epoch s | LB % peak | naive x LB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for net, r in res["nets"].items():
        sb, lb = get(r, "train", "SB"), get(r, "train", "LB")
        lb_batch = "-" if lb is None else (
            f"{r['lb']} ({lb['batch']})" if lb.get("batch_capped") else f"{r['lb']}")
        lines.append(
            f"| {net} | {r['flops']['params']:,} | {human(r['flops']['train'])}FLOP | "
            f"{fmt(get(sb, 'samples_per_s'))} | {fmt(get(sb, 'epoch_s'))} | "
            f"{pct(get(sb, 'fraction_of_matmul_peak'))} | "
            f"{fmt(get(r, 'naive', 'SB', 'ratio_ours_over_naive'))} | {lb_batch} | "
            f"{fmt(get(lb, 'samples_per_s'))} | {fmt(get(lb, 'epoch_s'))} | "
            f"{pct(get(lb, 'fraction_of_matmul_peak'))} | "
            f"{fmt(get(r, 'naive', 'LB', 'ratio_ours_over_naive'))} |")
    return lines + [""]


def measurement_table(res: dict) -> list[str]:
    lines = [
        "## Measurement passes (sharpness, evaluation)",
        "",
        "| net | N train | pass s (full set) | pass % peak | eval samples/s | eval % peak "
        "| sharpness s (full set) | passes | outside s | sharpness measured on |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for net, r in res["nets"].items():
        sh = r.get("sharpness") or {}
        on = "-" if not sh else ("full set" if sh["measured_on_full_set"]
                                 else f"{sh['samples']:,} examples (projected)")
        lines.append(
            f"| {net} | {r['n_train']:,} | {fmt(get(r, 'pass', 'full_pass_s'))} | "
            f"{pct(get(r, 'pass', 'fraction_of_matmul_peak'))} | "
            f"{fmt(get(r, 'eval', 'samples_per_s'))} | "
            f"{pct(get(r, 'eval', 'fraction_of_matmul_peak'))} | "
            f"{fmt(sh.get('full_set_projected_s'))} | {fmt(sh.get('passes'))} | "
            f"{fmt(sh.get('time_outside_s'))} | {on} |")
    return lines + [""]


def speed_table(res: dict) -> list[str]:
    rows = [(net, name, rec) for net, r in res["nets"].items()
            for name, rec in (r.get("speed") or {}).items()]
    if not rows:
        return []
    lines = [
        "## Speed options (training at SB, vs all options off)",
        "",
        "| net | option | samples/s | speed-up | % peak | first call s (incl. compilation) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for net, name, rec in rows:
        lines.append(f"| {net} | {name} | {fmt(rec['samples_per_s'])} | {rec['speedup']:.2f}x | "
                     f"{pct(rec['fraction_of_matmul_peak'])} | {fmt(rec['first_warmup_s'])} |")
    notes = [f"{net}: {r['speed_note']}" for net, r in res["nets"].items() if r.get("speed_note")]
    return lines + [""] + ([f"Note: {'; '.join(notes)}.", ""] if notes else [])


def multiseed_table(res: dict) -> list[str]:
    rows = [(net, r["multiseed"]) for net, r in res["nets"].items() if r.get("multiseed")]
    if not rows:
        return []
    lines = [
        "## Several seeds at once (torch.func stacked modules + vmap) vs one after the other",
        "",
        "| net | seeds | batch | samples/s, all seeds | samples/s, sequential | speed-up "
        "| % peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for net, m in rows:
        lines.append(f"| {net} | {m['seeds']} | {m['batch']} | {fmt(m['samples_per_s'])} | "
                     f"{fmt(m['sequential_samples_per_s'])} | {m['speedup_vs_sequential']:.2f}x "
                     f"| {pct(m['fraction_of_matmul_peak'])} |")
    return lines + [""]


def conditions_table(res: dict) -> list[str]:
    lines = ["## Measurement conditions per net", "",
             "| net | measured at (UTC) | 1-min load start | 1-min load end | bench wall s |",
             "|---|---|---:|---:|---:|"]
    for net, r in res["nets"].items():
        start, end = r.get("load_average_start"), r.get("load_average_end")
        lines.append(f"| {net} | {r.get('date', res['date'])} | "
                     f"{'-' if not start else f'{start[0]:.2f}'} | "
                     f"{'-' if not end else f'{end[0]:.2f}'} | {fmt(r.get('bench_wall_s'))} |")
    return lines + [""]


def render(res: dict, projection: bool = True) -> str:
    order = ["F1", "F2", "C1", "C2", "C3", "C4"]
    res = {**res, "nets": dict(sorted(res["nets"].items(),
                                      key=lambda kv: (order + [kv[0]]).index(kv[0])))}
    lines = (header(res) + training_table(res) + measurement_table(res) + speed_table(res)
             + multiseed_table(res) + conditions_table(res))
    if projection:
        import projection as proj  # noqa: PLC0415

        try:
            p = proj.project(res, proj.ROOT / "config/config.yaml")
            lines += ["## " + proj.markdown(p).lstrip("# ")]
        except (KeyError, FileNotFoundError, RuntimeError) as err:  # partial results, no DAG
            lines += [f"(projection unavailable: {err!r})", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="default: the JSON's path with .md")
    ap.add_argument("--no-projection", action="store_true")
    args = ap.parse_args(argv)
    res = json.loads(args.results.read_text())
    md = render(res, not args.no_projection)
    out = args.out or args.results.with_suffix(".md")
    out.write_text(md)
    print(md)
    return md


if __name__ == "__main__":
    main()
