#!/usr/bin/env bash
# `weft launch --gpus 0,1 -- train` end to end on the CUDA emulator (suite emu): two processes, each
# an emulated GPU, NCCL between them through the emulator's stand-in (kernels/cuda_emu/
# emu_nccl.cpp): the launcher's environment, rank 0's id handed out over TCP, the non-blocking
# NCCL init, gradient buckets from inside the backward, the loss and eval sums over ranks, the
# adapter written by rank 0, ZeRO-1 (sharded AdamW, all-gathered weights, a checkpoint gathering
# the moments). Checked against one process (plain AdamW) on the same backend with the same
# global batch (micro-batch 1 on 2 ranks == micro-batch 1 x grad_accum 2 on one; LoRA dropout 0,
# since each rank draws its own masks): every train step's loss and gradient norm within 2e-4
# relative, and the adapter's weights within 2e-4 of the largest. Why not equal: one rank adds its two
# micro-batches' gradients inside the backward's GEMMs (beta = 1), two ranks add them after
# (rank order), so gradients differ by fp32 reassociation (~1e-7); AdamW's first steps move a
# weight by ~lr whatever its gradient's size, so later losses can differ by more (measured: the
# same to the 7 digits printed, adapter weights bit-equal).
# A rank whose gradient is not all-reduced gives a step-1 gradient norm off by tens of percent.
# Then a hung rank: rank 1 stops after step 1 (WEFT_TEST_FAULT=1:1:hang); rank 0's next
# collective times out in the stand-in (WF_EMU_NCCL_TIMEOUT=5) and its error must name rank 1
# through the rank monitor (monitor.h), which NCCL itself cannot.
# Data: 64 short chat records written here (CI has no fortunes data at that point).
#   launch_nccl.sh WEFT_EXE SOURCE_ROOT   (exit 77 without the SmolLM2 model: scripts/get_models.sh)
set -uo pipefail
weft=$(realpath "$1") root=$2 # absolute: meson may pass it relative to the build dir
cd "$root" || exit 1
cfg=configs/smollm2-fortunes-lora.json
[ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ] || {
  echo "skip: models/SmolLM2-135M-Instruct.Q4_1.gguf missing (scripts/get_models.sh)"
  exit 77
}
tmp=$(mktemp -d /tmp/weft_launch_nccl.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/chat.jsonl" <<'EOF'
import json, sys
words = "apple river stone cloud lamp garden window music paper engine silver forest".split()
with open(sys.argv[1], "w") as f:
    for i in range(64):
        q = f"Name {2 + i % 5} things that go with the {words[i % 12]}."
        a = ", ".join(words[(i * 7 + k) % 12] for k in range(2 + i % 5)) + "."
        f.write(json.dumps({"messages": [{"role": "user", "content": q},
                                         {"role": "assistant", "content": a}]}) + "\n")
EOF
common=(--set data.train="$tmp/chat.jsonl" --set train.max_steps=2 --set train.warmup_steps=1 --set train.micro_batch=1
        --set data.seq_len=32 --set eval.before_training=false --set eval.every_steps=100
        --set eval.max_batches=1 --set checkpoint.every_steps=100 --set dist.timeout_s=60
        --set method.lora.dropout=0)
port=$(( 29700 + $$ % 200 ))
"$weft" launch --gpus 0,1 --master-port "$port" -- train "$cfg" "${common[@]}" \
  --set dist.zero_stage=1 --set checkpoint.every_steps=2 --set output.dir="$tmp/two" >"$tmp/two.log" 2>&1 || { cat "$tmp/two.log"; echo "FAIL: weft launch --gpus 0,1"; exit 1; }
"$weft" train "$cfg" "${common[@]}" --set backend.name=cuda --set train.grad_accum=2 \
  --set output.dir="$tmp/one" >"$tmp/one.log" 2>&1 || { cat "$tmp/one.log"; echo "FAIL: weft train (one rank)"; exit 1; }
grep -q "dist: the gradient is reduce-scattered" "$tmp/two.log" || { cat "$tmp/two.log"; echo "FAIL: the launched run did not run ZeRO-1 data-parallel"; exit 1; }
[ -f "$tmp/two/adapter/adapter_model.safetensors" ] || { echo "FAIL: rank 0 wrote no adapter"; exit 1; }
ls -d "$tmp"/two/checkpoint* >/dev/null 2>&1 || { ls "$tmp/two"; echo "FAIL: no ZeRO-1 checkpoint"; exit 1; }
python3 - "$tmp/one" "$tmp/two" <<'EOF'
import array, json, struct, sys
def steps(d):
    return {r["step"]: r for r in map(json.loads, open(d + "/metrics.jsonl")) if r.get("split") == "train"}
def tensors(d):  # the adapter's F32 tensors (safetensors: u64 header size, JSON header, data)
    raw = open(d + "/adapter/adapter_model.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    out = {}
    for k, v in json.loads(raw[8:8 + n]).items():
        if k != "__metadata__" and v["dtype"] == "F32":
            a, b = v["data_offsets"]
            out[k] = array.array("f", raw[8 + n + a:8 + n + b])
    return out
one, two = steps(sys.argv[1]), steps(sys.argv[2])
bad = not one or one.keys() != two.keys()
w1, w2 = tensors(sys.argv[1]), tensors(sys.argv[2])
bad |= not w1 or w1.keys() != w2.keys()
scale = max((abs(x) for t in w1.values() for x in t), default=0.0)
wdiff = max((abs(x - y) for k in w1 for x, y in zip(w1[k], w2.get(k, []))), default=float("nan"))
bad |= not wdiff <= 2e-4 * scale
print(f"adapter weights ({len(w1)} tensors): max |diff| {wdiff:.2e}, max |w| {scale:.2e}")
for s in sorted(one):
    for k in ("loss", "grad_norm"):
        a, b = one[s][k], two.get(s, {}).get(k, float("nan"))
        rel = abs(a - b) / max(abs(a), 1e-12)
        bad |= not rel <= 2e-4
        print(f"step {s} {k}: one rank {a:.7f}, two ranks over NCCL {b:.7f}, rel diff {rel:.1e}")
print("launch --gpus 0,1 over the emulated NCCL vs one rank:", "FAIL" if bad else "ok")
sys.exit(1 if bad else 0)
EOF
[ $? -eq 0 ] || exit 1
WEFT_TEST_FAULT=1:1:hang WF_EMU_NCCL_TIMEOUT=5 timeout 300 "$weft" launch --gpus 0,1 --grace 5 \
  --master-port $((port + 1)) -- train "$cfg" "${common[@]}" --set dist.timeout_s=20 \
  --set output.dir="$tmp/hang" >"$tmp/hang.log" 2>&1
rc=$?
grep -E "rank monitor|rank [01]" "$tmp/hang.log" | head -n 6
if [ $rc -eq 0 ] || ! grep -q "rank 1 has not entered it" "$tmp/hang.log"; then
  cat "$tmp/hang.log"; echo "FAIL: a hung rank 1 is not named (exit $rc)"; exit 1
fi
echo "hung rank named by the rank monitor: ok"
