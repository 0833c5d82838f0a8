"""Keras' side of benches/train_step.rs: model.train_on_batch of the same BiLSTM
classifier (Embedding(20000, 100, mask_zero) -> Bidirectional(LSTM(100)) ->
Dense(2, softmax), sparse CE, Adam 1e-3), batch 32, 200 and 1000 steps, rows
right-padded to lengths uniform in [T/4, T] (first row full), TensorFlow with
two threads. Prints one JSON line per length: the median of ITERS steps after
two warm-up steps.

    TF_NUM_INTRAOP_THREADS=2 python benches/keras_train_step.py [ITERS]
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)
import keras
from keras import layers

iters = int(sys.argv[1]) if len(sys.argv) > 1 else 5
rng = np.random.default_rng(7)
for steps in (200, 1000):
    tokens = keras.Input((steps,), dtype="int32")
    x = layers.Embedding(20000, 100, mask_zero=True)(tokens)
    h = layers.Bidirectional(layers.LSTM(100))(x)
    y = layers.Dense(2, activation="softmax")(h)
    model = keras.Model(tokens, y)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    xb = np.zeros((32, steps), np.int32)
    for i in range(32):
        n = steps if i == 0 else rng.integers(steps // 4, steps + 1)
        xb[i, :n] = rng.integers(1, 20000, n)
    yb = rng.integers(0, 2, 32).astype(np.float32)
    for _ in range(2):
        model.train_on_batch(xb, yb)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        model.train_on_batch(xb, yb)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    print(json.dumps({"model": "keras_bilstm_textclf", "steps": steps, "batch": 32,
                      "median_ms": times[len(times) // 2]}))
