#!/usr/bin/python3
"""run_parity.py -- modelc against PyTorch on the models of parity_models.py.

For each model, from the same weights (drawn by the torch module's own
initializers, saved as safetensors) and the same batch (saved as .npy, the
whole data is one batch):

  forward  the outputs and the loss          modelc grad             f32
  grad     every param's gradient            modelc grad             f32
  f64      outputs, loss and gradients       modelc grad --f64       f64
  sgd      every param, optimizer state and  modelc train --init-from, 10 steps
           buffer after 10 steps of SGD      of torch.optim.SGD (lr 0.05,
           with momentum                     momentum 0.9, dampening 0)
  adamw    the same with AdamW               torch.optim.AdamW (lr 1e-3,
                                             weight decay 0.01, eps 1e-4)
  sgd64,   the same two in f64               modelc train --f64 (the reference
  adamw64                                    evaluator), torch in float64

Every tensor modelc writes must have a torch counterpart and the other way
round: outputs by name, "loss", "grad.P" for param P, after training every
state_dict entry (params and buffers such as running_mean) and the optimizer
state P.momentum_buffer, P.exp_avg, P.exp_avg_sq. Only torch's integer
num_batches_tracked counters may be absent from modelc's checkpoint.

Relative error of a tensor a (modelc) against b (torch):

    max |a - b| / max(max |b|, FLOOR)      FLOOR = 1e-6

the largest difference relative to the tensor's largest magnitude (an
element near zero keeps the rounding error of the larger terms it was
computed from, so it is not measured against its own size); FLOOR makes a
tensor that is all (near) zero compare absolutely. A check passes when
every tensor's error is at most 1e-5 (f32) or 1e-12 (f64).

AdamW runs with eps 1e-4, not its default 1e-8: an element whose gradient
is not much larger than eps moves by lr * g / (|g| + eps), which turns the
gradient's f32 rounding error (about 1e-10 here) into a change of the
update; with eps 1e-8 that makes even torch's own f32 run differ from its
f64 run by up to 1e-3 after 10 steps (on mlp, and on gpt's attention key
bias, whose exact gradient is 0), so no f32 implementation can match it to
1e-5. With eps 1e-4 torch's f32 run stays within 4e-6 of its f64 run, and
the same update formula (eps included) is checked.

A few steps of training can be ill-conditioned in f32 whatever the
implementation: a ReLU input nearer to zero than two f32 runs agree flips
with rounding and moves a share of the gradients of every layer before it.
The f64 training checks have no such limit (rounding errors of 1e-16 flip
nothing) and test that modelc's training step computes what torch's does;
an f32 check known to be ill-conditioned is listed in KNOWN_FAILURES with
the measurement that shows it, printed (XFAIL), and not counted.

Prints one line per model with the worst error and the worst per check,
and every tensor over the bound when a check fails. Exit status: 0 when all
pass, 1 when a check fails or modelc fails, 77 when torch or numpy cannot
be imported (ctest reports the test as skipped), 2 on a usage error.

--self-check makes sure the comparison can fail: it gives modelc weights
whose first param is scaled by 1 + 1e-3 and passes only when every check
of the first model reports an error above its bound.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIP: the PyTorch parity suite needs torch and numpy for {sys.executable}: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity_models import MODELS  # noqa: E402

TOL = {"f32": 1e-5, "f64": 1e-12}
FLOOR = 1e-6
STEPS = 10
SEED = 0
THREADS = 2     # modelc's: the thread count may change rounding (docs/train.md)
PERTURB = 1e-3  # --self-check: relative change of the first param
IGNORED_TORCH_SUFFIXES = ("num_batches_tracked",)

# name -> (modelc train options, torch optimizer constructor)
OPTIMIZERS = {
    "sgd": (["--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9"],
            lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0,
                                       nesterov=False, foreach=False)),
    "adamw": (["--optimizer", "adamw", "--lr", "1e-3", "--weight-decay", "0.01", "--eps", "1e-4"],
              lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01, eps=1e-4,
                                           foreach=False)),
}


# ---- safetensors -----------------------------------------------------------------

ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
             "U8": np.uint8}


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        code = next(k for k, v in ST_DTYPES.items() if v == a.dtype)
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        lo, hi = h["data_offsets"]
        dtype = np.dtype(ST_DTYPES[h["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(raw[8 + n + lo:8 + n + hi], dtype=dtype).reshape(h["shape"])
    return tensors, meta


# ---- comparing ----------------------------------------------------------------------


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf"), f"shape {list(a.shape)}, torch's {list(b.shape)}"
    if a.size == 0:
        return 0.0, ""
    diff = np.abs(a - b)
    if not np.all(np.isfinite(a)):
        return float("inf"), "not finite"
    at = np.unravel_index(np.argmax(diff), diff.shape)
    scale = max(float(np.max(np.abs(b))), FLOOR)
    err = float(diff[at]) / scale
    return err, (f"max |diff| {diff[at]:.3g} at {list(map(int, at))}: {a[at]:.9g} vs "
                 f"torch {b[at]:.9g}; max |torch| {scale:.3g}")


class Check:
    """The tensors of one comparison and their errors."""

    def __init__(self, name, tol):
        self.name, self.tol = name, tol
        self.rows = []      # (error, tensor, detail)
        self.problems = []  # missing or extra tensors, failed runs

    def compare(self, modelc, torch_side):
        for name in sorted(set(modelc) | set(torch_side)):
            if name not in torch_side:
                self.problems.append(f"modelc wrote '{name}', which torch does not have")
            elif name not in modelc:
                if not name.endswith(IGNORED_TORCH_SUFFIXES):
                    self.problems.append(f"modelc did not write '{name}'")
            else:
                err, detail = rel_error(modelc[name], torch_side[name])
                self.rows.append((err, name, detail))

    def worst(self):
        return max(self.rows, default=(0.0, "-", ""))

    def ok(self):
        return not self.problems and bool(self.rows) and self.worst()[0] <= self.tol

    def report_failure(self, out):
        print(f"  FAIL {self.name} (bound {self.tol:g}):", file=out)
        for p in self.problems:
            print(f"    {p}", file=out)
        if not self.rows and not self.problems:
            print("    nothing was compared", file=out)
        for err, name, detail in sorted(self.rows, reverse=True):
            if err > self.tol:
                print(f"    {name}: rel error {err:.3g} ({detail})", file=out)


# ---- running both sides ----------------------------------------------------------------


class ModelcFailed(Exception):
    pass


def run_modelc(modelc, args):
    p = subprocess.run([modelc] + args, capture_output=True, text=True)
    if p.returncode != 0:
        raise ModelcFailed(f"modelc {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def torch_inputs(inputs, dtype):
    return {k: torch.from_numpy(v.astype(np.int64)) if v.dtype.kind in "iu"
            else torch.from_numpy(v).to(dtype) for k, v in inputs.items()}


def new_module(spec, state, dtype):
    m = spec.module(spec.dims)
    m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    return m.to(dtype).train()


def torch_grads(spec, state, inputs, dtype):
    """outputs, loss and grad.P of the torch module, as numpy arrays."""
    m = new_module(spec, state, dtype)
    outs, loss = m(**torch_inputs(inputs, dtype))
    loss.backward()
    res = {k: v.detach().numpy() for k, v in outs.items()}
    res["loss"] = loss.detach().numpy()
    for name, p in m.named_parameters():
        res["grad." + name] = p.grad.numpy()
    for name, b in m.named_buffers():   # running statistics after this train-mode forward
        if not name.endswith(IGNORED_TORCH_SUFFIXES):
            res["update." + name] = b.numpy()
    return res


def torch_train(spec, state, inputs, make_optimizer, dtype):
    """state_dict and optimizer state after STEPS steps on the batch."""
    m = new_module(spec, state, dtype)
    for name, p in m.named_parameters():
        p.requires_grad_(not name.startswith(spec.freeze))
    opt = make_optimizer([p for p in m.parameters() if p.requires_grad])
    x = torch_inputs(inputs, dtype)
    for _ in range(STEPS):
        opt.zero_grad()
        m(**x)[1].backward()
        opt.step()
    res = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    for name, p in m.named_parameters():
        for k, v in opt.state[p].items():
            if k != "step":
                res[f"{name}.{k}"] = v.numpy()
    return res


def split_grad_file(tensors):
    """modelc grad's file as (outputs and loss, gradients)."""
    fwd = {k: v for k, v in tensors.items() if not k.startswith("grad.")}
    return fwd, {k: v for k, v in tensors.items() if k.startswith("grad.")}


