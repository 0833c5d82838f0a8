#!/usr/bin/env bash
# The eight-configuration comparison of docs/performance.md (issue 13): ROUNDS
# rounds of ONNX Runtime, tensorweave and Keras one right after the other, each
# printing one JSON line per (model, batch); benches/summarize.py turns the lines
# into medians of rounds and medians of per-round ratios.
#   PY=venv/bin/python benches/rounds.sh /path/to/shared/bench 5 > /tmp/rounds.jsonl
set -euo pipefail
bench=${1:?shared/bench directory}
rounds=${2:-5}
py=${PY:-python3}
cd "$(dirname "$0")/.."
cargo bench --bench textclf --no-run >&2
for r in $(seq 1 "$rounds"); do
    echo "round $r" >&2
    for v in bilstm_textclf bilstm_textclf_nomask bigru_textclf bigru_textclf_nomask; do
        "$py" "$bench/ort_time.py" "$v" --threads 2 --iters 20 | sed "s/^{/{\"round\": $r, /"
    done
    TW_KERAS_BENCH="$bench" TW_BENCH_MEDIAN=20 cargo bench --bench textclf 2>/dev/null \
        | grep '^{' | sed "s/^{/{\"round\": $r, /"
    "$py" benches/keras_time.py "$bench" --iters 5 2>/dev/null | sed "s/^{/{\"round\": $r, /"
done
