#!/usr/bin/python3
"""tfidf_baseline.py -- a TF-IDF + logistic regression baseline for TSV text
classification (e.g. what tools/wordnet_tsv.py writes), in numpy only.

Reads DIR/train.tsv and DIR/test.tsv ("label<TAB>text" lines, labels
0..K-1), builds lower-cased word-unigram features (tokens: runs of letters
and digits; vocabulary: the train words seen in at least --min-df
documents), weighs them as sklearn's TfidfVectorizer does by default (raw
count x smooth idf = ln((1+n)/(1+df)) + 1, each row L2-normalized), and
trains a multinomial logistic regression (softmax, bias, L2 penalty
--l2/2 * |W|^2) by full-batch Adam. The feature matrix stays sparse
(row/column/value triples, products by np.bincount). Prints the train and
test accuracy.

Usage:
  tools/tfidf_baseline.py DIR [--epochs 300] [--lr 0.1] [--l2 1e-5] [--min-df 1]
"""
import argparse
import math
import os
import re
import sys
import time

import numpy as np

TOKEN = re.compile(r"[a-z0-9]+")


def read_tsv(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            label, sep, text = line.partition("\t")
            if not sep or not label.strip().isdigit():
                raise ValueError(f"{path}:{lineno}: expected 'label<TAB>text'")
            labels.append(int(label))
            texts.append(text)
    return np.array(labels, dtype=np.int64), texts


class Sparse:
    """A row-major sparse matrix as (row, col, val) triples."""

    def __init__(self, rows, cols, vals, shape):
        self.rows, self.cols, self.vals, self.shape = rows, cols, vals, shape

    def matmul(self, w):                 # X @ w, w [F, K]
        contrib = w[self.cols] * self.vals[:, None]
        return np.stack([np.bincount(self.rows, contrib[:, k], minlength=self.shape[0])
                         for k in range(w.shape[1])], axis=1)

    def tmatmul(self, g):                # X^T @ g, g [N, K]
        contrib = g[self.rows] * self.vals[:, None]
        return np.stack([np.bincount(self.cols, contrib[:, k], minlength=self.shape[1])
                         for k in range(g.shape[1])], axis=1)


def tfidf(texts, vocab, idf):
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        counts = {}
        for tok in TOKEN.findall(text.lower()):
            j = vocab.get(tok)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            continue
        js = np.fromiter(counts.keys(), dtype=np.int64)
        v = np.fromiter(counts.values(), dtype=np.float64) * idf[js]
        v /= np.linalg.norm(v)
        rows.append(np.full(len(js), i, dtype=np.int64))
        cols.append(js)
        vals.append(v)
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
    return Sparse(cat(rows, np.int64), cat(cols, np.int64), cat(vals, np.float64),
                  (len(texts), len(vocab)))


def fit_vocab(texts, min_df):
    df = {}
    for text in texts:
        for tok in set(TOKEN.findall(text.lower())):
            df[tok] = df.get(tok, 0) + 1
    words = sorted(w for w, c in df.items() if c >= min_df)
    vocab = {w: j for j, w in enumerate(words)}
    n = len(texts)
    idf = np.array([math.log((1 + n) / (1 + df[w])) + 1.0 for w in words])
    return vocab, idf


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description="TF-IDF + logistic regression baseline (numpy).")
    ap.add_argument("dir", help="directory holding train.tsv and test.tsv")
    ap.add_argument("--epochs", type=int, default=300, help="full-batch Adam steps (300)")
    ap.add_argument("--lr", type=float, default=0.1, help="Adam learning rate (0.1)")
    ap.add_argument("--l2", type=float, default=1e-5,
                    help="L2 penalty on the weights, per sample: loss += l2/2 |W|^2 (1e-5)")
    ap.add_argument("--min-df", type=int, default=1, help="min train documents per word (1)")
    ap.add_argument("--quiet", action="store_true", help="print only the accuracies")
    a = ap.parse_args()

    paths = [os.path.join(a.dir, f) for f in ("train.tsv", "test.tsv")]
    for p in paths:
        if not os.path.isfile(p):
            sys.exit(f"tfidf_baseline: {p} not found (make it with tools/wordnet_tsv.py DIR)")
    try:
        (y_tr, t_tr), (y_te, t_te) = read_tsv(paths[0]), read_tsv(paths[1])
    except (OSError, ValueError) as e:
        sys.exit(f"tfidf_baseline: {e}")
    if len(y_tr) == 0 or len(y_te) == 0:
        sys.exit("tfidf_baseline: empty train or test set")
    k = int(max(y_tr.max(), y_te.max())) + 1
    t0 = time.time()
    vocab, idf = fit_vocab(t_tr, a.min_df)
    x_tr, x_te = tfidf(t_tr, vocab, idf), tfidf(t_te, vocab, idf)
    n, nf = len(y_tr), len(vocab)
    if not a.quiet:
        print(f"{n} train, {len(y_te)} test, {k} classes, {nf} features, "
              f"{len(x_tr.vals)} train nonzeros")

    w = np.zeros((nf, k))
    b = np.zeros(k)
    onehot = np.eye(k)[y_tr]
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, a.epochs + 1):
        p = softmax(x_tr.matmul(w) + b)
        loss = (-np.log(p[np.arange(n), y_tr] + 1e-300).mean()
                + 0.5 * a.l2 * float((w * w).sum()))
        g = (p - onehot) / n
        grads = [x_tr.tmatmul(g) + a.l2 * w, g.sum(axis=0)]
        for i, (param, grad) in enumerate(zip((w, b), grads)):
            m[i] = b1 * m[i] + (1 - b1) * grad
            v[i] = b2 * v[i] + (1 - b2) * grad * grad
            mhat = m[i] / (1 - b1 ** step)
            vhat = v[i] / (1 - b2 ** step)
            param -= a.lr * mhat / (np.sqrt(vhat) + eps)
        if not a.quiet and (step % 50 == 0 or step == 1):
            print(f"step {step:4d} loss {loss:.4f}")

    acc_tr = float(((x_tr.matmul(w) + b).argmax(1) == y_tr).mean())
    acc_te = float(((x_te.matmul(w) + b).argmax(1) == y_te).mean())
    print(f"train accuracy {acc_tr:.4f}")
    print(f"test accuracy {acc_te:.4f}")
    if not a.quiet:
        print(f"({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
