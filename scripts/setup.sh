#!/usr/bin/env bash
# Installs weft's system dependencies (Debian packages) and builds it into build/.
# CUDA is built when nvcc is found (the GPU backend compiles without a GPU; it is used only
# when one is present). Re-running is cheap: apt skips installed packages, meson reconfigures.
#   WF_BUILD_DIR   build directory (default: build)
#   WF_CUDA        enabled | disabled | auto (default: auto)
#   WF_CUDA_EMU    true | false (default: false): with WF_CUDA=disabled, build the "cuda" backend
#                  on the CPU emulator (kernels/cuda_emu/; needs the CUDA toolkit's headers)
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/usr/local/cuda/bin:$PATH"
# zlib: gzip-compressed IDX image files; fortunes, dataset-fashion-mnist: the example data sets
# (scripts/fortunes_to_jsonl.sh, /usr/share/datasets/fashion-mnist). OpenBLAS's OpenMP build
# shares weft's threads (meson.build says why).
pkgs=(meson ninja-build pkg-config gcc g++ libc6-dev libcjson-dev libopenblas-dev libopenblas-openmp-dev
      libpcre2-dev libutf8proc-dev zlib1g-dev fortunes dataset-fashion-mnist)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dir=${WF_BUILD_DIR:-build}
cuda=${WF_CUDA:-auto}
emu=${WF_CUDA_EMU:-false}
if [ -f "$dir/build.ninja" ]; then
  meson configure "$dir" -Dcuda="$cuda" -Dcuda-emu="$emu" >/dev/null
else
  meson setup "$dir" -Dcuda="$cuda" -Dcuda-emu="$emu" >/dev/null
fi
ninja -C "$dir"
