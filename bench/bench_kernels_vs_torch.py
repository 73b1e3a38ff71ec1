#!/usr/bin/env python3
"""weft kernels against PyTorch on the same GPU in the same run (issue 7).

What: causal bf16 attention forward and forward+backward (torch SDPA restricted to its flash
backend vs weft's attention op in each tiled variant: WF_CUDA_ATTENTION=flash, the default, and
flash2; head dims 64 and 128, T 2048 and 8192), and one AdamW step over
124,439,808 fp32 parameters (torch.optim.AdamW(fused=True) vs weft's adamw with its bf16 copy).
Prints time, TFLOP/s or GB/s, the fraction of the device peaks measured here (torch bf16 GEMM
8192^3, device-to-device copy) and weft/torch (time ratio; < 1 means weft is faster).
Not: a correctness check (tests/ops does that), nor CPU timings. Needs an NVIDIA GPU, torch, and
a CUDA build of weft:   python3 bench/bench_kernels_vs_torch.py [--build build-gpu]
The weft side runs build/bench/bench_ops on the matching cases of tests/ops/cases.c ("sdpa ..."
and "GPT-2 124M bf16"), so both sides time the same shapes. Then the flash2 sweep: the same
attention cases once per alternative flash2 tile configuration (WF_FLASH2_CONFIG, names and
tiles read from kernels/cuda/tuning.cuh), one table of weft/SDPA per config, shape and direction,
and the fastest config per head dim. About 75 s on an H200, plus ~20 s for the sweep (4 more
bench_ops runs of 4 cases: 0.2 s of timing per direction and case, dwarfing the kernels
themselves, ~0.3-3 ms a call at 100 TFLOP/s, plus ~1 s of start-up a run).
"""
import argparse
import math
import os
import re
import subprocess
import sys

ATTN = [  # (label in cases.c, B, T, H, D); causal, bf16, S = T, H = Hk
    ("sdpa d64 b4 h16 s2048", 4, 2048, 16, 64),
    ("sdpa d128 b4 h16 s2048", 4, 2048, 16, 128),
    ("sdpa d64 b1 h16 s8192", 1, 8192, 16, 64),
    ("sdpa d128 b1 h16 s8192", 1, 8192, 16, 128),
]
VARIANTS = ("flash", "flash2")  # bench_ops --variant attention=NAME
ADAMW_CASE, ADAMW_N = "GPT-2 124M bf16", 124439808
TORCH_ADAMW_BYTES = 28  # p, g, m, v read; p, m, v written (fp32; no low-precision copy)
WEFT_ADAMW_BYTES = 30   # the same plus the bf16 copy of p written


