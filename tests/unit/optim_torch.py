#!/usr/bin/python3
"""optim_torch.py -- replays test_optim's training runs with torch.optim.

Run by test_optim.c as `/usr/bin/python3 optim_torch.py RESULTS`. RESULTS
holds the data, the initial params of the model (x -> linear(3,5) -> relu ->
linear(5,2), mse against target), and per case the optimizer config, the
loss modelc's step graph computed at every step and its final params and
optimizer state. This script trains the same model with torch.optim
(single-tensor implementation, foreach=False) from the same values and
checks every loss and final value within 1e-5 relative. Exit status: 0 when
all match, 1 when one does not, 77 when torch cannot be imported.
"""
import sys

try:
    import torch
except ImportError:
    print("torch is not installed")
    sys.exit(77)

REL_TOL = 1e-5
# An element much smaller than the largest of its tensor is mostly
# cancellation and keeps the absolute rounding error of the larger terms it
# came from, so it is compared against this fraction of the tensor's largest
# magnitude instead of its own size.
SCALE_FLOOR = 0.05
PARAMS = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
SHAPES = {"fc1.weight": (5, 3), "fc1.bias": (5,), "fc2.weight": (2, 5), "fc2.bias": (2,),
          "x": (4, 3), "target": (4, 2)}
STATE = {"sgd": ["momentum_buffer"], "adam": ["exp_avg", "exp_avg_sq"],
         "adamw": ["exp_avg", "exp_avg_sq"]}


def read_results(path):
    """data and init tensors, and a list of cases with their results."""
    tensors, cases = {}, []
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] in ("data", "init"):
                tensors[w[1]] = [float(v) for v in w[3:]]
            elif w[0] == "case":
                nums = [float(v) for v in w[5:]]
                cases.append({"name": w[1], "kind": w[2], "nesterov": w[3] == "1",
                              "clip": w[4] == "1", "lr": nums[0], "momentum": nums[1],
                              "weight_decay": nums[2], "betas": (nums[3], nums[4]),
                              "eps": nums[5], "max_norm": nums[6], "losses": [], "final": {}})
            elif w[0] == "loss":
                cases[-1]["losses"].append(float(w[2]))
            elif w[0] == "final":
                cases[-1]["final"][w[1]] = [float(v) for v in w[3:]]
    return tensors, cases


def tensor(values, name):
    return torch.tensor(values, dtype=torch.float32).reshape(SHAPES[name])


def make_optimizer(c, params):
    if c["kind"] == "sgd":
        return torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"],
                               weight_decay=c["weight_decay"], nesterov=c["nesterov"],
                               foreach=False)
    cls = torch.optim.Adam if c["kind"] == "adam" else torch.optim.AdamW
    return cls(params, lr=c["lr"], betas=c["betas"], eps=c["eps"],
               weight_decay=c["weight_decay"], foreach=False)


def train(c, tensors):
    """The losses of every step and the final params and state by name."""
    params = [tensor(tensors[n], n).requires_grad_() for n in PARAMS]
    x, target = tensor(tensors["x"], "x"), tensor(tensors["target"], "target")
    opt = make_optimizer(c, params)
    losses = []
    for _ in c["losses"]:
        opt.zero_grad()
        h = torch.relu(x @ params[0].t() + params[1])
        loss = torch.nn.functional.mse_loss(h @ params[2].t() + params[3], target)
        loss.backward()
        if c["clip"]:
            torch.nn.utils.clip_grad_norm_(params, c["max_norm"])
        opt.step()
        losses.append(loss.item())
    final = {}
    for name, p in zip(PARAMS, params):
        final[name] = p.detach().reshape(-1).tolist()
        for s in STATE[c["kind"]]:
            state = opt.state[p].get(s)
            # PyTorch's SGD has no buffer at momentum 0; ours is the gradient.
            if state is not None:
                final[name + "." + s] = state.reshape(-1).tolist()
    return losses, final


def worst_error(ours, theirs):
    floor = max(SCALE_FLOOR * max(abs(b) for b in theirs), 1e-30)
    worst = 0.0
    for a, b in zip(ours, theirs):
        worst = max(worst, abs(a - b) / max(abs(b), floor))
    return worst


def check_case(c, tensors):
    losses, final = train(c, tensors)
    err = worst_error(c["losses"], losses)
    report = ["loss %.2e" % err]
    ok = err <= REL_TOL
    for name, theirs in final.items():
        ours = c["final"].get(name)
        if ours is None or len(ours) != len(theirs):
            print("%s: modelc has no %s of %d values" % (c["name"], name, len(theirs)))
            ok = False
            continue
        e = worst_error(ours, theirs)
        report.append("%s %.2e" % (name, e))
        if e > REL_TOL:
            ok = False
            print("%s: %s differs: modelc %s, torch %s" % (c["name"], name, ours, theirs))
    print("%-16s %s  worst relative errors: %s" % (c["name"], "ok" if ok else "FAIL",
                                                   ", ".join(report)))
    return ok


def main():
    tensors, cases = read_results(sys.argv[1])
    print("torch %s, %d cases" % (torch.__version__, len(cases)))
    ok = all([check_case(c, tensors) for c in cases]) and len(cases) > 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
