#!/usr/bin/env bash
# Builds the browser demo (scripts/web-build.sh) and serves it on http://127.0.0.1:PORT/ for a
# person to open (default port 8000). Chrome and Edge 113+ on Windows, macOS and ChromeOS have
# WebGPU on; on Linux start Chrome with --enable-unsafe-webgpu (and --enable-features=Vulkan
# where needed); Firefox 141+ has it on Windows, Safari 26+ on macOS.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-8000}
bash scripts/web-build.sh
echo "Open http://127.0.0.1:$port/ (Ctrl-C stops the server)"
exec python3 scripts/web_server.py "$port" target/web-site