def cuda_time(torch, fn, reps, warmup=3):
    """Median milliseconds of fn() over reps, by CUDA events around each call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def peaks(torch):
    """bf16 GEMM TFLOP/s (8192^3, random data) and copy GB/s (bytes read + written)."""
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    ms = cuda_time(torch, lambda: a @ b, 10)
    gemm = 2 * n ** 3 / ms * 1e-9
    x = torch.empty(1 << 30, device="cuda", dtype=torch.uint8)
    y = torch.empty_like(x)
    ms = cuda_time(torch, lambda: y.copy_(x), 10)
    copy = 2 * x.numel() / ms * 1e-6
    del a, b, x, y
    return gemm, copy


def attn_flops(B, T, H, D, bwd):
    """tests/ops/op_attention.c flops(): 4 B H T S D, causal halves, backward 2.5x."""
    f = 4.0 * B * H * T * T * D * 0.5
    return 2.5 * f if bwd else f


def torch_attention(torch, B, T, H, D):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F
    # weft's layout (B, T, H, D), seen as (B, H, T, D): what FlashAttention itself stores
    q, k, v, do = (torch.randn(B, T, H, D, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
                   for _ in range(4))
    for t in (q, k, v):
        t.requires_grad_(True)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        fwd = cuda_time(torch, lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), 20)

        def step():
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            o.backward(do)

        both = cuda_time(torch, step, 20)
    return fwd, both - fwd


def torch_adamw(torch):
    p = torch.nn.Parameter(torch.randn(ADAMW_N, device="cuda"))
    p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW([p], lr=6e-4, weight_decay=0.1, fused=True)
    return cuda_time(torch, opt.step, 20)


ROW = re.compile(r"^(\S+)\s+(.+?)\s+(fwd|bwd)\s+([\d.]+)\s")


def weft_times(build, args, env=None, min_time="0.3", must=True):
    """{(case label, dir): ms} from bench_ops (env: extra environment variables). A failed run
    ends the script when must, else gives the rows it printed (the sweep goes on)."""
    cmd = [f"{build}/bench/bench_ops", "--backend", "cuda", "--min-time", min_time] + args
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        msg = f"bench_kernels_vs_torch: {' '.join(cmd)} exited {r.returncode}"
        if must:
            raise SystemExit(msg)
        print(msg)
    out = {}
    for line in r.stdout.splitlines():
        m = ROW.match(line)
        if m:
            out[(m.group(2), m.group(3))] = float(m.group(4))
    return out


TUNING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kernels", "cuda",
                      "tuning.cuh")


def flash2_configs():
    """[(name, tiles at D <= 64, tiles at D > 64)] from tuning.cuh, tiles = (warps, BN, BQ, m-tiles
    a warp in forward/dq, in dk/dv): "default" (the WF_FLASH2_* defines, one m-tile) first, then
    the rows of WF_FLASH2_ALT_CONFIGS."""
    text = open(TUNING).read()
    d = {k: int(v) for k, v in re.findall(r"#define (WF_FLASH2_\w+) (\d+)", text)}
    out = [("default", (d["WF_FLASH2_WARPS_SMALL"], d["WF_FLASH2_BN"], d["WF_FLASH2_BQ_SMALL"], 1, 1),
            (d["WF_FLASH2_WARPS_LARGE"], d["WF_FLASH2_BN"], d["WF_FLASH2_BQ_LARGE"], 1, 1))]
    for m in re.finditer(r'X\("([\w-]+)"((?:,\s*\d+){10})\)', text):
        v = [int(x) for x in m.group(2).split(",")[1:]]
        out.append((m.group(1), tuple(v[0:3] + v[6:8]), tuple(v[3:6] + v[8:10])))
    if len(out) < 2:
        raise SystemExit(f"bench_kernels_vs_torch: no WF_FLASH2_ALT_CONFIGS rows in {TUNING}")
    return out


def flash2_sweep(build, case_args, default_times, torch_ms):
    """Times every flash2 configuration on the ATTN cases and prints one table: weft ms and
    weft/SDPA for fwd and fwd+bwd, then the fastest config per head dim (geometric mean of the
    fwd+bwd ratios over T). default_times: the flash2 run above (its config is "default")."""
    configs = flash2_configs()
    times = {"default": default_times}
    for name, _, _ in configs[1:]:
        times[name] = weft_times(build, ["--dtype", "bf16", "--op", "attention", "--variant",
                                         "attention=flash2"] + case_args,
                                 env={"WF_FLASH2_CONFIG": name}, min_time="0.2", must=False)
    print("\nflash2 config sweep (bf16, causal; ratio = weft / SDPA flash, < 1: weft faster; "
          "tiles = warps, BN, BQ, m-tiles a warp forward/dq, dk/dv)")
    print(f"{'config':<11} {'tiles':<14} {'D':>4} {'T':>5} {'fwd ms':>8} {'fwd ratio':>9} "
          f"{'f+b ms':>8} {'f+b ratio':>9}")
    logs = {}  # (D, config): [(log fwd ratio, log fwd+bwd ratio) per T]
    for name, small, large in configs:
        for label, B, T, H, D in ATTN:
            tiles = ",".join(map(str, small if D <= 64 else large))
            f, b = times[name].get((label, "fwd")), times[name].get((label, "bwd"))
            tf, tb = torch_ms[label]
            fb = f + b if f and b else None
            nan = float("nan")
            print(f"{name:<11} {tiles:<14} {D:>4} {T:>5} {f or nan:8.3f} "
                  f"{f / tf if f else nan:9.2f} {fb or nan:8.3f} "
                  f"{fb / (tf + tb) if fb else nan:9.2f}")
            logs.setdefault((D, name), []).append(
                (math.log(f / tf) if f else math.inf, math.log(fb / (tf + tb)) if fb else math.inf))
    for D in sorted({c[4] for c in ATTN}):
        best = []
        for k in (1, 0):  # fwd+bwd decides; fwd alone for information
            gm, name = min((sum(x[k] for x in v) / len(v), name)
                           for (d, name), v in logs.items() if d == D)
            best.append(f"{name} ({math.exp(gm) if gm < math.inf else float('nan'):.2f})")
        print(f"fastest flash2 config, D {D}: {best[0]} by fwd+bwd; {best[1]} by fwd alone "
              "(geometric mean over T of weft/SDPA)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-gpu", help="weft CUDA build directory")
    ap.add_argument("--list-configs", action="store_true",
                    help="print the flash2 configurations read from tuning.cuh and exit (no GPU)")
    a = ap.parse_args()
    if a.list_configs:
        configs = flash2_configs()
        rows = len(re.findall(r'^\s*X\("', open(TUNING).read(), re.M))
        for name, small, large in configs:
            print(f"{name:<11} D<=64 {','.join(map(str, small)):<14} D>64 {','.join(map(str, large))}")
        if rows != len(configs) - 1:  # every X(...) row must parse: else the sweep skips one
            print(f"bench_kernels_vs_torch: {rows} rows in {TUNING}, {len(configs) - 1} parsed")
            return 1
        return 0
    import torch
    if not torch.cuda.is_available():
        print("bench_kernels_vs_torch: no CUDA device; skipped")
        return 77
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    gemm, copy = peaks(torch)
    print(f"measured peaks: bf16 GEMM {gemm:.0f} TFLOP/s, copy {copy:.0f} GB/s\n")

    case_args = sum((["--case", c[0]] for c in ATTN), [])
    wa = {var: weft_times(a.build, ["--dtype", "bf16", "--op", "attention",
                                    "--variant", f"attention={var}"] + case_args)
          for var in VARIANTS}
    wo = weft_times(a.build, ["--dtype", "f32", "--op", "adamw", "--case", ADAMW_CASE])
    print()
    hdr = f"{'kernel':<34} {'variant':<7} {'weft ms':>9} {'torch ms':>9} {'weft':>9} {'torch':>9} " \
          f"{'weft %pk':>8} {'torch %pk':>9} {'weft/torch':>10}"
    print(hdr)
    rows = []
    torch_ms = {}
    for label, B, T, H, D in ATTN:
        tf, tb = torch_attention(torch, B, T, H, D)
        torch_ms[label] = (tf, tb)
        for d, tms in (("fwd", tf), ("bwd", tb)):
            fl = attn_flops(B, T, H, D, d == "bwd")
            for var in VARIANTS:
                wms = wa[var].get((label, d))
                rows.append((f"attention {label} {d}", var, wms, tms, fl / 1e9, "TFLOP/s", gemm))
    wms = wo.get((ADAMW_CASE, "fwd"))
    tms = torch_adamw(torch)
    rows.append(("adamw 124M (weft +bf16 copy)", "-", wms, tms, None, "GB/s", copy))
    for name, var, wms, tms, work, unit, peak in rows:
        if work is not None:
            wr = work / wms if wms else float("nan")  # GFLOP per ms is TFLOP/s
            tr = work / tms
        else:
            wr = ADAMW_N * WEFT_ADAMW_BYTES / wms * 1e-6 if wms else float("nan")  # GB/s
            tr = ADAMW_N * TORCH_ADAMW_BYTES / tms * 1e-6
        ratio = wms / tms if wms else float("nan")
        print(f"{name:<34} {var:<7} {wms if wms else float('nan'):9.3f} {tms:9.3f} {wr:9.1f} {tr:9.1f} "
              f"{100 * wr / peak:7.1f}% {100 * tr / peak:8.1f}% {ratio:10.2f}   ({unit})")
    print("\nweft times: bench_ops (host clock, a sync per call: adds ~10-30 us a call; adamw "
          "also copies the 32-byte step state to and from the device each call); torch: CUDA "
          "events, median of 20. AdamW GB/s count 30 bytes/param for weft, 28 for torch.")
    flash2_sweep(a.build, case_args, wa["flash2"], torch_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
