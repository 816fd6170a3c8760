#!/usr/bin/python3
"""bert_pretrain.py -- pretrains a small BERT (masked language model) on the
King James Bible and writes it as safetensors, with its WordPiece vocab.

  1. Text: `bible -f gen1:1-rev22:21` (Debian package bible-kjv) prints one
     verse a line, "Ge1:1 In the beginning ..."; the reference at the line
     start is dropped (or --text FILE: one verse a line, same format or
     plain).
  2. Vocab (OUTDIR/vocab.txt, one token a line, id = line number): a simple
     frequency-based WordPiece-style vocab, NOT Google's likelihood-based
     WordPiece algorithm. [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0..4); then
     every character seen in the basic-tokenized text, sorted, and then
     each with "##" in front; then, of the remaining room, 3/4 goes to the
     most frequent whole words (lower-cased, accents stripped, punctuation
     split off) and the rest to the most frequent "##" suffixes (2 or more
     characters) of the words left out, each suffix counted with the
     frequency of the words it ends; ties by token. --vocab-size sets the
     target (4000).
  3. Tokenizer: the BERT reference tokenizer tests/tokenizer/wordpiece_ref.py
     (imported by path: its basic_tokens, wordpiece and load_vocab); a
     minimal greedy longest-match-first tokenizer built in here stands in
     when that file is missing (the script says which one it uses).
  4. Data: each pair of consecutive verses (i, i+1) is one sequence
     [CLS] verse_i [SEP] verse_i+1 [SEP] (token types 0 then 1), cut
     longest-first to --seq-len (64) tokens; a batch is padded to its
     longest sequence.
  5. Training: tests/parity/bert_torch.py's BertForMLM, masked LM with
     BERT's masking (15% of the non-special tokens are predicted; of those
     80% become [MASK], 10% a random token, 10% stay), AdamW (weight decay
     0.01 except biases and LayerNorm, eps 1e-6), linear warmup then linear
     decay, gradient clipping 1.0, seeded, torch.set_num_threads(--threads).
     Prints the mean loss every --log-every steps and the time.
  6. Output: OUTDIR/bert.safetensors (every bert.* and cls.* tensor in
     float32; the MLM decoder is tied to the word embeddings so there is no
     decoder tensor; the pooler is saved as initialized, MLM does not train
     it), OUTDIR/vocab.txt, OUTDIR/config.json {"V", "C", "L", "H", "I",
     "P"}. The safetensors file is written here with struct+json+numpy
     (8-byte little-endian header length, JSON header of dtype "F32",
     shape and data_offsets per tensor plus string "__metadata__", padded
     with spaces to 8 bytes, then the raw little-endian data) and read back
     to check it.

Usage:
  tools/bert_pretrain.py OUTDIR [--steps N] [--hidden C] [--layers L]
                         [--heads H] [--seed S] [--vocab-size V] ...
The defaults (C=128, L=2, H=2, I=512, P=64, V=4000, batch 32, 200 steps)
train on two CPU cores in about 5 minutes: Debian 12's python3-torch does
its matrix products with the reference BLAS (libblas3): about 1.5 s a step
on two shared cores, 2.5 s when other jobs compete for them; with an optimized BLAS (e.g.
libopenblas0 selected as libblas.so.3) steps are several times faster and
--steps can grow to match. --steps 50 is a quick check.
"""
import argparse
import collections
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import types
import unicodedata

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)
VERSE_REF = re.compile(r"^\s*[1-3]?[A-Za-z]+\d+:\d+\s+")


