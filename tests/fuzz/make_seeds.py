#!/usr/bin/python3
"""make_seeds.py -- writes the seed corpora of the fuzz targets into
tests/fuzz/corpus/<target>/ (the files are kept in git; rerun this after
changing a format or adding examples, then review the diff):

  fuzz_model        examples/*.model, std/nn.model, the model blocks of
                    docs/language.md and the model sources of
                    tests/unit/test_diagnostics.c and test_frontend.c
  fuzz_ir           tests/lit/*.mir, the mir blocks of docs/ir.md and
                    `modelc dump` of mlp, seed_net and lenet (forward, grad, step)
  fuzz_npy          np.save of every supported descr, format 1.0-3.0, gzip
  fuzz_idx          every IDX element type, ranks 0-3, gzip
  fuzz_csv          option byte + CSV text (headers, blanks, CRLF, gzip)
  fuzz_text         option byte + TSV lines, raw UTF-8, vocab.txt, gzip
  fuzz_safetensors  checkpoints of every dtype, with and without metadata
  fuzz_aot_load     checkpoints for fuzz_aot_load.c's two model images

Deterministic: the same tree gives the same bytes (gzip mtime 0). Needs
/usr/bin/python3 with numpy; build/modelc for the IR dumps (skipped, with a
note, when it is missing). Every seed stays under 64 KB.

Usage: tests/fuzz/make_seeds.py [--modelc build/modelc]
"""
import argparse
import ast
import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MAX_SEED = 64 * 1024


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        print(f"make_seeds: skipping {target}/{name}: {len(data)} bytes", file=sys.stderr)
        return
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    if isinstance(data, str):
        data = data.encode()
    return gzip.compress(data, mtime=0)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


# ---- sources from the tree ---------------------------------------------------------

def fenced_blocks(path, kinds):
    """(kind, text) of each ```kind block of a markdown file."""
    out, kind, lines = [], None, []
    for line in read(path).decode().splitlines():
        if kind is None:
            m = re.match(r"^```([\w-]+)\s*$", line)
            if m and m.group(1) in kinds:
                kind, lines = m.group(1), []
        elif re.match(r"^```\s*$", line):
            out.append((kind, "\n".join(lines) + "\n"))
            kind = None
        else:
            lines.append(line)
    return out


def c_string_groups(path):
    """The values of runs of adjacent C string literals in a C file."""
    text = read(path).decode()
    lit = r'"(?:[^"\\\n]|\\.)*"'
    groups = []
    for m in re.finditer(r"(?:%s\s*)+" % lit, text):
        parts = re.findall(lit, m.group(0))
        try:
            groups.append("".join(ast.literal_eval(p) for p in parts))
        except (ValueError, SyntaxError):
            pass
    return groups


def model_seeds():
    t = "fuzz_model"
    for name in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if name.endswith(".model"):
            write(t, "example_" + name, read(os.path.join("examples", name)))
    write(t, "std_nn.model", read("std/nn.model"))
    for i, (kind, text) in enumerate(fenced_blocks("docs/language.md", {"model", "model-error"})):
        write(t, f"doc_{i:02d}.{kind}", text)
    seen = set()
    for src in ("tests/unit/test_diagnostics.c", "tests/unit/test_frontend.c"):
        base = os.path.splitext(os.path.basename(src))[0]
        n = 0
        for g in c_string_groups(src):
            head = g.lstrip()
            if not head.startswith(("model ", "block ", "import ")) or "{" not in g or g in seen:
                continue
            seen.add(g)
            write(t, f"{base}_{n:03d}.model", g)
            n += 1


