#!/usr/bin/python3
"""mlp_demo.py -- a library made by `modelc build` used from Python through
ctypes and numpy, driven by its JSON manifest only (no C parsing): the
manifest names the library, the entry points with their C argument types,
the inputs, outputs and params (dtypes, shapes with "batch" entries) and
the error codes. Trains a few steps on synthetic data (ten noisy class
prototypes, as mlp_demo.c) and classifies held-out samples.

  /usr/bin/python3 mlp_demo.py libmlp.json [SEED]     exit 0 on success
"""
import ctypes
import json
import os
import sys

import numpy as np

DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "bool": np.uint8}


class Config(ctypes.Structure):
    _fields_ = [("seed", ctypes.c_uint64), ("threads", ctypes.c_int)]


class Hyper(ctypes.Structure):
    _fields_ = [(n, ctypes.c_double)
                for n in ("lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "max_norm")]


def c_type(text):
    """A ctypes type for a manifest type string ("const float*", "ctx**", ...)."""
    t = text.replace("const ", "").replace(" ", "")
    if t.endswith("*const*"):
        t = t[:-len("*const*")] + "**"
    base, stars = t.rstrip("*"), len(t) - len(t.rstrip("*"))
    scalars = {"int": ctypes.c_int, "int64_t": ctypes.c_int64, "size_t": ctypes.c_size_t,
               "float": ctypes.c_float, "double": ctypes.c_double, "int32_t": ctypes.c_int32,
               "uint8_t": ctypes.c_uint8, "char": ctypes.c_char, "void": None,
               "config": Config, "hyper": Hyper, "ctx": None}
    if base not in scalars:
        raise ValueError(f"unknown C type '{text}' in the manifest")
    if stars == 0:
        return scalars[base]
    if base == "char" and stars == 1:
        return ctypes.c_char_p
    if base in ("void", "ctx"):  # opaque: void*, ctx* are pointers; ctx** points at one
        return ctypes.c_void_p if stars == 1 else ctypes.POINTER(ctypes.c_void_p)
    p = ctypes.POINTER(scalars[base])
    for _ in range(stars - 1):
        p = ctypes.POINTER(p)
    return p


class Library:
    """The manifest's entry points as Python callables; every int result is checked."""

    def __init__(self, manifest_path):
        with open(manifest_path) as f:
            self.m = json.load(f)
        if self.m.get("format") != "modelc-library":
            raise ValueError(f"{manifest_path}: not a modelc library manifest")
        lib = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), self.m["library"])
        self.so = ctypes.CDLL(lib)
        self.errors = {code: name for name, code in self.m["errors"].items()}
        self.fn = {}
        for what, e in self.m["entry_points"].items():
            f = getattr(self.so, e["symbol"])
            f.argtypes = [c_type(t) for _, t in e["args"]]
            f.restype = c_type(e["returns"])
            self.fn[what] = f
        self.ctx = None

    def check(self, what, rc):
        if rc != 0:
            msg = self.fn["last_error"](self.ctx).decode()
            raise RuntimeError(f"{self.m['prefix']}_{what}: {self.errors.get(rc, rc)}: {msg}")

    def create(self, seed):
        cfg = Config()
        self.fn["config_default"](ctypes.byref(cfg))
        cfg.seed = seed
        out = ctypes.c_void_p()
        self.check("create", self.fn["create"](ctypes.byref(cfg), ctypes.byref(out)))
        self.ctx = out

    def destroy(self):
        self.fn["destroy"](self.ctx)
        self.ctx = None

    @staticmethod
    def shape_at(t, batch):
        """A manifest shape (["batch", 784], ["batch*4"]) at a batch."""
        dims = []
        for d in t["shape"]:
            if isinstance(d, int):
                dims.append(d)
            elif d == "batch":
                dims.append(batch)
            else:
                dims.append(batch * int(d.split("*")[1]))
        return tuple(dims)

    def array(self, t, batch):
        return np.zeros(self.shape_at(t, batch), dtype=DTYPES[t["dtype"]])

    def pointers(self, arrays):
        """void*const* and size_t* arrays for the *_v entry points (None: NULL)."""
        ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data if a is not None else None
                                                  for a in arrays])
        counts = (ctypes.c_size_t * len(arrays))(*[a.size if a is not None else 0 for a in arrays])
        return ctypes.cast(ptrs, ctypes.POINTER(ctypes.c_void_p)), counts

    def forward(self, batch, inputs):
        """forward_v with every model input (absent ones NULL): {output name: array}."""
        ins = [np.ascontiguousarray(inputs[t["name"]]) if t["name"] in inputs else None
               for t in self.m["inputs"]]
        for a, t in zip(ins, self.m["inputs"]):
            if a is not None and a.dtype != DTYPES[t["dtype"]]:
                raise ValueError(f"input '{t['name']}' is {a.dtype}, the model's is {t['dtype']}")
        outs = [self.array(t, batch) for t in self.m["outputs"]]
        ip, ic = self.pointers(ins)
        op, oc = self.pointers(outs)
        self.check("forward_v", self.fn["forward_v"](self.ctx, batch, ip, ic, op, oc))
        return {t["name"]: a for t, a in zip(self.m["outputs"], outs)}

    def call_typed(self, what, batch, arrays, extra=None):
        """The typed entry point `what` (forward, train_step): its arguments in the
        manifest's order, each buffer from `arrays` by name with its element count."""
        e, f = self.m["entry_points"][what], self.fn[what]
        args = [self.ctx, batch]
        for (name, _), t in zip(e["args"][2:], f.argtypes[2:]):
            if name in arrays:
                args.append(ctypes.cast(arrays[name].ctypes.data, t))
            elif name.endswith("_count") and name[:-6] in arrays:
                args.append(arrays[name[:-6]].size)
            else:
                args.append(extra[name])
        self.check(what, f(*args))

    def train_step(self, batch, inputs, hyper=None):
        """One step through the typed train_step; the batch's loss."""
        arrays = {t["name"]: np.ascontiguousarray(inputs[t["name"]], dtype=DTYPES[t["dtype"]])
                  for t in self.m["train_inputs"]}
        loss = ctypes.c_float()
        h = ctypes.byref(hyper) if hyper is not None else None
        self.call_typed("train_step", batch, arrays, {"h": h, "loss": ctypes.byref(loss)})
        return loss.value

    def forward_typed(self, batch, inputs):
        """The typed forward: {output name: array}."""
        arrays = {t["name"]: np.ascontiguousarray(inputs[t["name"]], dtype=DTYPES[t["dtype"]])
                  for t in self.m["forward_inputs"]}
        outs = {t["name"]: self.array(t, batch) for t in self.m["outputs"]}
        self.call_typed("forward", batch, {**arrays, **outs})
        return outs

    def param(self, name):
        """A param's current values as a numpy array (a copy)."""
        for p in self.m["params"]:
            if p["name"] == name:
                data = self.fn["param_data"](self.ctx, p["index"])
                if not data:
                    self.check("param_data", 1)
                n = int(np.prod(p["shape"]))
                buf = (ctypes.c_char * (n * np.dtype(DTYPES[p["dtype"]]).itemsize)).from_address(data)
                return np.frombuffer(buf, dtype=DTYPES[p["dtype"]]).reshape(p["shape"]).copy()
        raise KeyError(name)


