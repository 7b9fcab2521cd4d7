#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints how many inputs each ran.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET]      (default 300)
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and
# cargo-fuzz (`cargo install cargo-fuzz`); installs cargo-fuzz if missing.
# Seeds come from the repository: every shipped mapping, stdlib module and
# check fixture for `mapping` and `format`, the first 64 KiB of every
# fixture checkpoint for `header`, a valid index for `index`. A crash
# leaves its input under fuzz/artifacts/TARGET/ and stops the script with a
# non-zero exit; keep such inputs as regression tests (under
# tests/fixtures/fuzz/) before fixing them.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-300}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
root=..

seed() {
    local target="$1"; shift
    mkdir -p "corpus/$target"
    for f in "$@"; do
        [ -f "$f" ] || continue
        cp "$f" "corpus/$target/seed-$(sha1sum "$f" | cut -c1-16)"
    done
}
seed mapping $root/mappings/*/*.wmap $root/stdlib/*.wmap $root/tests/fixtures/check/*/*.wmap
seed format $root/mappings/*/*.wmap $root/stdlib/*.wmap $root/tests/fixtures/check/*/*.wmap
# Headers only: the first 64 KiB of each fixture file is its header and some data.
mkdir -p corpus/header
for f in $root/tests/fixtures/models/*/*.safetensors; do
    head -c 65536 "$f" > "corpus/header/seed-$(sha1sum "$f" | cut -c1-16)"
done
# The index target's folder holds model-00001-of-00002.safetensors (a.weight,
# b.weight) and model-00002-of-00002.safetensors (c.weight).
mkdir -p corpus/index
printf '%s' '{"metadata": {"total_size": 48}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00001-of-00002.safetensors", "c.weight": "model-00002-of-00002.safetensors"}}' \
    > corpus/index/seed-valid

cargo +nightly fuzz build -O
status=0
for target in mapping format header index; do
    log="artifacts/$target.log"
    mkdir -p artifacts
    echo "== $target: ${seconds}s"
    if ! cargo +nightly fuzz run -O "$target" -- -max_total_time="$seconds" \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        status=1
        echo "   CRASH: see $log and fuzz/artifacts/$target/"
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
    echo "   executions: $runs  ($cov, corpus $(ls "corpus/$target" | wc -l) inputs)"
done
exit $status