def ir_seeds(modelc):
    t = "fuzz_ir"
    lit = os.path.join(ROOT, "tests", "lit")
    for name in sorted(os.listdir(lit)):
        if name.endswith(".mir"):
            write(t, "lit_" + name, read(os.path.join("tests", "lit", name)))
    for i, (_, text) in enumerate(fenced_blocks("docs/ir.md", {"mir"})):
        write(t, f"doc_{i:02d}.mir", text)
    if not modelc or not os.access(modelc, os.X_OK):
        print("make_seeds: no modelc binary: IR dumps of the examples skipped", file=sys.stderr)
        return
    runs = [("forward", []), ("raw", ["--passes", ""]), ("grad", ["--stage", "grad"]),
            ("step", ["--stage", "step"])]
    for ex in ("mlp", "seed_net", "lenet"):   # the larger dumps slow every run down
        for stage, args in runs:
            r = subprocess.run([modelc, "dump", os.path.join(ROOT, "examples", ex + ".model"),
                                "-D", "B=2"] + args, capture_output=True, cwd=ROOT)
            if r.returncode == 0:
                write(t, f"dump_{ex}_{stage}.mir", r.stdout)


# ---- data files ------------------------------------------------------------------------

def npy_bytes(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a, allow_pickle=False)
    else:
        np.lib.format.write_array(b, a, version=version, allow_pickle=False)
    return b.getvalue()


def npy_seeds():
    t = "fuzz_npy"
    rng = np.random.default_rng(0)
    arrays = {
        "f4_2x3": rng.standard_normal((2, 3)).astype("<f4"),
        "f8_4": rng.standard_normal(4).astype("<f8"),
        "i4_2x2x2": np.arange(8, dtype="<i4").reshape(2, 2, 2),
        "i8_3": np.array([-1, 0, 9], dtype="<i8"),
        "u1_2x28x28": rng.integers(0, 256, (2, 28, 28)).astype("|u1"),
        "b1_5": np.array([True, False, True, True, False]),
        "f4_scalar": np.array(3.5, dtype="<f4"),
        "f4_0x3": np.zeros((0, 3), dtype="<f4"),
        "i8_labels": np.arange(10, dtype="<i8"),
    }
    for name, a in arrays.items():
        write(t, name + ".npy", npy_bytes(a))
    write(t, "f4_v2.npy", npy_bytes(arrays["f4_2x3"], (2, 0)))
    write(t, "i4_v3.npy", npy_bytes(arrays["i4_2x2x2"], (3, 0)))
    write(t, "f8_fortran.npy", npy_bytes(np.asfortranarray(rng.standard_normal((2, 3)))))
    write(t, "f4_bigendian.npy", npy_bytes(arrays["f4_2x3"].astype(">f4")))
    write(t, "f4_2x3.npy.gz", gz(npy_bytes(arrays["f4_2x3"])))
    write(t, "u1_2x28x28.npy.gz", gz(npy_bytes(arrays["u1_2x28x28"])))


IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(code, a):
    a = np.asarray(a, dtype=IDX_TYPES[code])
    head = bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return head + a.tobytes()


def idx_seeds():
    t = "fuzz_idx"
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 8, 8))
    write(t, "u8_3x8x8.idx", idx_bytes(0x08, images))
    write(t, "u8_labels.idx", idx_bytes(0x08, [3, 1, 4, 1, 5, 9, 2, 6]))
    write(t, "i8_5.idx", idx_bytes(0x09, [-128, -1, 0, 1, 127]))
    write(t, "i16_2x3.idx", idx_bytes(0x0B, [[-300, 0, 300], [1, 2, 3]]))
    write(t, "i32_4.idx", idx_bytes(0x0C, [-(2 ** 31), -1, 7, 2 ** 31 - 1]))
    write(t, "f32_2x2.idx", idx_bytes(0x0D, [[0.5, -1.5], [np.inf, 2.0]]))
    write(t, "f64_3.idx", idx_bytes(0x0E, [1e300, -0.0, 3.25]))
    write(t, "u8_scalar.idx", idx_bytes(0x08, np.array(7)))
    write(t, "u8_0x4.idx", idx_bytes(0x08, np.zeros((0, 4))))
    write(t, "u8_3x8x8.idx.gz", gz(idx_bytes(0x08, images)))
    write(t, "u8_labels.idx.gz", gz(idx_bytes(0x08, [3, 1, 4, 1, 5, 9, 2, 6])))
    write(t, "f32_2x2.idx.gz", gz(idx_bytes(0x0D, [[0.5, -1.5], [1.0, 2.0]])))


