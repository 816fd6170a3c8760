#!/usr/bin/python3
"""Peer baseline: PyTorch (eager + TorchScript) step times for the reference models.

modelc's copy of ../shared/peers/torch_bench.py (bench/run.sh runs it), extended
with resnet_mini (examples/resnet_mini.model: a conv-bn-relu stem, three basic
blocks, the second and third strided with a 1x1 projection, global average pool,
linear; Adam) and a TorchScript inference figure for every model, and --blas:
which BLAS library this process loaded, and its SGEMM GFLOP/s through torch.

Usage:  /usr/bin/python3 torch_peer.py [--model NAME|all] [--iters 30] [--warmup 5] [--blas]
One model per process gives a clean peak-RSS figure, so run it once per model.
Output: one line per (model, mode): median/min/max ms, samples/s, GFLOP/s, peak RSS so far.
GFLOP/s counts Linear/Conv2d/attention-matmul FLOPs only; a train step is taken as 3x forward.
No dropout anywhere; data are random tensors (fixed seed); all float32.
"""
import argparse, math, resource, statistics, time, warnings
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")  # TorchScript tracing warnings: not results

# ---------------------------------------------------------------- models
class SeedNet(nn.Module):  # the tiny tutorial model: framework overhead dominates
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(10, 20), nn.Linear(20, 10)
    def forward(self, x):
        return self.l2(self.l1(x))

def mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))

def lenet():  # conv1 pads 2 so 28x28 behaves like LeNet-5's 32x32 (16*5*5 = 400 features)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))

def attention(q, k, v, nh, mask=None):  # q,k,v: (B,T,C) -> (B,T,C); explicit matmuls
    B, T, C = q.shape
    q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // nh))
    if mask is not None:
        att = att.masked_fill(mask[:T, :T] == 0, float("-inf"))
    y = F.softmax(att, dim=-1) @ v
    return y.transpose(1, 2).contiguous().view(B, T, C)

class GPTBlock(nn.Module):  # pre-LayerNorm, causal
    def __init__(self, d, nh):
        super().__init__()
        self.nh, self.ln1, self.ln2 = nh, nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
    def forward(self, x, mask):
        q, k, v = self.qkv(self.ln1(x)).split(x.shape[-1], dim=2)
        x = x + self.proj(attention(q, k, v, self.nh, mask))
        return x + self.fc2(F.gelu(self.fc(self.ln2(x))))

class GPTTiny(nn.Module):
    def __init__(self, vocab=96, T=64, d=128, nh=4, nl=4):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(T, d)
        self.blocks = nn.ModuleList(GPTBlock(d, nh) for _ in range(nl))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)  # untied
        self.register_buffer("mask", torch.tril(torch.ones(T, T)))
    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x, self.mask)
        return self.head(self.ln_f(x))

class BertLayer(nn.Module):  # post-LayerNorm, bidirectional, no padding mask
    def __init__(self, d, nh, ff):
        super().__init__()
        self.nh, self.qkv, self.proj = nh, nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc, self.fc2 = nn.Linear(d, ff), nn.Linear(ff, d)
    def forward(self, x):
        q, k, v = self.qkv(x).split(x.shape[-1], dim=2)
        x = self.ln1(x + self.proj(attention(q, k, v, self.nh)))
        return self.ln2(x + self.fc2(F.gelu(self.fc(x))))

class BertTinyCls(nn.Module):
    def __init__(self, vocab=1000, T=32, d=128, nh=2, nl=2, ff=512, ncls=2):
        super().__init__()
        self.tok, self.pos, self.typ = nn.Embedding(vocab, d), nn.Embedding(T, d), nn.Embedding(2, d)
        self.ln_e = nn.LayerNorm(d)
        self.layers = nn.ModuleList(BertLayer(d, nh, ff) for _ in range(nl))
        self.pool, self.cls = nn.Linear(d, d), nn.Linear(d, ncls)
    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1])) + self.typ(torch.zeros_like(idx))
        x = self.ln_e(x)
        for layer in self.layers:
            x = layer(x)
        return self.cls(torch.tanh(self.pool(x[:, 0])))

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    def forward(self, x):
        h = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(h + (self.down(x) if self.down is not None else x))

def resnet_mini():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         BasicBlock(16, 16), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

# name -> (model factory, batch, make input, make target, loss fn, optimizer factory, attn FLOP/sample)
CE = nn.CrossEntropyLoss()
def lm_loss(out, y):
    return CE(out.reshape(-1, out.shape[-1]), y.reshape(-1))

