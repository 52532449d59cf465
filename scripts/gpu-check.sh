#!/usr/bin/env bash
# Validate every kernel against the CPU reference and benchmark on a real GPU, in one go.
# Usage: scripts/gpu-check.sh [OUT_DIR] [ADAPTER_NAME_SUBSTRING]
# Both GPU matmul families (tiled and layout-specialised) are validated and timed; with a known
# GPU (or PEAK_GFLOPS) each matmul is also given as a share of the FP32 peak.
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
# The FP32 peak (non-tensor-core GFLOP/s from the data sheets) of GPUs this may meet, so bench
# reports each matmul as a share of it; PEAK_GFLOPS overrides, and an unknown GPU gets none.
peak=${PEAK_GFLOPS:-}
if [ -z "$peak" ] && command -v nvidia-smi >/dev/null; then
    case "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)" in
        *H200*|*"H100 80GB HBM3"*|*"H100 SXM"*) peak=66900 ;;
        *H100*) peak=51200 ;;
        *A100*) peak=19500 ;;
        *L4*) peak=30300 ;;
        *"RTX 4090"*) peak=82600 ;;
    esac
fi
peak_flag=()
if [ -n "$peak" ]; then peak_flag=(--peak-gflops "$peak"); fi
status=0
"$bin" validate "${adapter[@]}" | tee "$out/validate.txt" || status=$?
"$bin" validate --json "${adapter[@]}" > "$out/validate.json" || status=$?
"$bin" bench "${adapter[@]}" "${peak_flag[@]}" | tee "$out/bench.txt"
"$bin" bench --json "${adapter[@]}" "${peak_flag[@]}" > "$out/bench.json"
exit "$status"