def csv_seeds():
    # The first byte is fuzz_csv.c's option byte: bits 0-1 header (0 auto,
    # 1 yes, 2 no), bit 2 integer, bits 3-5 the column selection
    # (NULL, "", "0", "1:", ":-1", "2:5", "-1", "1").
    t = "fuzz_csv"
    def opt(header=0, integer=False, cols=0):
        return bytes([header | (4 if integer else 0) | cols << 3])
    table = "a,b,c,label\n1.5,2,3e-2,0\n-4,5.25,6,1\n\n7,8,9,2\n"
    write(t, "header_auto.csv", opt() + table.encode())
    write(t, "header_yes_cols_last.csv", opt(1, cols=6) + table.encode())
    write(t, "noheader_int.csv", opt(2, True) + b"1,2,3\n4,5,6\n7,8,9\n")
    write(t, "cols_range.csv", opt(0, cols=5) + b"0,1,2,3,4,5\n6,7,8,9,10,11\n")
    write(t, "cols_head.csv", opt(0, cols=4) + b"x0,x1,y\n0.1,0.2,1\n0.3,0.4,0\n")
    write(t, "cols_tail_int.csv", opt(0, True, cols=3) + b"9,1,2\n8,3,4\n")
    write(t, "one_col.csv", opt(0, cols=2) + b"label\n0\n1\n2\n")
    write(t, "crlf.csv", opt(0) + b"1,2\r\n3,4\r\n")
    write(t, "special.csv", opt(2) + b"inf,-inf,nan\n1e308,-1e-308,0x1p3\n+1,-.5,5.\n")
    write(t, "ragged.csv", opt(0) + b"1,2,3\n4,5\n")
    write(t, "empty_fields.csv", opt(0) + b"1,,3\n,,\n")
    write(t, "gzip.csv", opt(0) + gz(table))
    write(t, "gzip_int_cols.csv", opt(2, True, cols=7) + gz(b"1,2,3\n4,5,6\n"))


def text_seeds():
    # The first byte is fuzz_text.c's option byte: bit 0 lower-casing, bits
    # 1-3 max_len (2, 3, 4, 8, 16, 32, 64, 128), bits 4-7 classes - 1.
    t = "fuzz_text"
    def opt(lower=True, max_len_i=4, classes=4):
        return bytes([(1 if lower else 0) | max_len_i << 1 | (classes - 1) << 4])
    tsv = ("0\tHello, world!\n1\tThe quick brown fox jumps over the lazy dog.\n"
           "2\tCaf\u00e9 na\u00efve \u00c9cole \u4e2d\u6587 tokens\u2019s\r\n\n"
           "3\tunaffable running ##ing [UNK] [CLS]\n")
    write(t, "tsv_lower.txt", opt() + tsv.encode())
    write(t, "tsv_cased_short.txt", opt(False, 0, 4) + tsv.encode())
    write(t, "tsv_long.txt", opt(True, 7, 16) + tsv.encode())
    write(t, "tsv_bad_label.txt", opt() + b"x\tno label\n12\tout of range\nnotab\n")
    write(t, "tsv_gzip.txt", opt(True, 5, 4) + gz(tsv))
    write(t, "raw_utf8.txt", opt(True, 6, 2) + "\u00c0 la carte \u2014 \ud55c\uad6d\uc5b4 "
          "\U0001F600 \x01\x7f \xe9t\xe9\n".encode("utf-8", "surrogatepass") + b"\xff\xc0\x80")
    # Small seeds keep libFuzzer's length limit (the largest seed) and each
    # run short: a cut of the vocabulary with its specials, pieces and words.
    vocab = read("tests/tokenizer/vocab.txt").decode().splitlines()
    cut = vocab[:90] + [w for w in vocab[90:] if len(w) > 3][::8]
    write(t, "vocab_cut.txt", opt() + ("\n".join(cut) + "\n").encode())
    write(t, "vocab_small.txt", opt() + b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\nworld\n,\n")
    write(t, "vocab_dup.txt", opt() + b"[PAD]\n[UNK]\n[CLS]\n[SEP]\na\na\n")
    corpus = read("tests/tokenizer/corpus.txt")
    write(t, "corpus_head.txt", opt(True, 7, 16) + corpus[:corpus.rfind(b"\n", 0, 1500) + 1])


# ---- checkpoints ---------------------------------------------------------------------------

ST_DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "|u1"}


