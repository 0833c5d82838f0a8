"""Keras' side of the eight-configuration bench (issue 13): times Keras 3
`predict_on_batch` (TensorFlow backend, 2 intra-op threads) on each shared/bench
model, batch 1 and 32, two warm-up calls then the median of --iters; one JSON line
per configuration, like shared/bench/ort_time.py.

    python benches/keras_time.py shared/bench [--iters 5]
Needs: pip install keras tensorflow-cpu."""
import argparse, json, os, statistics, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "2")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import numpy as np
import keras

ap = argparse.ArgumentParser()
ap.add_argument("bench")
ap.add_argument("--iters", type=int, default=5)
a = ap.parse_args()
for v in ["bilstm_textclf", "bilstm_textclf_nomask", "bigru_textclf", "bigru_textclf_nomask"]:
    d = os.path.join(a.bench, v)
    m = keras.saving.load_model(os.path.join(d, "model.keras"))
    for b in (1, 32):
        x = np.load(os.path.join(d, f"input_b{b}.npy"))
        for _ in range(2):
            m.predict_on_batch(x)
        ts = []
        for _ in range(a.iters):
            t = time.perf_counter()
            m.predict_on_batch(x)
            ts.append((time.perf_counter() - t) * 1e3)
        print(json.dumps({"runtime": "keras", "model": v, "batch": b, "threads": 2,
                          "median_ms": round(statistics.median(ts), 2)}), flush=True)
