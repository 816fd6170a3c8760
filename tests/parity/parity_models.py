"""parity_models.py -- the PyTorch twins of the example models, for run_parity.py.

Each model is a plain torch.nn module whose state_dict keys are exactly the
modelc model's param names (and buffer names, for models that have buffers
such as batch norm's running_mean / running_var), built from the dims the
modelc model is compiled with (-D). Its forward takes the model's inputs as
keyword arguments (named as the model's inputs; i32 inputs arrive as int64
tensors) and returns (outputs, loss): a dict of the model's outputs by name,
and the scalar loss.

MODELS maps a name to a Spec: the .model file (relative to the source
tree), the module class, the dims (each becomes -D NAME=VALUE; the data has
as many samples as the batch dim, so one batch is the whole data) and a
function that draws the inputs as numpy arrays (float32 for f32 inputs,
int32 for i32 inputs) from the dims and a numpy Generator.

To add a model: write its module class, an input function, and one MODELS
entry.
"""
import math
from typing import Callable, Dict, NamedTuple, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Spec(NamedTuple):
    model: str                  # the .model file, relative to the source tree
    module: Callable            # module(dims) -> torch.nn.Module
    dims: Dict[str, int]        # -D NAME=VALUE for each; the batch dim is the data size
    inputs: Callable            # inputs(dims, rng) -> {input name: numpy array}
    freeze: Tuple[str, ...] = ()  # param name prefixes held fixed in the training checks


# ---- seed_net ----------------------------------------------------------------


class SeedNet(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.fc1 = nn.Linear(10, 20)
        self.fc2 = nn.Linear(20, 10)

    def forward(self, x, target):
        out = self.fc2(F.relu(self.fc1(x)))
        return {"out": out}, F.mse_loss(out, target)


def seed_net_inputs(dims, rng):
    n = dims["B"]
    return {"x": rng.standard_normal((n, 10), dtype=np.float32),
            "target": rng.standard_normal((n, 10), dtype=np.float32)}


# ---- mlp ---------------------------------------------------------------------


class Mlp(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)

    def forward(self, x, y):
        logits = self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
        return {"logits": logits}, F.cross_entropy(logits, y)


def mlp_inputs(dims, rng):
    n = dims["B"]
    return {"x": rng.random((n, 784), dtype=np.float32),
            "y": rng.integers(0, 10, size=n, dtype=np.int32)}


# ---- gpt (std/nn.model's blocks, nanoGPT style) --------------------------------


class CausalSelfAttention(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=-1)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1 / math.sqrt(C // self.H))
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.c_proj(y)


class GptMlp(nn.Module):
    def __init__(self, C, hidden):
        super().__init__()
        self.c_fc = nn.Linear(C, hidden)
        self.c_proj = nn.Linear(hidden, C)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class GptBlock(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = CausalSelfAttention(C, H)
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = GptMlp(C, 4 * C)

    def forward(self, x):
        h = x + self.attn(self.ln_1(x))
        return h + self.mlp(self.ln_2(h))


class Gpt(nn.Module):
    def __init__(self, dims):
        super().__init__()
        C, V, T = dims["C"], dims["V"], dims["T"]
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.layers = nn.ModuleList(GptBlock(C, dims["H"]) for _ in range(dims["L"]))
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for layer in self.layers:
            x = layer(x)
        logits = self.lm_head(self.ln_f(x))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return {"logits": logits}, loss


def gpt_inputs(dims, rng):
    shape = (dims["B"], dims["T"])
    return {"idx": rng.integers(0, dims["V"], size=shape, dtype=np.int32),
            "targets": rng.integers(0, dims["V"], size=shape, dtype=np.int32)}


# ---- lenet ---------------------------------------------------------------------


class LeNet(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x, y):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        logits = self.fc3(F.relu(self.fc2(F.relu(self.fc1(torch.flatten(h, 1))))))
        return {"logits": logits}, F.cross_entropy(logits, y)


def image_inputs(dims, rng):
    n = dims["B"]
    return {"x": rng.standard_normal((n, 1, 28, 28), dtype=np.float32),
            "y": rng.integers(0, 10, size=(n,), dtype=np.int32)}


# ---- resnet_mini -----------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride != 1:
            self.down_conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.down_bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = self.down_bn(self.down_conv(x)) if self.stride != 1 else x
        return F.relu(h + skip)


class ResNetMini(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.layer3 = BasicBlock(32, 64, stride=2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x, y):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))
        return {"logits": logits}, F.cross_entropy(logits, y)


# ---- bert_cls ------------------------------------------------------------------

from bert_torch import BertClassifier  # noqa: E402 (the twin lives beside this file)


class BertCls(BertClassifier):
    """bert_tiny: Hugging Face's BERT names, the two-layer head, no dropout
    (the model runs with -D DROPOUT=0)."""

    def __init__(self, dims):
        super().__init__(dims["V"], dims["C"], dims["L"], dims["H"], dims["I"], dims["P"],
                         dims["K"], dropout=dims["DROPOUT"] / 100)

    def forward(self, input_ids, token_type_ids, attention_mask, labels):
        logits, loss = super().forward(input_ids, token_type_ids, attention_mask, labels)
        return {"logits": logits}, loss


def bert_inputs(dims, rng):
    """Token ids with [PAD] (0) after each row's length, two segments, the mask."""
    n, t = dims["B"], dims["T"]
    lengths = rng.integers(3, t + 1, size=n)
    lengths[0] = t                                   # one row without padding
    pos = np.arange(t)[None, :]
    mask = (pos < lengths[:, None]).astype(np.int32)
    ids = rng.integers(1, dims["V"], size=(n, t), dtype=np.int32) * mask
    types = ((pos >= lengths[:, None] // 2) * mask).astype(np.int32)
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "labels": rng.integers(0, dims["K"], size=(n,), dtype=np.int32)}


# ---- the table -----------------------------------------------------------------

MODELS = {
    "seed_net": Spec("examples/seed_net.model", SeedNet, {"B": 8}, seed_net_inputs),
    "mlp": Spec("examples/mlp.model", Mlp, {"B": 8}, mlp_inputs),
    "lenet": Spec("examples/lenet.model", LeNet, {"B": 4}, image_inputs),
    "resnet_mini": Spec("examples/resnet_mini.model", ResNetMini, {"B": 4}, image_inputs),
    "gpt": Spec("examples/gpt.model", Gpt,
                {"B": 2, "T": 8, "V": 16, "C": 16, "H": 2, "L": 2}, gpt_inputs),
    "bert_cls": Spec("examples/bert_cls.model", BertCls,
                     {"B": 3, "T": 8, "V": 50, "C": 16, "L": 2, "H": 2, "I": 32, "P": 10,
                      "K": 3, "DROPOUT": 0}, bert_inputs, freeze=("bert.embeddings.",)),
}
