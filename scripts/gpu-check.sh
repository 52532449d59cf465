#!/usr/bin/env bash
# Validate every kernel against the CPU reference and benchmark on a real GPU, in one go.
# Usage: scripts/gpu-check.sh [OUT_DIR] [ADAPTER_NAME_SUBSTRING]
# Writes validate.json, bench.json and the human-readable logs to OUT_DIR (default gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
adapter=()
if [ -n "${2:-}" ]; then adapter=(--adapter "$2"); fi
cargo build --release --bin distill
bin=target/release/distill
"$bin" adapters | tee "$out/adapters.txt"
status=0
"$bin" validate "${adapter[@]}" | tee "$out/validate.txt" || status=$?
"$bin" validate --json "${adapter[@]}" > "$out/validate.json" || status=$?
"$bin" bench "${adapter[@]}" | tee "$out/bench.txt"
"$bin" bench --json "${adapter[@]}" > "$out/bench.json"
exit "$status"
