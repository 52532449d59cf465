#!/usr/bin/env bash
# Builds the browser demo into target/web-site/: installs what the build needs when it is
# missing (Debian's rustc-web toolchain with the standard library's source, lld, and
# wasm-bindgen-cli of the version in Cargo.lock), compiles web/ for wasm32-unknown-unknown
# (std rebuilt with -Zbuild-std), binds it with wasm-bindgen, and copies the page, the bundled
# MNIST subset and the bundled teacher beside it. Used by web-check.sh and web-demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
site="$root/target/web-site"

web_packages=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)
if ! dpkg -s "${web_packages[@]}" >/dev/null 2>&1; then
    echo "Installing the wasm toolchain: ${web_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${web_packages[@]}"
fi

# wasm-bindgen's CLI must match the wasm-bindgen library in Cargo.lock exactly.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' Cargo.lock)
if [[ -z "$bindgen_version" ]]; then
    echo "Cargo.lock has no wasm-bindgen entry" >&2
    exit 1
fi
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
    echo "Installing wasm-bindgen-cli $bindgen_version"
    # Optimised lightly: it builds in about 3 min instead of 4½ on 2 cores and binds the
    # demo's wasm in under a second, byte for byte as a fully optimised build does.
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install wasm-bindgen-cli --version "$bindgen_version" --force
fi

# Debian's toolchain by absolute path: rustup's cargo and rustc come first on PATH and have
# no wasm32 standard library.
echo "Building web/ for wasm32-unknown-unknown"
PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$root/target/web" \
    /usr/bin/cargo build --release --locked -p distill-web \
    -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown

rm -rf "$site"
mkdir -p "$site/data" "$site/models"
wasm-bindgen --target web --out-dir "$site/pkg" \
    "$root/target/web/wasm32-unknown-unknown/release/distill_web.wasm"
cp web/www/* "$site/"
cp data/mnist10k/*.gz "$site/data/"
cp models/teacher-mnist10k.safetensors "$site/models/"
echo "Built $site ($(du -k "$site/pkg/distill_web_bg.wasm" | cut -f1) KiB of wasm)"
