#!/usr/bin/env bash
# The one-command GPU check, for a machine with an NVIDIA GPU (DESIGN.md "Testing", tier 5).
# From the repository root:   bash tests/gpu/run.sh [OUTDIR]
# Builds for this GPU's architecture only, then runs: the CPU suite (sanity), every op case
# CUDA-vs-CPU in fp32/bf16/fp16 (attention also through each kernel variant alone: flash,
# flash2, simple, and flash2 in bf16 once per alternative tile configuration WF_FLASH2_CONFIG;
# each tiled variant vs simple at long T: attention_check; lora also through the
# opt-in variant WF_CUDA_LORA=fused; linear_gelu/linear_dgelu also without cuBLASLt), 20-step training parity runs CUDA-vs-CPU (train_parity:
# every method, fp32, bf16, and fp16 with dynamic loss scaling from an overflowing 2^40; again
# with WF_CUDA_LORA=fused), the NCCL communicator on one GPU and, on a multi-GPU machine, over
# all of them (test_nccl [--ranks N]; skipped without NCCL),
# the device ceilings (copy bandwidth, cuBLAS GEMM), the op benchmark smoke, weft (flash and
# flash2, and the sweep of flash2's tile configurations) vs torch (SDPA, fused AdamW:
# bench/bench_kernels_vs_torch.py), the benchmark sizes in
# bf16, the attention benchmarks again with the simple kernel, LoRA time / base linear time per
# variant (steps lora_composed, lora_fused: ~20 s, also in quick mode), the op profile of a
# LoRA step on the 1B shape (profile_1b_lora, also in quick mode), and end-to-end training
# against transformers + peft (bench/bench_e2e_vs_hf.py). Logs go to OUTDIR (default $OUT or
# gpu-check/); a table of results is printed last. Budget: well under 8 minutes on one H200
# (GPU_CHECK_QUICK=1 leaves out the CPU suite, the bf16 benchmark sizes and the end-to-end
# benchmark, ~3.5 of those minutes; the end-to-end benchmark then fits a second call:
# GPU_CHECK_KEEP_BUILD=1 GPU_CHECK_ONLY=bench_e2e, below).
# A second call in the same GPU session can pick steps without rebuilding from nothing:
# GPU_CHECK_ONLY='bench_e2e|fl2cfg_.*' runs the build step and the steps whose names match that
# bash regex (whole name), GPU_CHECK_KEEP_BUILD=1 reuses build-gpu/ when it is there (ninja
# rebuilds what changed), e.g. GPU_CHECK_KEEP_BUILD=1 GPU_CHECK_ONLY=bench_e2e bash tests/gpu/run.sh.
# Debian libraries the GPU machine lacks: ../shared/tools/device-deps.sh .device-deps (on a
# Debian machine), carried along; sourced here when present.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:-gpu-check}}
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
[ -f .device-deps/env.sh ] && . .device-deps/env.sh

names=(); results=(); secs=()
step() { # step NAME COMMAND...: run, log to $out/NAME.log, record status and time
  local name=$1; shift
  local t0=$(date +%s) rc
  if [ -n "${GPU_CHECK_ONLY:-}" ] && [ "$name" != build ] && ! [[ $name =~ ^(${GPU_CHECK_ONLY})$ ]]; then
    return 0 # not asked for: neither run nor listed
  fi
  echo "== $name: $*"
  "$@" >"$out/$name.log" 2>&1; rc=$?
  tail -n 25 "$out/$name.log"
  names+=("$name"); secs+=($(( $(date +%s) - t0 )))
  case $rc in 0) results+=("pass");; 77) results+=("skip");; *) results+=("FAIL (rc $rc)");; esac
  return $rc
}

arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' ')
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
# NCCL: the toolkit's or the system's when there, else pip's nvidia-nccl (a PyTorch install has it)
nccl_opt=
if ! ls /usr/local/cuda/lib64/libnccl.so* /usr/lib/x86_64-linux-gnu/libnccl.so* >/dev/null 2>&1; then
  ncdir=$(python3 -c "import nvidia.nccl as n; print(list(n.__path__)[0])" 2>/dev/null) &&
    [ -e "$ncdir/include/nccl.h" ] && nccl_opt="-Dnccl-dir=$ncdir"
fi
setup="meson setup build-gpu -Dcuda=enabled -Dcuda-arch='${arch:-9.0}' $nccl_opt &&"
if [ "${GPU_CHECK_KEEP_BUILD:-0}" = 1 ] && [ -f build-gpu/build.ninja ]; then
  setup= # reuse: ninja below rebuilds what changed
else
  rm -rf build-gpu
