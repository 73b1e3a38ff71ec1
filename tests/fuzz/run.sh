#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.c libFuzzer target with clang (ASan + UBSan) into a temporary
# directory and runs each for SECONDS, starting from its seeds in tests/fuzz/corpus/<format>/
# (<format> = the file name without "fuzz_"), with tests/fuzz/<format>.dict as its dictionary
# when there is one. Exits non-zero if a target fails to build or
# finds a crash; crashing inputs are kept under ${WF_FUZZ_ARTIFACTS:-/tmp/weft-fuzz-artifacts}.
# Needs clang and its fuzzer runtime (Debian bookworm: clang, libclang-rt-14-dev).
# Usage: tests/fuzz/run.sh [SECONDS]   (default 60 per target)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}

# What each target links besides its own file: sources (compiled directly) and libraries.
declare -A SOURCES=(
  [fuzz_tokenizer_json]="host/tokenizer/tok_added.c host/tokenizer/tok_bpe.c host/tokenizer/tok_decode.c host/tokenizer/tok_encode.c host/tokenizer/tok_load.c host/tokenizer/tok_load_parts.c host/tokenizer/tok_normalize.c host/tokenizer/tok_pattern.c host/tokenizer/tok_post.c host/tokenizer/tok_pretok.c host/tokenizer/tok_unicode.c host/tokenizer/tok_unicode_tables.c host/tokenizer/tok_util.c host/tokenizer/tok_vocab.c host/tokenizer/tok_wordpiece.c host/formats/mapped_file.c host/core/status.c -lpcre2-8 -lutf8proc -lcjson -lpthread"
)

work=$(mktemp -d -t weft-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
artifacts=${WF_FUZZ_ARTIFACTS:-/tmp/weft-fuzz-artifacts}
mkdir -p "$artifacts"
status=0
for src in tests/fuzz/fuzz_*.c; do
  t=$(basename "$src" .c)
  if [ -z "${SOURCES[$t]:-}" ]; then
    echo "fuzz: $t has no line in SOURCES in $0" >&2
    status=1
    continue
  fi
  # shellcheck disable=SC2086 # the table's entries are word lists
  if ! clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
      -fno-sanitize-recover=all -Iinclude -Ihost/formats "$src" ${SOURCES[$t]} -lm -o "$work/$t"; then
    echo "fuzz: $t does not build" >&2
    status=1
    continue
  fi
  corpus=$work/corpus-$t
  mkdir -p "$corpus"
  seeds=tests/fuzz/corpus/${t#fuzz_}
  if [ -d "$seeds" ]; then cp "$seeds"/* "$corpus"/ 2>/dev/null || true; fi
  dict=()
  if [ -f "tests/fuzz/${t#fuzz_}.dict" ]; then dict=(-dict="tests/fuzz/${t#fuzz_}.dict"); fi
  echo "fuzz: $t for ${secs}s"
  if ! "$work/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$artifacts/$t-" "$corpus"; then
    echo "fuzz: $t FAILED; crashing input under $artifacts/" >&2
    status=1
  fi
done
exit $status
