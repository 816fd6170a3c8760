"""st_close.py A B [TOL] -- every float tensor of safetensors file B within
TOL (default 1e-5) of A's, relative to the largest magnitude in A's
tensor; both files hold the same tensors. Prints the worst relative
difference; exits 1 when it is over TOL. The tests/cli scripts run it
with /usr/bin/python3 (it is not a test itself)."""
import json, struct, sys


def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    head.pop("__metadata__", None)
    out = {}
    for k, t in head.items():
        a, b = t["data_offsets"]
        fmt = {"F32": "f", "F64": "d"}.get(t["dtype"])
        if fmt:
            count = (b - a) // struct.calcsize(fmt)
            out[k] = struct.unpack("<%d%s" % (count, fmt), data[8 + n + a:8 + n + b])
    return out


a, b = load(sys.argv[1]), load(sys.argv[2])
tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
assert set(a) == set(b), (sorted(a), sorted(b))
worst = 0.0
for k in a:
    scale = max(max(abs(x) for x in a[k]), 1e-6)
    worst = max(worst, max(abs(x - y) for x, y in zip(a[k], b[k])) / scale)
print("worst relative difference %.3g" % worst)
sys.exit(0 if worst <= tol else 1)
