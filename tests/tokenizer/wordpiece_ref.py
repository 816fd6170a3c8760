#!/usr/bin/python3
"""wordpiece_ref.py -- a reference BERT WordPiece tokenizer in plain Python,
written from the BERT paper's description of its tokenizer (a basic
tokenizer, then WordPiece) with unicodedata for every Unicode property. It
is what runtime/rt_wordpiece.c is compared against (run_reference.py).

  basic tokenizer  drop NUL, U+FFFD and control characters (category C*
                   except tab, newline, carriage return), whitespace (those
                   three and category Zs) becomes a space; spaces around CJK
                   ideographs; split on whitespace; with lower-casing, each
                   word is lower-cased, decomposed (NFD) and stripped of its
                   combining marks (category Mn); punctuation (ASCII
                   symbols and category P*) split off as tokens of its own
  WordPiece        per token: more than 100 code points -> [UNK]; else the
                   longest vocabulary entry that starts the token, then the
                   longest "##" entry that starts the rest, ...; a rest
                   nothing matches makes the whole token [UNK]

Usage: wordpiece_ref.py VOCAB TEXT [--cased] [--max-len N]
prints the ids of each line of TEXT (bytes, invalid UTF-8 replaced by
U+FFFD) like tests/tokenizer/tokenize_driver.c does.
"""
import argparse
import sys
import unicodedata

MAX_WORD_CHARS = 100

# BERT's CJK ideograph blocks: Unified Ideographs, extensions A to E,
# compatibility ideographs and their supplement.
CJK_BLOCKS = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def load_vocab(path):
    """token -> id (the 0-based line number); a final newline ends the last
    line, a trailing '\\r' and a leading BOM are not part of a token."""
    data = open(path, "rb").read().decode("utf-8")
    if data.startswith("\ufeff"):
        data = data[1:]
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {}
    for i, line in enumerate(lines):
        token = line[:-1] if line.endswith("\r") else line
        assert token not in vocab, f"{path}:{i + 1}: duplicate {token!r}"
        vocab[token] = i
    return vocab


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(ch):
    return any(lo <= ord(ch) <= hi for lo, hi in CJK_BLOCKS)


def clean(text):
    out = []
    for ch in text:
        if ch in "\0\ufffd" or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def strip_accents(word):
    return "".join(ch for ch in unicodedata.normalize("NFD", word)
                   if unicodedata.category(ch) != "Mn")


def split_punctuation(word):
    pieces, current = [], ""
    for ch in word:
        if is_punctuation(ch):
            if current:
                pieces.append(current)
            pieces.append(ch)
            current = ""
        else:
            current += ch
    if current:
        pieces.append(current)
    return pieces


def basic_tokens(text, lower_case):
    text = "".join(f" {ch} " if is_cjk(ch) else ch for ch in clean(text))
    tokens = []
    for word in text.split():
        if lower_case:
            word = strip_accents(word.lower())
        tokens.extend(split_punctuation(word))
    return tokens


def wordpiece(token, vocab):
    if len(token) > MAX_WORD_CHARS:
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


def ids(text, vocab, lower_case=True):
    return [i for t in basic_tokens(text, lower_case) for i in wordpiece(t, vocab)]


def encode(text, vocab, lower_case, max_len):
    """[CLS] pieces [SEP] [PAD]..., the pieces cut to fit; mask; truncated."""
    pieces = ids(text, vocab, lower_case)
    kept = pieces[:max_len - 2]
    row = [vocab["[CLS]"]] + kept + [vocab["[SEP]"]]
    mask = [1] * len(row) + [0] * (max_len - len(row))
    row += [vocab["[PAD]"]] * (max_len - len(row))
    return row, mask, len(pieces) > len(kept)


def format_line(text, vocab, lower_case, max_len):
    """One output line, the format of tokenize_driver."""
    if max_len is None:
        return " ".join(map(str, ids(text, vocab, lower_case)))
    row, mask, cut = encode(text, vocab, lower_case, max_len)
    return f"{' '.join(map(str, row))} | {' '.join(map(str, mask))} | {int(cut)}"


def read_lines(path):
    """The lines of a file as text: split on '\\n', the piece after a final
    newline dropped, invalid UTF-8 replaced by U+FFFD."""
    lines = open(path, "rb").read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line.decode("utf-8", errors="replace") for line in lines]


def main(argv):
    p = argparse.ArgumentParser(description="BERT WordPiece ids of each line")
    p.add_argument("vocab")
    p.add_argument("text")
    p.add_argument("--cased", action="store_true", help="no lower-casing")
    p.add_argument("--max-len", type=int, help="print BERT rows of this length")
    a = p.parse_args(argv)
    vocab = load_vocab(a.vocab)
    for line in read_lines(a.text):
        print(format_line(line, vocab, not a.cased, a.max_len))


if __name__ == "__main__":
    main(sys.argv[1:])
