#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_<format>.c libFuzzer target with clang (ASan + UBSan, parser sources
# compiled directly, no Meson) into a temporary directory and runs each for SECONDS on a copy of its
# seed corpus tests/fuzz/corpus/<format>/ (tiny files written by the format's reference library),
# with tests/fuzz/<format>.dict as its dictionary when there is one.
# Usage: tests/fuzz/run.sh [SECONDS=60] [FORMAT...]. Needs clang and, on Debian, libclang-rt-14-dev.
# A crashing input is kept as ${FUZZ_ARTIFACTS:-/tmp/weft-fuzz}/<format>-crash-<sha1>. Exit 1 if any
# target fails to build or finds a crash.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true

# The sources each target needs besides its own file: one line per format.
declare -A SOURCES=(
  [gguf]="host/formats/gguf_read.c host/formats/gguf_dequant.c host/formats/mapped_file.c host/core/status.c"
  [tokenizer_json]="host/tokenizer/tok_added.c host/tokenizer/tok_bpe.c host/tokenizer/tok_decode.c host/tokenizer/tok_encode.c host/tokenizer/tok_load.c host/tokenizer/tok_load_parts.c host/tokenizer/tok_normalize.c host/tokenizer/tok_pattern.c host/tokenizer/tok_post.c host/tokenizer/tok_pretok.c host/tokenizer/tok_unicode.c host/tokenizer/tok_unicode_tables.c host/tokenizer/tok_util.c host/tokenizer/tok_vocab.c host/tokenizer/tok_wordpiece.c host/formats/mapped_file.c host/core/status.c -lpcre2-8 -lutf8proc -lcjson -lpthread"
  [jsonl]="host/data/jsonl.c host/data/chat.c host/data/data_util.c host/data/dataset.c host/data/loader.c host/data/image.c host/core/hash.c host/tokenizer/tok_gguf.c host/formats/gguf_read.c host/formats/gguf_dequant.c host/formats/json.c host/formats/mapped_file.c host/model/config.c host/core/status.c host/tokenizer/tok_added.c host/tokenizer/tok_bpe.c host/tokenizer/tok_decode.c host/tokenizer/tok_encode.c host/tokenizer/tok_load.c host/tokenizer/tok_load_parts.c host/tokenizer/tok_normalize.c host/tokenizer/tok_pattern.c host/tokenizer/tok_post.c host/tokenizer/tok_pretok.c host/tokenizer/tok_unicode.c host/tokenizer/tok_unicode_tables.c host/tokenizer/tok_util.c host/tokenizer/tok_vocab.c host/tokenizer/tok_wordpiece.c -lpcre2-8 -lutf8proc -lcjson -lpthread"
  [safetensors]="host/formats/safetensors_read.c host/formats/safetensors_json.c host/formats/mapped_file.c host/core/status.c"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=${FUZZ_ARTIFACTS:-/tmp/weft-fuzz}
mkdir -p "$artifacts"
status=0
for src in tests/fuzz/fuzz_*.c; do
  fmt=$(basename "$src" .c)
  fmt=${fmt#fuzz_}
  if [ $# -gt 0 ] && [[ " $* " != *" $fmt "* ]]; then continue; fi
  if [ -z "${SOURCES[$fmt]:-}" ]; then
    echo "fuzz: $fmt has no line in the SOURCES table of $0" >&2
    status=1
    continue
  fi
  echo "fuzz: building $fmt" >&2
  # shellcheck disable=SC2086  # the table entries are space-separated lists
  if ! clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Ihost/formats \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      "$src" ${SOURCES[$fmt]} -lm -o "$work/fuzz_$fmt"; then
    status=1
    continue
  fi
  mkdir -p "$work/corpus_$fmt"
  if [ -d "tests/fuzz/corpus/$fmt" ]; then cp "tests/fuzz/corpus/$fmt"/* "$work/corpus_$fmt/"; fi
  dict=(); [ -f "tests/fuzz/$fmt.dict" ] && dict=(-dict="tests/fuzz/$fmt.dict")
  echo "fuzz: running $fmt for ${secs}s" >&2
  # libFuzzer's progress lines go to a log: the final stats are printed, the whole log on failure
  if "$work/fuzz_$fmt" "${dict[@]}" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$fmt-" "$work/corpus_$fmt" >"$work/$fmt.log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done )' "$work/$fmt.log" >&2 || true
  else
    cat "$work/$fmt.log" >&2
    echo "fuzz: $fmt FAILED; inputs in $artifacts" >&2
    status=1
  fi
done
exit $status