def import_path(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- tokenizer ----------------------------------------------------------------


def fallback_tokenizer():
    """A minimal BERT tokenizer: lower-case, strip accents, split on
    whitespace and punctuation, greedy longest-match-first WordPiece."""

    def is_punct(ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    def basic_tokens(text, lower_case=True):
        out = []
        for word in text.split():
            if lower_case:
                word = "".join(c for c in unicodedata.normalize("NFD", word.lower())
                               if unicodedata.category(c) != "Mn")
            cur = ""
            for ch in word:
                if is_punct(ch):
                    if cur:
                        out.append(cur)
                    out.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                out.append(cur)
        return out

    def wordpiece(token, vocab):
        if len(token) > 100:
            return [vocab["[UNK]"]]
        ids, start = [], 0
        while start < len(token):
            for end in range(len(token), start, -1):
                piece = token[start:end] if start == 0 else "##" + token[start:end]
                if piece in vocab:
                    ids.append(vocab[piece])
                    start = end
                    break
            else:
                return [vocab["[UNK]"]]
        return ids

    def load_vocab(path):
        with open(path, encoding="utf-8") as f:
            return {line.rstrip("\n"): i for i, line in enumerate(f)}

    return types.SimpleNamespace(basic_tokens=basic_tokens, wordpiece=wordpiece,
                                 load_vocab=load_vocab)


def get_tokenizer():
    """(module with basic_tokens, wordpiece, load_vocab; description)."""
    path = os.path.join(ROOT, "tests", "tokenizer", "wordpiece_ref.py")
    if os.path.isfile(path):
        try:
            mod = import_path("wordpiece_ref", path)
            if all(hasattr(mod, f) for f in ("basic_tokens", "wordpiece", "load_vocab")):
                return mod, f"reference tokenizer {os.path.relpath(path, ROOT)}"
            why = "it lacks basic_tokens/wordpiece/load_vocab"
        except Exception as e:                         # noqa: BLE001 - any import failure
            why = f"it does not import ({type(e).__name__}: {e})"
    else:
        why = "it does not exist"
    return fallback_tokenizer(), f"built-in greedy tokenizer (tests/tokenizer/wordpiece_ref.py: {why})"


# ---- text and vocab -----------------------------------------------------------


def read_verses(text_file):
    if text_file:
        if not os.path.isfile(text_file):
            sys.exit(f"bert_pretrain: {text_file} not found")
        with open(text_file, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    else:
        if shutil.which("bible") is None:
            sys.exit("bert_pretrain: the `bible` command is missing: install the King James "
                     "Bible (apt-get install bible-kjv, or tools/deps.sh), or pass --text FILE")
        r = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.exit(f"bert_pretrain: `bible -f gen1:1-rev22:21` failed: "
                     f"{r.stderr.decode(errors='replace').strip()}")
        lines = r.stdout.decode("utf-8", errors="replace").split("\n")
    verses = [VERSE_REF.sub("", line).strip() for line in lines]
    verses = [v for v in verses if v]
    if len(verses) < 2:
        sys.exit("bert_pretrain: no text (fewer than two verses)")
    return verses


def build_vocab(words, size):
    """The frequency-based vocab of the docstring, from the basic tokens."""
    counts = collections.Counter(words)
    chars = sorted({ch for w in counts for ch in w})
    vocab = SPECIALS + chars + ["##" + ch for ch in chars]
    room = size - len(vocab)
    if room <= 0:
        return vocab
    have = set(vocab)
    ranked = sorted((w for w in counts if w not in have), key=lambda w: (-counts[w], w))
    n_words = min(len(ranked), room - room // 4)
    whole = ranked[:n_words]
    vocab += whole
    have.update(whole)
    suffix = collections.Counter()
    for w in ranked[n_words:]:
        for i in range(1, len(w) - 1):
            suffix["##" + w[i:]] += counts[w]
    pieces = sorted((p for p in suffix if p not in have), key=lambda p: (-suffix[p], p))
    vocab += pieces[:size - len(vocab)]
    if len(vocab) < size:           # a small text: more whole words where suffixes ran out
        vocab += ranked[n_words:n_words + size - len(vocab)]
    return vocab


def encode_pairs(verse_ids, seq_len):
    """[N, seq_len] ids and token types and lengths of the verse pairs."""
    n = len(verse_ids) - 1
    ids = np.full((n, seq_len), PAD, dtype=np.int64)
    types_ = np.zeros((n, seq_len), dtype=np.int64)
    lens = np.zeros(n, dtype=np.int64)
    for i in range(n):
        a, b = list(verse_ids[i]), list(verse_ids[i + 1])
        while len(a) + len(b) > seq_len - 3:            # longest first, from the end
            if len(a) >= len(b):
                a.pop()
            else:
                b.pop()
        row = [CLS] + a + [SEP] + b + [SEP]
        ids[i, :len(row)] = row
        types_[i, len(a) + 2:len(row)] = 1
        lens[i] = len(row)
    return ids, types_, lens


# ---- safetensors --------------------------------------------------------------


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: float32 numpy array}, written in this order."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """({name: numpy array}, metadata) of an F32 safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", name
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + lo:base + hi], dtype="<f4").reshape(info["shape"])
    return out, meta


# ---- training -----------------------------------------------------------------


def mask_batch(ids, lens, vocab_size, gen, torch):
    """BERT masking: (inputs, labels) with labels -100 where not predicted."""
    b, t = ids.shape
    pos = torch.arange(t)[None, :]
    real = (pos < lens[:, None]) & (ids != CLS) & (ids != SEP)
    chosen = (torch.rand(b, t, generator=gen) < 0.15) & real
    if not chosen.any():                                # keep the loss defined
        chosen[0, 1] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = torch.rand(b, t, generator=gen)
    inputs = ids.clone()
    inputs[chosen & (r < 0.8)] = MASK
    rnd = chosen & (r >= 0.8) & (r < 0.9)
    inputs[rnd] = torch.randint(len(SPECIALS), vocab_size, (int(rnd.sum()),), generator=gen)
    return inputs, labels


def main():
    ap = argparse.ArgumentParser(
        description="Pretrain a small BERT masked LM on the King James Bible; write "
                    "OUTDIR/bert.safetensors, vocab.txt, config.json.")
    ap.add_argument("outdir")
    ap.add_argument("--steps", type=int, default=200, help="training steps (200)")
    ap.add_argument("--hidden", type=int, default=128, help="C (128)")
    ap.add_argument("--layers", type=int, default=2, help="L (2)")
    ap.add_argument("--heads", type=int, default=2, help="H (2)")
    ap.add_argument("--inter", type=int, default=0, help="I (0: 4*C)")
    ap.add_argument("--max-pos", type=int, default=64, help="P, position embeddings (64)")
    ap.add_argument("--seq-len", type=int, default=64, help="tokens per sequence, <= P (64)")
    ap.add_argument("--vocab-size", type=int, default=4000, help="target vocab size (4000)")
    ap.add_argument("--batch", type=int, default=32, help="sequences per step (32)")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (1e-3)")
    ap.add_argument("--warmup", type=int, default=-1,
                    help="warmup steps (-1: 10%% of --steps, at most 100)")
    ap.add_argument("--dropout", type=float, default=0.1, help="dropout (0.1)")
    ap.add_argument("--seed", type=int, default=0, help="seed (0)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    ap.add_argument("--log-every", type=int, default=10, help="print every N steps (10)")
    ap.add_argument("--text", help="read the verses from this file instead of `bible`")
    a = ap.parse_args()
    inter = a.inter or 4 * a.hidden
    if a.seq_len > a.max_pos or a.seq_len < 8:
        sys.exit("bert_pretrain: need 8 <= --seq-len <= --max-pos")
    if a.hidden % a.heads:
        sys.exit("bert_pretrain: --hidden must be a multiple of --heads")
    if a.steps < 1 or a.batch < 1:
        sys.exit("bert_pretrain: need --steps >= 1 and --batch >= 1")

    import torch                                        # after the argument checks
    bt_path = os.path.join(ROOT, "tests", "parity", "bert_torch.py")
    if not os.path.isfile(bt_path):
        sys.exit(f"bert_pretrain: {bt_path} not found")
    bert_torch = import_path("bert_torch", bt_path)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.time()

    tok, tok_desc = get_tokenizer()
    print(f"tokenizer: {tok_desc}")
    verses = read_verses(a.text)
    basic = [tok.basic_tokens(v, True) for v in verses]
    vocab_list = build_vocab([w for ws in basic for w in ws], a.vocab_size)
    os.makedirs(a.outdir, exist_ok=True)
    vocab_path = os.path.join(a.outdir, "vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab_list))
    vocab = tok.load_vocab(vocab_path)
    assert len(vocab) == len(vocab_list) and [vocab[s] for s in SPECIALS] == list(range(5))
    v_size = len(vocab)

    memo = {}
    verse_ids = []
    for ws in basic:
        row = []
        for w in ws:
            if w not in memo:
                memo[w] = tok.wordpiece(w, vocab)
            row += memo[w]
        verse_ids.append(row)
    n_tok = sum(len(r) for r in verse_ids)
    n_unk = sum(r.count(UNK) for r in verse_ids)
    ids_np, types_np, lens_np = encode_pairs(verse_ids, a.seq_len)
    n_words = sum(len(ws) for ws in basic)
    print(f"text: {len(verses)} verses, {n_words} words -> {n_tok} pieces "
          f"({n_tok / n_words:.3f} per word, {n_unk} [UNK]); vocab {v_size}; "
          f"{len(ids_np)} sequences of <= {a.seq_len} tokens, mean {lens_np.mean():.1f}; "
          f"{time.time() - t0:.1f} s")

    model = bert_torch.BertForMLM(v_size, a.hidden, a.layers, a.heads, inter, a.max_pos,
                                  a.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-6)
    warmup = a.warmup if a.warmup >= 0 else min(100, a.steps // 10)

    def lr_at(step):                                    # step 0-based
        if step < warmup:
            return a.lr * (step + 1) / warmup
        return a.lr * max(0.0, (a.steps - step) / max(1, a.steps - warmup))

    ids_all = torch.from_numpy(ids_np)
    types_all = torch.from_numpy(types_np)
    lens_all = torch.from_numpy(lens_np)
    gen = torch.Generator().manual_seed(a.seed)
    print(f"model: C={a.hidden} L={a.layers} H={a.heads} I={inter} P={a.max_pos} V={v_size}, "
          f"{n_params} parameters; {a.steps} steps of batch {a.batch}, lr {a.lr}, "
          f"warmup {warmup}, {a.threads} threads")

    model.train()
    order = torch.randperm(len(ids_all), generator=gen)
    cursor, window, t_train = 0, [], time.time()
    loss_v = float("nan")
    for step in range(a.steps):
        if cursor + a.batch > len(order):
            order, cursor = torch.randperm(len(ids_all), generator=gen), 0
        idx = order[cursor:cursor + a.batch]
        cursor += a.batch
        lens = lens_all[idx]
        t = int(lens.max())
        ids = ids_all[idx, :t]
        inputs, labels = mask_batch(ids, lens, v_size, gen, torch)
        attn = (torch.arange(t)[None, :] < lens[:, None]).long()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        _, loss = model(inputs, types_all[idx, :t], attn, labels, masked_only=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_v = float(loss)
        window.append(loss_v)
        if (step + 1) % a.log_every == 0 or step == 0 or step + 1 == a.steps:
            el = time.time() - t_train
            print(f"step {step + 1:5d}  loss {sum(window) / len(window):.4f}  "
                  f"lr {lr_at(step):.2e}  {el:7.1f} s  {el / (step + 1):.3f} s/step", flush=True)
            window = []
    train_s = time.time() - t_train

    tensors = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "model": "BertForMLM (tests/parity/bert_torch.py)",
            "tokenizer": tok_desc, "steps": a.steps, "seed": a.seed,
            "final_loss": f"{loss_v:.6f}", "text": "King James Bible (bible-kjv)"}
    st_path = os.path.join(a.outdir, "bert.safetensors")
    write_safetensors(st_path, tensors, meta)
    back, _ = read_safetensors(st_path)
    assert list(back) == list(tensors) and all(np.array_equal(back[k], tensors[k]) for k in back)
    config = {"V": v_size, "C": a.hidden, "L": a.layers, "H": a.heads, "I": inter,
              "P": a.max_pos}
    with open(os.path.join(a.outdir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    print(f"wrote {st_path} ({len(tensors)} tensors, {os.path.getsize(st_path)} bytes), "
          f"{vocab_path}, config.json; training {train_s:.1f} s "
          f"({train_s / a.steps:.3f} s/step), total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