def synthetic(rng, protos, n):
    y = rng.integers(0, len(protos), size=n).astype(np.int32)
    x = protos[y] + rng.uniform(-0.75, 0.75, size=(n, protos.shape[1]))
    return x.astype(np.float32), y


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    lib = Library(sys.argv[1])
    m = lib.m
    print(f"model {m['model']} (prefix {m['prefix']}, {m['library']}), batch dim {m['batch_dim']}")
    for kind in ("inputs", "outputs"):
        for t in m[kind]:
            print(f"  {kind[:-1]:6s} {t['name']}: {t['dtype']}{t['shape']}")
    if "train_step_v" not in lib.fn:
        print("the library has no training step (built without --train)", file=sys.stderr)
        return 1
    x_spec = next(t for t in m["forward_inputs"])
    label = next(t for t in m["train_inputs"] if t["name"] != x_spec["name"])
    ncls = m["outputs"][0]["per_sample"]
    lib.create(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    try:
        rng = np.random.default_rng(5)
        protos = (rng.uniform(size=(ncls, x_spec["per_sample"])) < 0.5).astype(np.float32)
        hyper = Hyper()
        lib.fn["hyper_default"](ctypes.byref(hyper))
        losses = []
        for step in range(1, 11):
            x, y = synthetic(rng, protos, 64)
            losses.append(lib.train_step(64, {x_spec["name"]: x, label["name"]: y}, hyper))
            print(f"step {step:2d}: loss {losses[-1]:.4f}")
        if not losses[-1] < losses[0]:
            raise RuntimeError(f"the loss did not fall: {losses[0]:.4f} -> {losses[-1]:.4f}")
        print(f"trained {lib.fn['steps'](lib.ctx)} steps")
        x, y = synthetic(rng, protos, 128)
        out = m["outputs"][0]["name"]
        logits = lib.forward(128, {x_spec["name"]: x})[out]
        pred = logits.argmax(axis=1)
        one = np.array([lib.forward_typed(1, {x_spec["name"]: x[i:i + 1]})[out][0].argmax()
                        for i in range(16)])
        print(f"batch 128 accuracy: {(pred == y).mean():.3f}")
        print(f"batch 1 predictions of the first 16: {one.tolist()}")
        if not (one == pred[:16]).all():
            raise RuntimeError("batch 1 and batch 128 predictions differ")
        for p in m["params"]:
            if not p["state"]:
                a = lib.param(p["name"])
                print(f"  param {p['name']}: {a.dtype}{list(a.shape)} mean {a.mean():+.5f}")
        # a bad call: the error code and message come back as an exception
        try:
            lib.forward(0, {x_spec["name"]: x[:0]})
            raise RuntimeError("batch 0 was accepted")
        except RuntimeError as e:
            if "ERR_BATCH" not in str(e):
                raise
            print(f"batch 0 refused: {e}")
    finally:
        lib.destroy()
    print("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        print(f"mlp_demo.py: {e}", file=sys.stderr)
        sys.exit(1)
