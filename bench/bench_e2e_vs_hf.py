#!/usr/bin/env python3
"""End-to-end training throughput on one GPU: weft vs transformers + peft, same run (issue 7).

What: optimizer steps (forward, loss, backward, clip 1.0, AdamW) on random tokens of a
Llama-3.2-1B-shaped and a GPT-2-124M-shaped causal LM with random weights (bench/shapes/), for
LoRA (r 16, alpha 32, dropout 0.05, "all-linear": every block linear, not the head; PEFT's
common setup) and full fine-tuning, in bf16. Prints one table: tokens/s, model TFLOP/s, MFU
against the measured bf16 GEMM peak (build/bench/device_peak, cuBLAS 8192^3), peak device memory,
and weft/HF. Target (issue 7): LoRA on the 1B shape at seq 2048 >= 2x transformers + peft.

Precision, as HF training runs it (Trainer bf16=True): full: fp32 weights under
torch.autocast(bfloat16); LoRA: the frozen base loaded in bf16, PEFT's adapters in fp32 (its
autocast_adapter_dtype default), under the same autocast. Both: sdpa attention,
torch.optim.AdamW(fused=True), weight decay 0.01, torch.nn.utils.clip_grad_norm_(1.0), no
gradient checkpointing, no dropout in the base model. weft: model.dtype bf16 (bf16 weights and
activations, fp32 master weights, gradients and AdamW moments; the same clipping and AdamW).
Timing: W warm-up steps excluded, then a device sync and the host clock around N steps.
FLOPs (the same count for both sides, bench/train_flops.h): full 6 N + attention; LoRA 4 N
(frozen base: forward and dX, no dW) + 6 x adapter elements + attention; N = matmul weights
(block linears and the LM head), attention causal over T/2 keys a query.
Memory: HF torch.cuda.max_memory_reserved (the caching allocator's peak, cuBLAS workspace
included, CUDA context not); weft the device use after the steps minus before the backend opened
(its arenas, cuBLAS workspace and handles; context not), arenas alone beside it.

Needs an NVIDIA GPU, torch, transformers, peft and a CUDA build of weft; without a GPU it exits
77. About 60-90 s on an H200 with the defaults (most of it model set-up).
  python3 bench/bench_e2e_vs_hf.py [--build build-gpu] [--steps N] [--warmup W]
      [--shapes llama1b,gpt2] [--methods lora,full] [--llama1b-batch B] [--llama1b-seq T] ...
--device cpu runs the same code in fp32 on the CPU (tiny shapes; a smoke test, no timings worth
reading).
"""
import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# name: (directory under bench/shapes, default micro-batch, default sequence length)
SHAPES = {"llama1b": ("llama-3.2-1b", 4, 2048), "gpt2": ("gpt2-124m", 8, 1024),
          "tiny": ("tiny-llama", 2, 16)}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--build", default="build-gpu", help="weft build directory (CUDA for --device cuda)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: fp32 smoke test of this script on tiny shapes")
    ap.add_argument("--shapes", default="llama1b,gpt2", help="comma list of " + ", ".join(SHAPES))
    ap.add_argument("--methods", default="lora,full", help="comma list of lora, full")
    ap.add_argument("--sides", default="hf,weft", help="comma list of hf, weft")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before them")
    for name, (_, b, t) in SHAPES.items():
        ap.add_argument(f"--{name}-batch", type=int, default=b, help=f"micro-batch (default {b})")
        ap.add_argument(f"--{name}-seq", type=int, default=t, help=f"sequence length (default {t})")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32.0)
    ap.add_argument("--lora-dropout", type=float, default=0.05)
    ap.add_argument("--peak-tflops", type=float, default=0.0,
                    help="bf16 GEMM peak for the MFU; 0: measure it with BUILD/bench/device_peak")
    a = ap.parse_args(argv)
    a.shapes = [s for s in a.shapes.split(",") if s]
    a.methods = [m for m in a.methods.split(",") if m]
    a.sides = [s for s in a.sides.split(",") if s]
    for s in a.shapes:
        if s not in SHAPES:
            ap.error(f"--shapes: unknown shape {s!r} (known: {', '.join(SHAPES)})")
    for m in a.methods:
        if m not in ("lora", "full"):
            ap.error(f"--methods: unknown method {m!r} (lora or full)")
    for s in a.sides:
        if s not in ("hf", "weft"):
            ap.error(f"--sides: unknown side {s!r} (hf or weft)")
    if a.steps < 1 or a.warmup < 0 or a.lora_r < 1:
        ap.error("--steps and --lora-r must be >= 1, --warmup >= 0")
    for s in a.shapes:
        if getattr(a, f"{s}_batch") < 1 or getattr(a, f"{s}_seq") < 2:
            ap.error(f"--{s}-batch must be >= 1 and --{s}-seq >= 2")
    return a


