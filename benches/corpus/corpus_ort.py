"""Corpus-mode bench, ONNX Runtime side (issue 13): scores a corpus of token rows at a
batch size in the caller's order and prints rows per second, to set beside
`tensorweave bench MODEL --input CORPUS.npy --batch-size B` run right after on the same file.

    python benches/corpus/corpus_ort.py shared/bench/bilstm_textclf /tmp/corpus.npy --batch-size 32

The corpus (written on first use, deterministic): 10,000 rows of 1,000 int32 token ids,
right-padded with zeros; lengths log-normal (median 170, sigma 0.8, so mean 230 before
clipping), clipped to 1..1000 (about 1.3 % at the cap); ids uniform in 1..19999.
Needs: pip install onnxruntime numpy."""
import argparse, json, os, statistics, time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("bench_dir", help="a directory of shared/bench with model.onnx")
ap.add_argument("corpus", help="the corpus .npy (written if missing)")
ap.add_argument("--batch-size", type=int, default=32)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--rows", type=int, default=10000)
a = ap.parse_args()

if not os.path.exists(a.corpus):
    rng = np.random.default_rng(13)
    sigma = 0.8
    mu = np.log(230.0) - sigma**2 / 2
    lengths = np.clip(np.rint(rng.lognormal(mu, sigma, a.rows)), 1, 1000).astype(np.int64)
    x = np.zeros((a.rows, 1000), dtype=np.int32)
    for r, n in enumerate(lengths):
        x[r, :n] = rng.integers(1, 20000, n, dtype=np.int32)
    np.save(a.corpus, x)
    print(json.dumps({"corpus": a.corpus, "rows": a.rows, "mean_length": float(lengths.mean()),
                      "median_length": float(np.median(lengths)), "max_length": int(lengths.max())}))

import onnxruntime as ort

x = np.load(a.corpus)
so = ort.SessionOptions()
so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
sess = ort.InferenceSession(os.path.join(a.bench_dir, "model.onnx"), so,
                            providers=["CPUExecutionProvider"])
sess.run(None, {"tokens": x[: a.batch_size]})
times = []
for _ in range(a.rounds):
    t = time.perf_counter()
    outs = [sess.run(None, {"tokens": x[i:i + a.batch_size]})[0]
            for i in range(0, len(x), a.batch_size)]
    times.append(time.perf_counter() - t)
np.save(a.corpus.replace(".npy", "") + "_ort_output.npy", np.concatenate(outs))
med = statistics.median(times)
print(json.dumps({"runtime": "onnxruntime", "model": os.path.basename(a.bench_dir.rstrip("/")),
                  "batch_size": a.batch_size, "threads": a.threads, "rows": len(x),
                  "median_s": round(med, 3), "rows_per_s": round(len(x) / med, 1)}))