def check_model(args, name, spec, work, perturb):
    """The checks of one model, in order."""
    torch.manual_seed(SEED)
    state = {k: v.detach().numpy().copy() for k, v in spec.module(spec.dims).state_dict().items()}
    inputs = spec.inputs(spec.dims, np.random.default_rng(SEED))
    given = dict(state)
    if perturb:
        first = next(iter(state))
        given[first] = state[first] * np.float32(1 + PERTURB)
    weights = os.path.join(work, "weights.safetensors")
    save_safetensors(weights, given)
    common = [os.path.join(args.src, spec.model), "--threads", str(THREADS)]
    for d, v in spec.dims.items():
        common += ["-D", f"{d}={v}"]
    for k, v in inputs.items():
        path = os.path.join(work, f"{k}.npy")
        np.save(path, v)
        common += ["--data", f"{k}={path}"]

    checks = []
    grad = os.path.join(work, "grad.safetensors")
    run_modelc(args.modelc, ["grad"] + common + ["--weights", weights, "-o", grad])
    mine_fwd, mine_grad = split_grad_file(load_safetensors(grad)[0])
    ref_fwd, ref_grad = split_grad_file(torch_grads(spec, state, inputs, torch.float32))
    for check, mine, ref in (("forward", mine_fwd, ref_fwd), ("grad", mine_grad, ref_grad)):
        checks.append(Check(check, TOL["f32"]))
        checks[-1].compare(mine, ref)

    grad64 = os.path.join(work, "grad64.safetensors")
    run_modelc(args.modelc, ["grad"] + common + ["--weights", weights, "--f64", "-o", grad64])
    checks.append(Check("f64", TOL["f64"]))
    checks[-1].compare(load_safetensors(grad64)[0], torch_grads(spec, state, inputs, torch.float64))

    for opt, (flags, make) in OPTIMIZERS.items():
        for suffix, extra, dtype, tol in (("", [], torch.float32, TOL["f32"]),
                                          ("64", ["--f64"], torch.float64, TOL["f64"])):
            ckpt = os.path.join(work, f"{opt}{suffix}.safetensors")
            freeze = [a for prefix in spec.freeze for a in ("--freeze", prefix + "*")]
            run_modelc(args.modelc, ["train"] + common + flags + extra + freeze + [
                "--init-from", weights, "--steps", str(STEPS), "--save", ckpt])
            mine, meta = load_safetensors(ckpt)
            checks.append(Check(opt + suffix, tol))
            if meta.get("step") != str(STEPS):
                checks[-1].problems.append(f"modelc's checkpoint is at step {meta.get('step')}")
            checks[-1].compare(mine, torch_train(spec, state, inputs, make, dtype))
    return checks