def have_gpu():
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return shutil.which("nvidia-smi") is not None and \
            subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


def gemm_peak(a):
    """bf16 GEMM TFLOP/s: --peak-tflops, else device_peak's cuBLAS 8192^3, else torch's."""
    if a.peak_tflops > 0 or a.device == "cpu":
        return a.peak_tflops
    exe = os.path.join(a.build, "bench", "device_peak")
    if os.path.exists(exe):
        out = subprocess.run([exe], capture_output=True, text=True).stdout
        m = re.search(r"^peak gemm_bf16 ([\d.]+) TFLOP/s", out, re.M)
        if m:
            return float(m.group(1))
    import torch
    x = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        x @ x
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        x @ x
    torch.cuda.synchronize()
    return 2 * 8192 ** 3 * 10 / (time.perf_counter() - t0) * 1e-12


def run_weft(a, shape, method, B, T, peak):
    """The key/value lines bench_train prints, as a dict of floats (device as text)."""
    exe = os.path.join(a.build, "bench", "bench_train")
    cmd = [exe, os.path.join(HERE, "shapes", SHAPES[shape][0]), str(B), str(T), str(a.steps), method]
    if method == "lora":
        cmd += [str(a.lora_r), str(a.lora_alpha), "all-linear", "--lora-dropout", str(a.lora_dropout)]
    cmd += ["--random-init", "--warmup", str(a.warmup), "--backend", a.device]
    if a.device == "cuda":
        cmd += ["--dtype", "bf16"]
    if peak > 0:
        cmd += ["--peak-tflops", str(peak)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}")
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def hf_model(a, shape, method):
    import torch
    import transformers as tf
    cfg = tf.AutoConfig.from_pretrained(os.path.join(HERE, "shapes", SHAPES[shape][0]))
    dtype = torch.bfloat16 if method == "lora" and a.device == "cuda" else torch.float32
    torch.manual_seed(0)
    # created in fp32 and cast: from_config's dtype keyword is `torch_dtype` before
    # transformers 5, and an unknown keyword there would be taken silently
    with torch.device(a.device):
        model = tf.AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").to(dtype)
    if model.config._attn_implementation != "sdpa":
        raise SystemExit(f"bench_e2e_vs_hf: transformers picked {model.config._attn_implementation} "
                         "attention, not sdpa")
    if method == "lora":
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha,
                                                 lora_dropout=a.lora_dropout,
                                                 target_modules="all-linear"))
    model.config.use_cache = False
    model.train()
    return model


