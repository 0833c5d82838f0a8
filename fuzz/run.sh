#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of tensorweave's file readers
# (cargo-fuzz + libFuzzer on the stable toolchain; see docs/fuzzing.md).
#
#   fuzz/run.sh --short [TARGET…]  CI-sized and repeatable: a fixed seed and a fixed
#                                  number of runs per target (15-25 s each here)
#   fuzz/run.sh --long [TARGET…]   every target for 30 min
#   fuzz/run.sh --time S [TARGET…] every (or each named) target for S seconds
#   FUZZ_ASAN=1 fuzz/run.sh …      the same with AddressSanitizer (opt-in; see docs)
#
# The corpus of each target is seeded from tests/fixtures/keras/* (by the
# tensorweave-io example fuzz_seeds) into fuzz/corpus/TARGET, and grows there.
# A finding (panic, abort, an allocation over -malloc_limit_mb, a timeout) is
# saved under fuzz/artifacts/TARGET/ and makes the script exit 1 after all
# targets ran; the last line is "fuzz: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(keras_archive keras_config h5_weights native safetensors npy npz)
SHORT=0
SECONDS_EACH=60
case "${1:-}" in
    --short) SHORT=1; shift ;;
    --long) SECONDS_EACH=1800; shift ;;
    --time) SECONDS_EACH="$2"; shift 2 ;;
    "") SHORT=1 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
esac

# Runs per target in --short mode: 15-25 s each on this machine (2 min in all). With a
# fixed seed and the seed corpus of a fresh clone, a short run tries the same
# inputs every time, so CI passes or fails the same way for the same code.
short_runs() {
    case "$1" in
        keras_archive) echo 100000 ;;
        keras_config) echo 250000 ;;
        h5_weights) echo 150000 ;;
        native) echo 150000 ;;
        safetensors) echo 300000 ;;
        npy) echo 3000000 ;;
        npz) echo 500000 ;;
        *) echo 20000 ;;
    esac
}
if [ "$#" -gt 0 ]; then TARGETS=("$@"); fi

# cargo-fuzz from crates.io, pinned; it runs on stable with `-s none`.
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# A short run starts from the seeds alone (in corpus-short/, made afresh), so
# that it is repeatable; other runs grow fuzz/corpus/TARGET across runs.
CORPUS=corpus
if [ "$SHORT" -eq 1 ]; then
    CORPUS=corpus-short
    rm -rf fuzz/corpus-short
fi
echo "== seeding the corpora from tests/fixtures/keras"
cargo run --quiet -p tensorweave-io --example fuzz_seeds -- "fuzz/$CORPUS"

# -s none: no AddressSanitizer (it needs nightly's -Zsanitizer); the code under
# test is safe Rust, and libFuzzer still catches panics, aborts, big mallocs,
# timeouts and memory growth. -a: debug assertions and overflow checks on.
# FUZZ_ASAN=1 builds with AddressSanitizer instead, by letting the stable
# compiler take nightly flags (RUSTC_BOOTSTRAP=1): an opt-in for long runs,
# about 4x slower, and not for CI (see docs/fuzzing.md).
FUZZ_FLAGS=(-s none -a)
if [ "${FUZZ_ASAN:-0}" = 1 ]; then
    export RUSTC_BOOTSTRAP=1
    FUZZ_FLAGS=(-s address -a)
fi
echo "== building the fuzz targets"
(cd fuzz && cargo fuzz build "${FUZZ_FLAGS[@]}")

passed=0
failed=0
for target in "${TARGETS[@]}"; do
    if [ "$SHORT" -eq 1 ]; then
        limit=(-seed=1 -runs="$(short_runs "$target")" -max_total_time=120)
        echo "== fuzzing $target: $(short_runs "$target") runs, seed 1"
    else
        limit=(-max_total_time="$SECONDS_EACH")
        echo "== fuzzing $target for ${SECONDS_EACH}s"
    fi
    mkdir -p "fuzz/$CORPUS/$target" "fuzz/artifacts/$target"
    log="fuzz/artifacts/$target/last-run.log"
    dict=()
    case "$target" in
        keras_config|keras_archive|native) dict=(-dict=dicts/keras_json.dict) ;;
    esac
    set +e
    (cd fuzz && cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$CORPUS/$target" -- "${dict[@]}" \
        "${limit[@]}" -timeout=10 -rss_limit_mb=3072 \
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
