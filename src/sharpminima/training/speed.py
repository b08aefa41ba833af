"""Speed options of the training loop, each switchable, all off by default.

    compile        torch.compile of the model's forward, installed in place
                   (``model.forward = torch.compile(model.forward)``), so the state_dict keys,
                   checkpoints and every later stage are unchanged. Not ``nn.Module.compile()``:
                   with torch 2.13 it compiles ``Module._call_impl``, a torch-internal frame that
                   Dynamo skips, so a net made only of torch.nn layers (F1, F2) is not compiled
                   at all (and C1-C4 only their SamePool2d); not ``torch.compile(model)`` either,
                   whose wrapper renames every state_dict key (``_orig_mod.``).
    channels_last  NHWC memory format for the conv nets' weights (activations follow)
    fused_adam     Adam's update as one fused kernel (``torch.optim.Adam(fused=True)``) instead of
                   the per-tensor ops: the same float32 formula, a few times faster per step on a
                   CPU (bench/results), which matters at small batches (many steps per epoch)
    tf32           TF32 tensor-core matmuls on NVIDIA GPUs (Ampere and later)
    autocast_bf16  bfloat16 autocast of the training forward (and hence backward) on a GPU

Fidelity. ``compile``, ``channels_last`` and ``fused_adam`` compute the same functions in
float32; only the order of floating-point operations changes (fused kernels, another convolution
algorithm), i.e. rounding at the 1e-7 relative level, which chaotic training amplifies into
seed-like differences but not into a systematic shift. They are the SAFE options
(tests/test_speed.py: with them on, a tiny training's accuracies stay within a stated tolerance
of the reference). ``tf32`` (10-bit mantissa
in matmul inputs) and ``autocast_bf16`` (8-bit mantissa activations) lower the arithmetic
precision itself; they can move sharpness values, which are differences of losses at 1e-3
relative perturbations, so they are OFF for the paper's numbers and are offered for exploration
and for throughput measurements (bench/). Both are GPU-only: on a CPU they are no-ops (a note is
logged): bf16 autocast on a CPU is slower than float32 on most CPUs and TF32 does not exist there.

Note on TF32: PyTorch's own default already lets cuDNN run *convolutions* in TF32 on Ampere+
(``torch.backends.cudnn.allow_tf32 = True``) while *matmuls* stay IEEE float32. With ``tf32``
off, these defaults are left exactly as they are (bit-identical to a run without this module);
``tf32: true`` extends TF32 to matmuls (the Linear layers: all of F1/F2, the heads of C1-C4).

Where the options act: training steps only. Evaluation (the history's losses and accuracies, the
sharpness, Hessian and landscape passes) always runs in float32 without autocast, so a measured
f(x) means the same thing with any option set; ``compile`` and ``channels_last`` stay active in
evaluation because they change nothing but rounding.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import torch

SAFE = ("compile", "channels_last", "fused_adam")
GPU_ONLY = ("tf32", "autocast_bf16")


@dataclass(frozen=True)
class SpeedOptions:
    compile: bool = False
    channels_last: bool = False
    fused_adam: bool = False
    tf32: bool = False
    autocast_bf16: bool = False

    def enabled(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]

    def effective(self, device: torch.device | str) -> list[str]:
        """The options that act on `device` (the GPU-only ones are dropped elsewhere)."""
        cuda = torch.device(device).type == "cuda"
        return [name for name in self.enabled() if cuda or name not in GPU_ONLY]


def parse(options: dict | SpeedOptions | None) -> SpeedOptions:
    """A `speed` mapping ({option: bool}) as SpeedOptions; unknown names or non-booleans are
    errors."""
    if isinstance(options, SpeedOptions):
        return options
    options = options or {}
    if not isinstance(options, dict):
        raise ValueError(f"speed must be a mapping of option to true/false, got {options!r}")
    known = {f.name for f in dataclasses.fields(SpeedOptions)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown speed option(s) {sorted(unknown)}; known: {sorted(known)}")
    bad = {k: v for k, v in options.items() if not isinstance(v, bool)}
    if bad:
        raise ValueError(f"speed options are true/false, got {bad}")
    return SpeedOptions(**options)


def _has_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def prepare_model(model: torch.nn.Module, options: dict | SpeedOptions | None,
                  device: torch.device | str,
                  log=lambda s: print(s, file=sys.stderr, flush=True)) -> torch.nn.Module:
    """Apply the model-level options in place (channels_last, compile) and return the model.

    Call after the model is on its device and before the optimizer is built. Parameters keep their
    identity (``Module.to`` rewrites ``.data``) and the compiled forward is an instance attribute,
    so the state_dict keys are unchanged and checkpoints load into a plain model. Compilation
    happens at the first call (and once more per new input shape or train/eval mode).

    """
    opts = parse(options)
    device = torch.device(device)
    if opts.channels_last and _has_conv(model):
        model.to(memory_format=torch.channels_last)
    if opts.compile:
        model.forward = torch.compile(model.forward)
    ignored = sorted(set(opts.enabled()) - set(opts.effective(device)))
    if ignored:
        log(f"speed options {ignored} act on CUDA devices only: ignored on {device}")
    return model


def adam(params, options: dict | SpeedOptions | None, **hyper) -> torch.optim.Adam:
    """The run's Adam: fused into one kernel when fused_adam is set, else PyTorch's default."""
    return torch.optim.Adam(params, **hyper, **({"fused": True} if parse(options).fused_adam
                                                 else {}))


@contextlib.contextmanager
def tf32_matmul(enabled: bool) -> Iterator[None]:
    """TF32 matmuls inside the block (process-global setting, restored on exit)."""
    if not enabled:
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


@contextlib.contextmanager
def training(options: dict | SpeedOptions | None, device: torch.device | str) -> Iterator[None]:
    """Context of the training steps: TF32 matmuls and bf16 autocast where set and on CUDA.

    With no option set (or on a CPU) this is an empty context: the code inside runs exactly as
    without it.
    """
    opts = parse(options)
    device = torch.device(device)
    cuda = device.type == "cuda"
    with contextlib.ExitStack() as stack:
        if cuda and opts.tf32:
            stack.enter_context(tf32_matmul(True))
        if cuda and opts.autocast_bf16:
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        yield