# Checks known not to meet the bound, each with the reason; they are run and
# printed (XFAIL, or XPASS once they meet it) but do not fail the suite.
RESNET_F32 = ("ill-conditioned in f32: ReLU inputs lie nearer to zero than two f32 runs "
              "agree (at AdamW's step 4 one of layer3 is 8.9e-7 from zero, the runs ~2e-6 "
              "apart), so their signs, and a 1/196 share of a layer's gradients each, are "
              "decided by rounding; torch's own f32 runs miss its f64 runs by up to 2e-2 "
              "(SGD: 4 of seeds 0-5 above 1e-5, seed 0 2.0e-2 with OpenBLAS; AdamW: seed 1 "
              "3.7e-2); sgd64 and adamw64 check these steps in f64")
KNOWN_FAILURES = {
    ("resnet_mini", "sgd"): RESNET_F32,
    ("resnet_mini", "adamw"): RESNET_F32,
}


def summary(name, checks, seconds):
    counted = [c for c in checks if (name, c.name) not in KNOWN_FAILURES]
    worst = max(((c.worst()[0], c.name, c.worst()[1]) for c in counted), default=(0, "-", "-"))
    per = ", ".join(f"{c.name} {c.worst()[0]:.2g}" for c in checks)
    status = "ok" if all(c.ok() or (name, c.name) in KNOWN_FAILURES for c in checks) else "FAIL"
    return (f"{name}: {status}: worst relative error {worst[0]:.3g} ({worst[1]} {worst[2]}); "
            f"{per} ({seconds:.1f} s)")


def run_model(args, name, perturb):
    """Runs one model's checks; returns its checks or None when modelc failed."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"parity-{name}-") as tmp:
        work = os.path.join(args.keep, name) if args.keep else tmp
        os.makedirs(work, exist_ok=True)
        try:
            checks = check_model(args, name, MODELS[name], work, perturb)
        except ModelcFailed as e:
            print(f"{name}: FAIL: {e}")
            return None
    print(summary(name, checks, time.monotonic() - start), flush=True)
    return checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modelc", default=os.environ.get("MODELC"), help="the modelc binary")
    ap.add_argument("--src", default=os.environ.get("SRC"), help="the source tree")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep the weights, data and modelc's files in DIR/MODEL")
    ap.add_argument("--self-check", action="store_true",
                    help="perturb the weights given to modelc: pass when every check fails")
    ap.add_argument("models", nargs="*", help=f"models to check (default all: {', '.join(MODELS)})")
    args = ap.parse_args()
    if not args.modelc or not args.src:
        ap.error("give --modelc and --src (or MODELC and SRC in the environment)")
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model {unknown[0]} (known: {', '.join(MODELS)})")
    torch.set_num_threads(1)
    names = args.models or list(MODELS)
    if args.self_check:
        checks = run_model(args, names[0], perturb=True)
        missed = [c.name for c in checks or [] if c.ok()]
        if checks is None or missed:
            print(f"self-check: FAIL: a perturbed weight went unnoticed by: {', '.join(missed)}")
            return 1
        print(f"self-check: ok: every check of {names[0]} caught the perturbed weight")
        return 0
    failed = 0
    for name in names:
        checks = run_model(args, name, perturb=False)
        if checks is None:
            failed += 1
            continue
        for c in checks:
            if (name, c.name) in KNOWN_FAILURES:
                print(f"  {'XPASS' if c.ok() else 'XFAIL'} {c.name} (worst {c.worst()[0]:.2g}, "
                      f"known: {KNOWN_FAILURES[(name, c.name)]})")
        bad = [c for c in checks if not c.ok() and (name, c.name) not in KNOWN_FAILURES]
        for c in bad:
            c.report_failure(sys.stdout)
        failed += bool(bad)
    known = [f"{m} {c}" for (m, c) in KNOWN_FAILURES if m in names]
    print(f"parity: {len(names) - failed} of {len(names)} models match PyTorch"
          + (f" (known failures, not counted: {', '.join(known)})" if known else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
