"""One-off check, with real Keras 3.15.1, of the `.keras` archives tensorweave writes.

Not run by the test suite (the project never needs Python). Rebuild the archives
and run the check:

    cargo run -p tensorweave-io --example rewrite_keras_archives -- OUT_DIR
    /work/venv/bin/python crates/tensorweave-io/tests/h5_write_check.py OUT_DIR/manifest.json

The example reads every fixture archive, reads its `model.weights.h5` with the
crate's HDF5 reader, writes it again with `h5/writer.rs`, and zips it with the
original `config.json` and `metadata.json` (`write_keras_archive`). For each
manifest entry this script requires, against the original archive:

* the model loads with `keras.saving.load_model`;
* every model variable is bit-identical;
* `predict` on the fixture inputs beside the original is bit-identical;
* when the original holds optimizer state (`trained.keras`), every variable of
  `model.optimizer.variables` is bit-identical (count, dtype, shape, bits);
* with h5py: the same groups, datasets, dtypes, shapes (0-d stays scalar),
  attributes and attribute types (scalar variable-length UTF-8 strings).

A control first alters one weight of a rewritten archive and requires the
comparison to notice, so the check can fail.
"""

import io
import json
import os
import sys
import tempfile
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402


@keras.saving.register_keras_serializable(package="textclf")
class AttLayer(layers.Layer):
    """The fixtures' attention layer (see shared/reference/custom-attention.md)."""

    def __init__(self, attention_dim=16, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.attention_dim = attention_dim

    def build(self, input_shape):
        d = input_shape[-1]
        self.W = self.add_weight(shape=(d, self.attention_dim), initializer="random_normal", name="W")
        self.b = self.add_weight(shape=(self.attention_dim,), initializer="random_normal", name="b")
        self.u = self.add_weight(shape=(self.attention_dim, 1), initializer="random_normal", name="u")

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, x, mask=None):
        uit = ops.tanh(ops.matmul(x, self.W) + self.b)
        ait = ops.exp(ops.squeeze(ops.matmul(uit, self.u), -1))
        if mask is not None:
            ait = ait * ops.cast(mask, ait.dtype)
        ait = ait / (ops.sum(ait, axis=1, keepdims=True) + keras.backend.epsilon())
        return ops.sum(x * ops.expand_dims(ait, -1), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "attention_dim": self.attention_dim}


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def h5_description(archive):
    """Every object of the archive's model.weights.h5 as h5py sees it."""
    raw = zipfile.ZipFile(archive).read("model.weights.h5")
    out = {}
    with h5py.File(io.BytesIO(raw), "r") as f:

        def attrs(obj):
            described = {}
            for key in obj.attrs:
                attr = obj.attrs.get_id(key)
                t = attr.get_type()
                is_str = t.get_class() == h5py.h5t.STRING
                described[key] = (
                    obj.attrs[key],
                    t.get_class(),
                    t.is_variable_str() if is_str else None,
                    t.get_cset() if is_str else None,
                    attr.shape,
                )
            return described

        out["/"] = ("group", attrs(f))

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                space = obj.id.get_space().get_simple_extent_type()
                data = np.asarray(obj[()])
                out[name] = ("dataset", str(obj.dtype), obj.shape, space, data.tobytes(), attrs(obj))
            else:
                out[name] = ("group", attrs(obj))

        f.visititems(visit)
    return out


def fixture_inputs(original):
    """The input batches stored beside an original archive (a list of lists of arrays)."""
    folder = os.path.dirname(original)
    numbered = sorted(n for n in os.listdir(folder) if n.startswith("input_") and n[6:-4].isdigit())
    if numbered:
        return [[np.load(os.path.join(folder, n)) for n in numbered]]
    # The benchmark model: one input, several batch files.
    return [[np.load(os.path.join(folder, n))] for n in sorted(os.listdir(folder)) if n.startswith("input_b")]


