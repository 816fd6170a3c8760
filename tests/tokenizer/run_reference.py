#!/usr/bin/python3
"""run_reference.py -- the runtime's WordPiece tokenizer (through
tokenize_driver) against wordpiece_ref.py, line by line, on

  corpus.txt   hand-written lines: punctuation, accents, mixed case, CJK,
               Hangul, kana, fullwidth forms, long words, numbers, controls
               and separators, blank and nearly blank lines
  fuzz lines   2000 seeded random lines drawn from the same kinds of
               characters plus NUL and invalid UTF-8 bytes

in four modes: ids lower-cased, ids cased, and BERT rows (max_len 12,
lower-cased; max_len 40, cased). Exits 1 at the first line that differs
(printed with both outputs), 77 when the driver is missing.

The C tokenizer knows the Unicode properties of a fixed set of blocks (see
runtime/rt_wordpiece.c); both inputs stay inside them: no capital sigma
(Python picks the final form by context), no CJK compatibility
ideographs, no unassigned code points, no combining marks outside the
combining-mark blocks, no cased scripts other than Latin, Greek, Cyrillic
and fullwidth Latin.

Usage: run_reference.py --driver PATH/tokenize_driver
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True   # leave no __pycache__ in the source tree
sys.path.insert(0, HERE)
import wordpiece_ref as ref  # noqa: E402

VOCAB = os.path.join(HERE, "vocab.txt")
CORPUS = os.path.join(HERE, "corpus.txt")
MODES = [[], ["--cased"], ["--max-len", "12"], ["--cased", "--max-len", "40"]]


def self_check(vocab):
    """The reference itself on cases worked by hand."""
    def pieces(text, lower=True):
        inv = {i: t for t, i in vocab.items()}
        return [inv[i] for i in ref.ids(text, vocab, lower)]
    cases = [
        ("unaffable", True, ["un", "##aff", "##able"]),
        ("Héllo, World!", True, ["hello", ",", "world", "!"]),
        ("Héllo, World!", False, ["H", "##é", "##l", "##lo", ",", "World", "!"]),
        ("xyzzy", True, ["x", "##y", "##z", "##z", "##y"]),
        ("qwfp🙃", True, ["[UNK]"]),
        ("a" * 101, True, ["[UNK]"]),
        ("中国人", True, ["中", "国", "人"]),
        ("hel\x01lo\u200b", True, ["hello"]),
        ("한", True, ["ᄒ", "##ᅡ", "##ᆫ"]),
        ("한", False, ["한"]),
    ]
    for text, lower, want in cases:
        got = pieces(text, lower)
        assert got == want, f"reference: {text!r} lower={lower}: {got} != {want}"
    row, mask, cut = ref.encode("hello world " * 4, vocab, True, 6)
    assert row == [vocab["[CLS]"]] + [vocab["hello"], vocab["world"]] * 2 + [vocab["[SEP]"]]
    assert mask == [1] * 6 and cut


def alphabet(rng):
    """Characters to draw from, by kind; all inside the C tables' cover."""
    def block(lo, hi, skip=()):
        return [chr(c) for c in range(lo, hi + 1)
                if unicodedata.category(chr(c)) != "Cn" and c not in skip]
    return {
        "ascii": [chr(c) for c in range(0x21, 0x7F)],
        "letters": [chr(c) for c in range(0x61, 0x7B)] * 4 + [chr(c) for c in range(0x41, 0x5B)],
        "latin": block(0xC0, 0x24F, skip=(0xD7, 0xF7)) + block(0x1E00, 0x1EFF),
        "greek": block(0x370, 0x3FF, skip=(0x3A3,)),
        "cyrillic": block(0x400, 0x4FF),
        "marks": block(0x300, 0x36F) + block(0x1DC0, 0x1DFF) + ["\u3099", "\u309a"],
        "cjk": [chr(rng.randrange(0x4E00, 0xA000)) for _ in range(200)] +
               [chr(rng.randrange(0x3400, 0x4DC0)) for _ in range(20)] +
               [chr(rng.randrange(0x20000, 0x2A6E0)) for _ in range(20)] +
               list("中国人日本语学生"),
        "hangul": [chr(rng.randrange(0xAC00, 0xD7A4)) for _ in range(50)] + list("한국어"),
        "kana": block(0x3041, 0x30FF),
        "fullwidth": block(0xFF01, 0xFF5E),
        "punct": list("¡§«¶·»¿‐–—‘’“”…‰※‼、。「」『』！，：；？〈〉【】"),
        "symbols": list("¢£¤¥¦©®°±×÷€™∞≤≥→←♥★😀🎉١٢٣"),
        "space": list(" \t\r\u00a0\u2003\u3000\u2009\u2028\u1680"),
        "control": list("\0\x01\x07\x0b\x0c\x1b\x1f\x7f\x85\u00ad\u200b\u200e\ufeff"
                        "\ue000\uf8ff\ufdd0\uffff\U000F0000\U000E0001"),
    }