def safetensors(tensors, meta=None):
    """tensors: name -> (dtype, numpy array). Laid out as the Python library
    does: alignment descending, then name; the header padded with spaces."""
    order = sorted(tensors, key=lambda n: (-np.dtype(ST_DTYPES[tensors[n][0]]).itemsize, n))
    header, blobs, at = {}, [], 0
    for n in order:
        dt, a = tensors[n]
        b = np.ascontiguousarray(a, dtype=ST_DTYPES[dt]).tobytes()
        header[n] = {"dtype": dt, "shape": list(np.shape(a)), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    if meta is not None:
        header = {"__metadata__": meta, **header}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def safetensors_seeds():
    t = "fuzz_safetensors"
    rng = np.random.default_rng(2)
    every = {
        "fc.weight": ("F32", rng.standard_normal((4, 3))),
        "fc.bias": ("F32", np.zeros(4)),
        "scale": ("F64", np.array([0.5, 2.0])),
        "ids": ("I32", np.arange(6).reshape(2, 3)),
        "steps": ("I64", np.array([7])),
        "mask": ("U8", np.array([1, 0, 1])),
        "scalar": ("F32", np.array(1.25)),
        "empty": ("F32", np.zeros((0, 5))),
    }
    write(t, "every_dtype.safetensors", safetensors(every, {"format": "modelc", "step": "3"}))
    write(t, "no_meta.safetensors", safetensors({"w": ("F32", np.ones(3))}))
    h = b'{"__metadata__":null,"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    write(t, "null_meta.safetensors", struct.pack("<Q", len(h)) + h + b"\0\0\x80?")
    write(t, "empty.safetensors", safetensors({}, {}))
    h = (b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":[1,{"a":"\\u00e9"}]},'
         b'"__metadata__":{"k\\"ey":"v\\\\al\\n"}}')
    write(t, "escapes.safetensors", struct.pack("<Q", len(h)) + h + bytes(8))
    h = b'{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}'
    write(t, "bf16.safetensors", struct.pack("<Q", len(h)) + h + bytes(4))


def aot_seeds():
    # The params of fuzz_aot_load.c's images (keep in step with it).
    t = "fuzz_aot_load"
    params = {
        "w": ("F32", np.array([0.1, -0.2, 0.3])),
        "b": ("F32", np.array(0.5)),
        "emb": ("I32", np.array([[1, 2], [3, 4]])),
        "mask": ("U8", np.array([1, 0, 1, 1])),
        "scale": ("F64", np.array([0.25])),
        "big": ("I64", np.array([[[5], [6]]])),
    }
    state = {"w.exp_avg": ("F32", np.array([0.01, 0.02, 0.03]))}
    meta = {"format": "modelc", "format_version": "1", "model": "fuzz", "step": "12"}
    write(t, "inference.safetensors", safetensors(params, meta))
    write(t, "training.safetensors", safetensors({**params, **state}, {**meta, "optimizer": "adam"}))
    write(t, "no_step.safetensors", safetensors(params))
    write(t, "bad_step.safetensors", safetensors(params, {**meta, "step": "-3"}))
    wrong = dict(params, emb=("F32", np.zeros((2, 2))))
    write(t, "wrong_dtype.safetensors", safetensors(wrong, meta))
    missing = {k: v for k, v in params.items() if k != "mask"}
    write(t, "missing.safetensors", safetensors(missing, meta))
    write(t, "extra.safetensors", safetensors({**params, "other": ("F32", np.ones(2))}, meta))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modelc", default=os.path.join(ROOT, "build", "modelc"))
    args = ap.parse_args()
    model_seeds()
    ir_seeds(args.modelc)
    npy_seeds()
    idx_seeds()
    csv_seeds()
    text_seeds()
    safetensors_seeds()
    aot_seeds()
    total = 0
    for d, _, files in os.walk(CORPUS):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    print(f"make_seeds: {total} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
