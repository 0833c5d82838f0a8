"""Summarizes benches/rounds.sh output: per (model, batch) the median over rounds of
each runtime's median, and the median of the per-round ratios tensorweave / ONNX
Runtime and tensorweave / Keras, as a Markdown table.
    python benches/summarize.py /tmp/rounds.jsonl"""
import json, statistics, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
t = defaultdict(dict)
for r in rows:
    t[(r["model"], r["batch"])].setdefault(r["runtime"], {})[r["round"]] = r["median_ms"]
print("| model, batch | tensorweave | ONNX Runtime | Keras | tw / ORT (median of rounds) | tw / Keras |")
print("|---|---|---|---|---|---|")
for (m, b), by in t.items():
    tw, ort, ks = by.get("tensorweave", {}), by.get("onnxruntime", {}), by.get("keras", {})
    med = lambda d: statistics.median(d.values()) if d else float("nan")
    ratio = lambda o: statistics.median(tw[k] / o[k] for k in tw if k in o) if o else float("nan")
    print(f"| {m}, {b} | {med(tw):.2f} ms | {med(ort):.2f} ms | {med(ks):.1f} ms "
          f"| {ratio(ort):.2f} | {ratio(ks):.2f} |")
