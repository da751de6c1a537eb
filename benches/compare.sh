#!/usr/bin/env bash
# Side-by-side benchmark (what `make bench` runs): builds Fjord and fjord-bench in release, finds a
# peer broker, runs benches/compare.py, which writes docs/benchmarks.md and docs/benchmarks.svg.
#
# Peer: Tansu with memory storage when `tansu` is on PATH (or TANSU=/path/to/tansu; install it
# with `cargo install tansu --features dynostore`: its default features have no memory
# engine), or any command given in PEER_CMD with {port} for its port
# (PEER_NAME names it). Without one, the report has Fjord's figures only.
# Knobs: DURATION (s per throughput workload, default 10), ROUNDS (3), RECOVERY_GB (10).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p fjord -p fjord-bench
tansu="${TANSU:-$(command -v tansu || true)}"
peer_cmd="${PEER_CMD:-}"
peer_name="${PEER_NAME:-peer}"
if [ -z "$peer_cmd" ] && [ -n "$tansu" ] && [ -x "$tansu" ]; then
  peer_cmd="$tansu broker --storage-engine memory://tansu/ --listener-url tcp://127.0.0.1:{port} --advertised-listener-url tcp://127.0.0.1:{port}"
  peer_name="Tansu"
fi
args=(--fjord-bin "$target/release/fjord" --bench-bin "$target/release/fjord-bench"
      --duration "${DURATION:-10}" --rounds "${ROUNDS:-3}" --recovery-gb "${RECOVERY_GB:-10}"
      --command "make bench")
if [ -n "$peer_cmd" ]; then
  args+=(--peer-cmd "$peer_cmd" --peer-name "$peer_name")
fi
# What bounds the figures and what each optimisation bought, appended to the report.
export BENCH_NOTES="${BENCH_NOTES:-benches/notes.md}"
exec python3 benches/compare.py "${args[@]}"