BAD_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
            b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80",
            b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3"]


def random_word(rng, abc, vocab_words):
    kind = rng.choice(["vocab", "vocab", "vocab", "letters", "latin", "greek",
                       "cyrillic", "cjk", "hangul", "kana", "fullwidth", "mixed"])
    if kind == "vocab":
        w = "".join(rng.choice(vocab_words) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            w = w.upper() if rng.random() < 0.5 else w.capitalize()
        return w.replace("\u03a3", "\u03c3")   # no capital sigma: see above
    pool = abc[kind] if kind != "mixed" else sum(
        (abc[k] for k in ("letters", "latin", "marks", "punct", "symbols", "control")), [])
    if rng.random() < 0.1:   # around the 100-code-point limit too
        n = rng.choice([1, 2, 3, 5, 8, 13, 99, 100, 101, 150])
    else:
        n = rng.randint(1, 8)
    w = "".join(rng.choice(pool) for _ in range(n))
    if rng.random() < 0.2:
        i = rng.randint(0, len(w))
        w = w[:i] + rng.choice(abc["marks"] + abc["control"] + abc["punct"]) + w[i:]
    return w


def fuzz_lines(vocab, count=2000, seed=20240915):
    """Seeded random lines, as bytes (some with invalid UTF-8)."""
    rng = random.Random(seed)
    abc = alphabet(rng)
    vocab_words = [t.lstrip("#") for t in vocab if not t.startswith("[") and t.strip("#")]
    lines = []
    for _ in range(count):
        words = [random_word(rng, abc, vocab_words) for _ in range(rng.randint(0, 12))]
        seps = [rng.choice(abc["space"]) if rng.random() < 0.2 else " " for _ in words]
        text = "".join(w + s for w, s in zip(words, seps))
        if rng.random() < 0.2:
            tail = abc["punct"] + abc["ascii"]
            text += "".join(rng.choice(tail) for _ in range(rng.randint(1, 4)))
        data = text.encode("utf-8")
        if rng.random() < 0.15:   # between characters: no new valid ones
            i = rng.randint(0, len(text))
            data = text[:i].encode() + rng.choice(BAD_UTF8) + text[i:].encode()
        lines.append(data.replace(b"\n", b" "))
    return lines


def compare(driver, text_path, mode, vocab, label):
    got = subprocess.run([driver, VOCAB, text_path] + mode, capture_output=True)
    if got.returncode != 0:
        print(f"tokenize_driver {' '.join(mode)} failed ({got.returncode}): "
              f"{got.stderr.decode(errors='replace')}")
        return False
    got_lines = got.stdout.decode().split("\n")[:-1]
    inputs = ref.read_lines(text_path)
    lower = "--cased" not in mode
    max_len = int(mode[mode.index("--max-len") + 1]) if "--max-len" in mode else None
    want_lines = [ref.format_line(t, vocab, lower, max_len) for t in inputs]
    if len(got_lines) != len(want_lines):
        print(f"{label} {mode}: driver printed {len(got_lines)} lines for "
              f"{len(want_lines)}")
        return False
    inv = {i: t for t, i in vocab.items()}
    for n, (g, w) in enumerate(zip(got_lines, want_lines), 1):
        if g != w:
            ids = [int(x) for x in w.split() if x.isdigit()]
            print(f"{label}:{n} {' '.join(mode) or '(lower-cased)'}: outputs differ\n"
                  f"  text      {inputs[n - 1]!r}\n"
                  f"  reference {w}\n"
                  f"  runtime   {g}\n"
                  f"  reference tokens {[inv.get(i, '?') for i in ids]}")
            return False
    return True


def main(argv):
    p = argparse.ArgumentParser(description="the runtime's tokenizer against the reference")
    p.add_argument("--driver", required=True, help="the tokenize_driver executable")
    driver = p.parse_args(argv).driver
    if not os.access(driver, os.X_OK):
        print(f"SKIP: no tokenize_driver ({driver})")
        return 77
    vocab = ref.load_vocab(VOCAB)
    self_check(vocab)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        fuzz = os.path.join(tmp, "fuzz.txt")
        lines = fuzz_lines(vocab)
        with open(fuzz, "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        for mode in MODES:
            ok = ok and compare(driver, CORPUS, mode, vocab, "corpus.txt")
            ok = ok and compare(driver, fuzz, mode, vocab, "fuzz")
    if not ok:
        return 1
    print(f"tokenizer.reference: {len(ref.read_lines(CORPUS))} corpus lines and "
          f"{len(lines)} fuzz lines agree in {len(MODES)} modes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