fi
if step build bash -c "$setup ninja -C build-gpu"; then
  # the CPU suite as a sanity check of this machine's build (CI runs it on every push: left out
  # of quick mode, where device time is short)
  [ "${GPU_CHECK_QUICK:-0}" = 1 ] || step cpu_suite meson test -C build-gpu --suite cpu --print-errorlogs
  step ops_cuda_vs_cpu build-gpu/tests/test_ops_backends
  # attention again: only through the tiled kernels (the cases they cannot take print "skip",
  # so the log shows which ones they passed), then only through the simple kernels
  step ops_attention_flash env WF_CUDA_ATTENTION=flash-only build-gpu/tests/test_ops_backends attention
  step ops_attention_flash2 env WF_CUDA_ATTENTION=flash2-only build-gpu/tests/test_ops_backends attention
  step ops_attention_simple env WF_CUDA_ATTENTION=simple build-gpu/tests/test_ops_backends attention
  # each alternative flash2 configuration (kernels/cuda/tuning.cuh; bf16 is where they exist),
  # so that the sweep's fastest one is known to be right too
  for c in $(grep -o 'X("[^"]*"' kernels/cuda/tuning.cuh | cut -d'"' -f2); do
    step fl2cfg_$c env WF_CUDA_ATTENTION=flash2-only WF_FLASH2_CONFIG=$c \
      build-gpu/tests/test_ops_backends --dtypes=bf16 attention
  done
  step attention_check build-gpu/tests/attention_check
  # lora through the fused variant (opt-in until this passes on a GPU: kernels/cuda/lora.cu)
  step ops_lora_fused env WF_CUDA_LORA=fused build-gpu/tests/test_ops_backends lora
  # linear + tanh GELU once more without cuBLASLt (the unfused linear.cu + gelu.cu path that
  # fp32 and odd widths take), so both sides of kernels/cuda/linear_gelu.cu are checked in bf16
  step ops_linear_gelu_unfused env WF_CUDA_LINEAR=gemm build-gpu/tests/test_ops_backends linear_gelu linear_dgelu
  step train_parity build-gpu/tests/train_parity
  step parity_lora_fused env WF_CUDA_LORA=fused build-gpu/tests/train_parity
  step nccl build-gpu/tests/test_nccl
  # every GPU of a multi-GPU machine as a rank (forked processes; the H200 machine has one)
  ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if [ "${ngpu:-0}" -ge 2 ]; then
    n=$(( ngpu > 8 ? 8 : ngpu ))
    step nccl_ranks build-gpu/tests/test_nccl --ranks $n
  fi
  step device_peak build-gpu/bench/device_peak
  step bench_smoke build-gpu/bench/bench_ops --backend cuda --smoke
  # weft vs torch (SDPA flash backend, fused AdamW) and the flash2 config sweep on this GPU,
  # ~95 s; skips without torch
  if python3 -c 'import torch' 2>/dev/null; then
    step bench_vs_torch python3 bench/bench_kernels_vs_torch.py --build build-gpu
  fi
  # LoRA r=16 over the base linear layer alone (issue 7: target <= 1.10x), bf16, each variant
  for v in composed fused; do
    step lora_$v build-gpu/bench/bench_ops --backend cuda --dtype bf16 --op lora \
      --variant lora=$v --min-time 0.05
  done
  # where a training step's time goes: the op profiler over 3 steps of LoRA on the 1B shape
  # (bench_e2e's configuration: bf16, 4 x 2048 tokens, r 16 on every linear), ~30 s
  step profile_1b_lora build-gpu/bench/bench_train bench/shapes/llama-3.2-1b 4 2048 2 lora 16 32 \
    all-linear --lora-dropout 0.05 --random-init --warmup 1 --backend cuda --dtype bf16 --profile 3
  if [ "${GPU_CHECK_QUICK:-0}" != 1 ]; then
    step bench_bf16 build-gpu/bench/bench_ops --backend cuda --dtype bf16 --min-time 0.05
    step bench_attention_simple build-gpu/bench/bench_ops --backend cuda --dtype bf16 \
      --op attention --case gpt2 --case llama1b --variant attention=simple --min-time 0.05
    # end-to-end training, weft vs transformers + peft: LoRA and full, Llama-3.2-1B and GPT-2
    # shapes, bf16 (~90 s; the HF side is left out where transformers/peft are not installed)
    step bench_e2e timeout 150 python3 -u bench/bench_e2e_vs_hf.py --build build-gpu
  fi
fi

echo
echo "== GPU check results ($(date -u +%Y-%m-%dT%H:%MZ), $(head -n2 "$out/gpu.txt" | tail -n1))"
printf '%-18s %-14s %8s\n' step result seconds
fail=0
for i in "${!names[@]}"; do
  printf '%-18s %-14s %8s\n' "${names[$i]}" "${results[$i]}" "${secs[$i]}"
  case ${results[$i]} in FAIL*) fail=1;; esac
done
grep -h '^peak ' "$out/device_peak.log" 2>/dev/null
grep -h 'vs cpu:' "$out/ops_cuda_vs_cpu.log" 2>/dev/null
grep -hE '^(ok|FAIL|skip) ' "$out/train_parity.log" 2>/dev/null
cat "$out/attention_check.log" 2>/dev/null
for v in composed fused; do
  grep -h '^lora/linear' "$out/lora_$v.log" 2>/dev/null | sed "s/^/$v: /"
done
sed -n '/^kernel /,/^weft times/p' "$out/bench_vs_torch.log" 2>/dev/null
sed -n '/^flash2 config sweep/,$p' "$out/bench_vs_torch.log" 2>/dev/null
sed -n '/^shape /,/^MFU against/p' "$out/bench_e2e.log" 2>/dev/null
sed -n '/^| op /,/^ops: /p' "$out/profile_1b_lora.log" 2>/dev/null
grep -h 'nccl world-' "$out/nccl.log" "$out/nccl_ranks.log" 2>/dev/null
exit $fail