MODELS = {
    "seed_net": (SeedNet, 64, lambda b: torch.randn(b, 10), lambda b: torch.randn(b, 10),
                 nn.MSELoss(), lambda p: torch.optim.SGD(p, lr=0.01), 0),
    "mlp": (mlp, 128, lambda b: torch.randn(b, 784), lambda b: torch.randint(0, 10, (b,)),
            CE, lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), 0),
    "lenet": (lenet, 64, lambda b: torch.randn(b, 1, 28, 28), lambda b: torch.randint(0, 10, (b,)),
              CE, lambda p: torch.optim.Adam(p, lr=1e-3), 0),
    "resnet_mini": (resnet_mini, 64, lambda b: torch.randn(b, 1, 28, 28),
                    lambda b: torch.randint(0, 10, (b,)), CE, lambda p: torch.optim.Adam(p, lr=1e-3), 0),
    "gpt_tiny": (GPTTiny, 16, lambda b: torch.randint(0, 96, (b, 64)),
                 lambda b: torch.randint(0, 96, (b, 64)), lm_loss,
                 lambda p: torch.optim.AdamW(p, lr=3e-4), 4 * 4 * 64 * 64 * 128),
    "bert_tiny_cls": (BertTinyCls, 32, lambda b: torch.randint(0, 1000, (b, 32)),
                      lambda b: torch.randint(0, 2, (b,)), CE,
                      lambda p: torch.optim.AdamW(p, lr=1e-4), 2 * 4 * 32 * 32 * 128),
}
# attn FLOP/sample = layers * 4*T*T*d (QK^T and att@V, 2 FLOP per MAC); Linear/Conv counted by hooks.

# ---------------------------------------------------------------- timing
def count_fwd_flops(model, x):
    """Multiply-add FLOPs (x2) of Linear and Conv2d layers for one forward of batch x."""
    total = [0]
    def hook(m, inp, out):
        if isinstance(m, nn.Linear):
            total[0] += 2 * out.numel() * m.in_features
        elif isinstance(m, nn.Conv2d):
            total[0] += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total[0]

def bench(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts), max(ts)

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB

def report(name, mode, batch, stats, fwd_flop):
    med, lo, hi = stats
    print(f"{name:14s} {mode:14s} batch={batch:<4d} median_ms={med:9.4f} min_ms={lo:9.4f} "
          f"max_ms={hi:9.4f} samples/s={batch / med * 1e3:11.1f} "
          f"GFLOP/s={fwd_flop / med * 1e-6:7.2f} peak_rss_MiB={rss_mib():7.1f}", flush=True)

def run_model(name, iters, warmup, jit):
    make, batch, mkx, mky, loss_fn, mkopt, attn_flop = MODELS[name]
    torch.manual_seed(0)
    model = make()
    x, y = mkx(batch), mky(batch)
    nparams = sum(p.numel() for p in model.parameters())
    fwd_flop = count_fwd_flops(model, x) + attn_flop * batch
    print(f"# {name}: params={nparams} fwd_MFLOP/batch={fwd_flop / 1e6:.2f} "
          f"rss_before_MiB={rss_mib():.1f}", flush=True)
    opt = mkopt(model.parameters())

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    model.train()
    report(name, "train", batch, bench(train_step, iters, warmup), 3 * fwd_flop)  # ~3x fwd FLOPs
    model.eval()
    report(name, "infer", batch, bench(infer, iters, warmup), fwd_flop)
    if jit:  # static-graph peer: trace -> freeze -> optimize_for_inference
        try:
            run_jit(name, model, x, batch, iters, warmup, fwd_flop)
        except Exception as e:  # a model TorchScript cannot take: say so, no figure
            print(f"# {name}: torchscript failed: {type(e).__name__}: {str(e)[:200]}", flush=True)

def run_jit(name, model, x, batch, iters, warmup, fwd_flop):
    if True:
        with torch.no_grad():
            t0 = time.perf_counter()
            sm = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
            t1 = time.perf_counter()
            out = sm(x)  # first call runs the profiling executor's optimisations
            t2 = time.perf_counter()
            torch.testing.assert_close(out, model(x), rtol=1e-4, atol=1e-4)
        print(f"# {name}: torchscript trace+freeze+optimize_ms={(t1 - t0) * 1e3:.1f} "
              f"first_call_ms={(t2 - t1) * 1e3:.1f}", flush=True)
        def infer_jit():
            with torch.no_grad():
                sm(x)
        report(name, "infer_jit", batch, bench(infer_jit, iters, warmup), fwd_flop)

def blas_report(threads):
    """The BLAS shared objects this process mapped, and torch's SGEMM speed."""
    import os
    a = torch.randn(1024, 1024)
    (a @ a).sum()
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and ("blas" in parts[5] or "mkl" in parts[5]):
                libs.add(os.path.realpath(parts[5]))
    names = sorted(libs)
    kind = "openblas" if any("openblas" in n for n in names) else \
           "mkl" if any("mkl" in n for n in names) else \
           "reference" if any("/blas/" in n or "libblas" in n for n in names) else "unknown"
    med, _, _ = bench(lambda: a @ a, 20, 3)
    print(f"# blas: kind={kind} sgemm1024_GFLOP/s={2 * 1024 ** 3 / med * 1e-6:.1f} "
          f"threads={threads} libs={','.join(names) or '-'}", flush=True)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all", choices=["all"] + list(MODELS))
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blas", action="store_true", help="report the BLAS in use and stop")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.blas:
        blas_report(a.threads)
        return
    cap = [l.split(":")[1].strip() for l in torch.__config__.show().splitlines() if "capability" in l]
    print(f"# torch {torch.__version__} threads={torch.get_num_threads()} "
          f"mkldnn={torch.backends.mkldnn.is_available()} aten_cpu_capability={cap}", flush=True)
    for name in (MODELS if a.model == "all" else [a.model]):
        run_model(name, a.iters, a.warmup, jit=True)

if __name__ == "__main__":
    main()
