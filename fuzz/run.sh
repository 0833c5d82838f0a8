#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of tensorweave's file readers
# (cargo-fuzz + libFuzzer on the stable toolchain; see docs/fuzzing.md).
#
#   fuzz/run.sh --short            CI-sized: every target for 20 s (about 2 min of fuzzing)
#   fuzz/run.sh --long             every target for 30 min
#   fuzz/run.sh --time S [TARGET…] every (or each named) target for S seconds
#
# The corpus of each target is seeded from tests/fixtures/keras/* (by the
# tensorweave-io example fuzz_seeds) into fuzz/corpus/TARGET, and grows there.
# A finding (panic, abort, an allocation over -malloc_limit_mb, a timeout) is
# saved under fuzz/artifacts/TARGET/ and makes the script exit 1 after all
# targets ran; the last line is "fuzz: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(keras_archive keras_config h5_weights native npy npz)
SECONDS_EACH=20
case "${1:-}" in
    --short) shift ;;
    --long) SECONDS_EACH=1800; shift ;;
    --time) SECONDS_EACH="$2"; shift 2 ;;
    "") ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
esac
if [ "$#" -gt 0 ]; then TARGETS=("$@"); fi

# cargo-fuzz from crates.io, pinned; it runs on stable with `-s none`.
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

echo "== seeding the corpora from tests/fixtures/keras"
cargo run --quiet -p tensorweave-io --example fuzz_seeds -- fuzz/corpus

# -s none: no AddressSanitizer (it needs nightly's -Zsanitizer); the code under
# test is safe Rust, and libFuzzer still catches panics, aborts, big mallocs,
# timeouts and memory growth. -a: debug assertions and overflow checks on.
FUZZ_FLAGS=(-s none -a)
echo "== building the fuzz targets"
(cd fuzz && cargo fuzz build "${FUZZ_FLAGS[@]}")

passed=0
failed=0
for target in "${TARGETS[@]}"; do
    echo "== fuzzing $target for ${SECONDS_EACH}s"
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="fuzz/artifacts/$target/last-run.log"
    dict=()
    case "$target" in
        keras_config|keras_archive|native) dict=(-dict=dicts/keras_json.dict) ;;
    esac
    set +e
    (cd fuzz && cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "corpus/$target" -- "${dict[@]}" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=3072 \
        -malloc_limit_mb=1024 -max_len=262144 -print_final_stats=1) >"$log" 2>&1
    rc=$?
    set -e
    runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 || true)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "   ok: ${runs:-no stats} (${cov:-})"
    else
        failed=$((failed + 1))
        echo "   FINDING in $target (exit $rc); log: $log; inputs: fuzz/artifacts/$target/"
        grep -m 12 -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|^ +[0-9]+: ' "$log" | cut -c1-200 | sed 's/^/   | /' || true
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