def compare(original, rewritten):
    """Problems found between two archives (empty when they agree)."""
    problems = []
    a, b = h5_description(original), h5_description(rewritten)
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            problems.append(f"h5 object {key} only in {'original' if key in a else 'rewritten'}")
        elif str(a[key]) != str(b[key]) or (a[key][0] == "dataset" and a[key][4] != b[key][4]):
            problems.append(f"h5 object {key} differs: {str(a[key])[:120]} vs {str(b[key])[:120]}")
    m1 = keras.saving.load_model(original)
    m2 = keras.saving.load_model(rewritten)
    if len(m1.weights) != len(m2.weights):
        problems.append(f"{len(m1.weights)} vs {len(m2.weights)} model variables")
    for v1, v2 in zip(m1.weights, m2.weights):
        if not same_bits(v1.numpy(), v2.numpy()):
            problems.append(f"model variable {v1.path} differs")
    batches = fixture_inputs(original)
    for batch in batches:
        x = batch if len(batch) > 1 else batch[0]
        p1, p2 = m1.predict(x, verbose=0), m2.predict(x, verbose=0)
        p1 = p1 if isinstance(p1, (list, tuple)) else [p1]
        p2 = p2 if isinstance(p2, (list, tuple)) else [p2]
        if len(p1) != len(p2) or not all(same_bits(u, w) for u, w in zip(p1, p2)):
            problems.append("predictions differ")
    opt = None
    if getattr(m1, "optimizer", None) is not None and m1.optimizer.built:
        o1, o2 = m1.optimizer.variables, m2.optimizer.variables
        opt = f"{len(o1)} optimizer variables (iterations {int(m2.optimizer.iterations.numpy())})"
        if len(o1) != len(o2):
            problems.append(f"{len(o1)} vs {len(o2)} optimizer variables")
        for v1, v2 in zip(o1, o2):
            if not same_bits(v1.numpy(), v2.numpy()):
                problems.append(f"optimizer variable {v1.path} differs")
    return problems, len(m1.weights), len(batches), opt


def altered_copy(archive, folder):
    """A copy of `archive` whose first non-zero float dataset has one value changed."""
    z = zipfile.ZipFile(archive)
    raw = io.BytesIO(z.read("model.weights.h5"))
    with h5py.File(raw, "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype == np.float32 and o.size else None)
        ds = f[names[0]]
        data = ds[()]
        data.flat[0] = np.nextafter(data.flat[0], np.float32(np.inf))
        ds[...] = data
    path = os.path.join(folder, "altered.keras")
    with zipfile.ZipFile(path, "w") as out:
        for name in ("metadata.json", "config.json"):
            out.writestr(name, z.read(name))
        out.writestr("model.weights.h5", raw.getvalue())
    return path


def main():
    manifest_path = sys.argv[1]
    with open(manifest_path) as f:
        manifest = json.load(f)
    base = os.path.dirname(os.path.abspath(manifest_path))
    entries = [(e["original"], os.path.join(base, e["rewritten"])) for e in manifest["archives"]]
    print(f"keras {keras.__version__}, h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}")

    with tempfile.TemporaryDirectory() as tmp:
        control, *_ = compare(entries[0][0], altered_copy(entries[0][1], tmp))
        if not control:
            sys.exit("control failed: an altered weight went unnoticed")
        print(f"control: an altered weight is caught ({len(control)} problems)")

    failed = 0
    for original, rewritten in entries:
        problems, n_vars, n_batches, n_opt = compare(original, rewritten)
        status = "ok" if not problems else "FAIL"
        failed += bool(problems)
        opt = f", {n_opt}" if n_opt else ""
        print(f"{status}  {original}: {n_vars} variables, {n_batches} input batches{opt}; "
              f"h5 {os.path.getsize(rewritten)} B archive")
        # Keras-level problems first: they matter more than a differing h5 detail.
        for p in sorted(problems, key=lambda p: p.startswith("h5 object"))[:5]:
            print(f"      {p}")
    print(f"{len(entries) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
