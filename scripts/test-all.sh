#!/usr/bin/env bash
# Every test Tether has: format, lints, docs, unit + property + integration tests, then the
# interop suite against real MCP software (installed, pinned, by tests/interop/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
step "cargo test"
cargo test --workspace --locked
step "interop: install peers"
tests/interop/setup.sh
step "interop: run"
TETHER="$target/debug/tether" tests/interop/run.sh
step "all tests passed"
