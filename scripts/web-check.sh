#!/usr/bin/env bash
# The browser check: builds the demo (scripts/web-build.sh installs what it needs), serves it
# on 127.0.0.1 only, and drives headless Chromium three times:
#   1. with WebGPU, ?auto=1: the page validates every kernel against the CPU reference and
#      trains a scratch and a distilled student;
#   2. with WebGPU, ?small_limits=1: the device is opened with wgpu's downlevel limits, which
#      the kernels do not fit; the page must refuse with a message;
#   3. without WebGPU: the page must say so.
# Exits 0 only if the validation passed, the distilled student's loss fell, both students'
# test errors were printed and both bad conditions gave their message. Prints the browser's
# adapter and the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if ! command -v chromium >/dev/null || ! command -v python3 >/dev/null; then
    echo "Installing Chromium and Python"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends chromium python3
fi
bash scripts/web-build.sh

work=$(mktemp -d)
port=${WEB_CHECK_PORT:-8765}
timeout_s=${WEB_CHECK_TIMEOUT:-900}
python3 scripts/web_server.py "$port" "$root/target/web-site" "$work/reports.log" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/index.html')" \
        2>/dev/null && break
    sleep 0.2
done

# Runs Chromium on the page until the report log holds a line of one of the final kinds.
browse() {
    local query=$1 seconds=$2 webgpu=$3
    local flags=(--headless=new --no-sandbox --disable-gpu-sandbox --no-first-run
        --user-data-dir="$work/profile-$RANDOM" --enable-logging=stderr --v=0)
    [[ "$webgpu" == yes ]] && flags+=(--enable-unsafe-webgpu)
    : >"$work/reports.log"
    timeout "$seconds" chromium "${flags[@]}" "http://127.0.0.1:$port/index.html?$query" \
        >"$work/chromium.out" 2>"$work/chromium.err" &
    local browser=$! start=$SECONDS
    while kill -0 $browser 2>/dev/null; do
        if grep -qE '"kind": ?"(done|error|page-error|refused|no-webgpu|no-adapter)"' "$work/reports.log"; then
            break
        fi
        sleep 1
    done
    kill $browser 2>/dev/null || true
    wait $browser 2>/dev/null || true
    echo "  (${query:-page} took $((SECONDS - start)) s)"
}

echo "== Validation and training in headless Chromium (WebGPU)"
browse "auto=1" "$timeout_s" yes
cp "$work/reports.log" "$work/auto.log"
echo "== An adapter too small for the kernels"
browse "small_limits=1" 120 yes
cp "$work/reports.log" "$work/small.log"
echo "== A browser without WebGPU"
browse "" 120 no
cp "$work/reports.log" "$work/plain.log"

if ! python3 scripts/web_report.py "$work/auto.log" "$work/small.log" "$work/plain.log"; then
    echo "--- Chromium's log (last lines) ---" >&2
    tail -n 40 "$work/chromium.err" >&2
    exit 1
fi