def run_hf(a, shape, method, B, T):
    """tokens/s, peak reserved bytes and trainable parameters of transformers (+ peft)."""
    import torch
    cuda = a.device == "cuda"
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model = hf_model(a, shape, method)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, fused=cuda)
    ids = torch.randint(0, model.config.vocab_size, (B, T), device=a.device,
                        generator=torch.Generator(a.device).manual_seed(7))

    def step():
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=cuda):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(a.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    res = {"tokens_per_s": B * T * a.steps / dt, "loss": float(loss.detach()),
           "trainable_params": sum(p.numel() for p in params),
           "device_used_bytes": torch.cuda.max_memory_reserved() if cuda else float("nan")}
    del model, opt, params
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return res


def guarded(fn, *args):
    """fn's result, or False after printing its error (the other configurations still run and
    the table is still printed; the script then exits 1)."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - any failure of one side is reported, not fatal
        print(f"FAILED {fn.__name__}{args[1:]}: {type(e).__name__}: {e}", flush=True)
    gc.collect()  # what a failed HF run held goes back before weft's process needs the memory
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return False


def gib(x):
    return x / 2 ** 30 if x == x and x >= 0 else float("nan")


def report(a, rows, peak):
    nan = float("nan")
    print(f"\n{'shape':<8} {'method':<6} {'B':>2} {'T':>5} {'weft tok/s':>11} {'HF tok/s':>10} "
          f"{'weft/HF':>8} {'weft TF/s':>9} {'HF TF/s':>8} {'weft MFU':>8} {'HF MFU':>7} "
          f"{'weft GiB':>8} {'(arenas)':>8} {'HF GiB':>7}")
    for shape, method, B, T, w, h in rows:
        fpt = w.get("flops_per_token", nan) if w else nan
        wt, ht = (w or {}).get("tokens_per_s", nan), (h or {}).get("tokens_per_s", nan)
        wtf, htf = wt * fpt * 1e-12, ht * fpt * 1e-12
        wm, hm = (wtf / peak, htf / peak) if peak > 0 else (nan, nan)
        print(f"{shape:<8} {method:<6} {B:>2} {T:>5} {wt:11.0f} {ht:10.0f} {wt / ht:8.2f} {wtf:9.1f} "
              f"{htf:8.1f} {100 * wm:7.1f}% {100 * hm:6.1f}% {gib((w or {}).get('device_used_bytes', nan)):8.2f} "
              f"{gib((w or {}).get('arena_bytes', nan)):8.2f} {gib((h or {}).get('device_used_bytes', nan)):7.2f}")
    print(f"\nMFU against the bf16 GEMM peak {peak:.0f} TFLOP/s; FLOPs per token as bench/train_flops.h "
          f"(HF side: the same count). LoRA r {a.lora_r}, alpha {a.lora_alpha:g}, dropout "
          f"{a.lora_dropout:g}, all-linear; {a.warmup} warm-up + {a.steps} timed steps each.")


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.device == "cuda" and not have_gpu():
        print("bench_e2e_vs_hf: no CUDA device; skipped")
        return 77
    if "hf" in a.sides:
        try:
            import peft  # noqa: F401
            import torch
            import transformers
        except ImportError as e:
            print(f"bench_e2e_vs_hf: {e.name} is not installed: the HF side is skipped")
            a.sides = [s for s in a.sides if s != "hf"]
        else:
            print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
                  f"peft {peft.__version__}")
    if "weft" in a.sides and not os.path.exists(os.path.join(a.build, "bench", "bench_train")):
        raise SystemExit(f"bench_e2e_vs_hf: no {a.build}/bench/bench_train (build weft, or --build)")
    peak = gemm_peak(a)
    rows, bad = [], False
    for shape in a.shapes:
        B, T = getattr(a, f"{shape}_batch"), getattr(a, f"{shape}_seq")
        for method in a.methods:
            t0 = time.perf_counter()
            h = guarded(run_hf, a, shape, method, B, T) if "hf" in a.sides else None
            t1 = time.perf_counter()
            w = guarded(run_weft, a, shape, method, B, T, peak) if "weft" in a.sides else None
            t2 = time.perf_counter()
            bad |= any(x is False for x in (h, w))
            h, w = h or None, w or None
            print(f"{shape} {method} B {B} T {T}: HF {t1 - t0:.1f} s, weft {t2 - t1:.1f} s wall"
                  + (f"; weft on {w['device']}" if w else ""), flush=True)
            # the same adapters (or weights) on both sides, else the ratio compares other work
            if w and h and int(w["trainable_params"]) != h["trainable_params"]:
                print(f"MISMATCH {shape} {method}: weft trains {int(w['trainable_params'])} "
                      f"parameters, HF {h['trainable_params']}")
                bad = True
            rows.append((shape, method, B, T, w, h))
    report(a, rows, peak)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
