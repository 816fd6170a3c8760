#!/usr/bin/python3
"""wordnet_tsv.py -- writes a WordNet gloss-classification data set as TSV.

Reads the noun synsets of the installed WordNet 3.0 (Debian package
wordnet-base: /usr/share/wordnet/data.noun), labels each synset's gloss
with its lexicographer file (noun.artifact, noun.person, ...: the synset
line's 2nd field, lex_filenum, indexes the standard list of 45
lexicographer files), keeps the N most frequent noun classes (default 8),
labelled 0..N-1 in order of decreasing frequency (ties by name), and
writes

  OUTDIR/train.tsv    "label<TAB>gloss" lines
  OUTDIR/test.tsv     the same
  OUTDIR/classes.txt  one class name per line; line i names label i

The gloss is the text after " | " on the synset line. Its example
sentences are dropped when the gloss is simple: a definition followed only
by '; "..."' quoted examples; otherwise it is kept whole. Tabs and
newlines become spaces.

The split is stratified and deterministic: each class's synsets (in file
order) are shuffled by numpy.random.default_rng(seed), the first
round(test_fraction * n) go to test, the rest to train (--limit-per-class
N first caps each class at N shuffled synsets); each file is then shuffled
with the same generator.

Usage:
  tools/wordnet_tsv.py OUTDIR [--classes 8] [--test-fraction 0.1] [--seed 0]
                       [--limit-per-class N] [--wordnet-dir /usr/share/wordnet]
"""
import argparse
import os
import re
import sys

import numpy as np

# The standard WordNet lexicographer files (lexnames(5WN)), by number.
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon",
    "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body",
    "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
]
assert len(LEXNAMES) == 45

# A definition followed only by quoted examples: 'def; "ex one"; "ex two"'.
SIMPLE_EXAMPLES = re.compile(r'^(?P<defn>[^"]*?)\s*(;\s*"[^"]*"\s*)+$')


def clean_gloss(gloss):
    gloss = re.sub(r"[\t\r\n]+", " ", gloss).strip()
    m = SIMPLE_EXAMPLES.match(gloss)
    if m and m.group("defn").strip():
        gloss = m.group("defn").strip()
    return gloss


def read_nouns(path):
    """[(lexname, gloss)] for each synset of data.noun, in file order."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("  "):          # the license header
                continue
            fields = line.split(" ", 3)
            if len(fields) < 4 or " | " not in line:
                raise ValueError(f"{path}:{lineno}: not a synset line")
            lex = int(fields[1])
            if not 0 <= lex < len(LEXNAMES):
                raise ValueError(f"{path}:{lineno}: lex_filenum {lex} out of range")
            gloss = clean_gloss(line.split(" | ", 1)[1])
            if gloss:
                out.append((LEXNAMES[lex], gloss))
    return out


def main():
    ap = argparse.ArgumentParser(
        description="Write WordNet noun gloss -> lexicographer class train/test TSV files.")
    ap.add_argument("outdir", help="directory for train.tsv, test.tsv, classes.txt")
    ap.add_argument("--classes", type=int, default=8, help="number of most frequent classes (8)")
    ap.add_argument("--test-fraction", type=float, default=0.1, help="test share per class (0.1)")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed (0)")
    ap.add_argument("--limit-per-class", type=int, default=0, metavar="N",
                    help="cap each class at N synsets (0: no cap)")
    ap.add_argument("--wordnet-dir", default="/usr/share/wordnet",
                    help="WordNet dict directory holding data.noun (/usr/share/wordnet)")
    a = ap.parse_args()

    path = os.path.join(a.wordnet_dir, "data.noun")
    if not os.path.isfile(path):
        sys.exit(f"wordnet_tsv: {path} not found: install WordNet "
                 f"(apt-get install wordnet-base, or tools/deps.sh)")
    if a.classes < 2 or not 0.0 < a.test_fraction < 1.0:
        sys.exit("wordnet_tsv: need --classes >= 2 and 0 < --test-fraction < 1")
    try:
        nouns = read_nouns(path)
    except (OSError, ValueError) as e:
        sys.exit(f"wordnet_tsv: {e}")

    by_class = {}
    for lex, gloss in nouns:
        by_class.setdefault(lex, []).append(gloss)
    ranked = sorted(by_class, key=lambda c: (-len(by_class[c]), c))[:a.classes]
    if len(ranked) < a.classes:
        sys.exit(f"wordnet_tsv: only {len(ranked)} noun classes in {path}")

    rng = np.random.default_rng(a.seed)
    train, test = [], []
    for label, name in enumerate(ranked):
        glosses = by_class[name]
        order = rng.permutation(len(glosses))
        if a.limit_per_class > 0:
            order = order[:a.limit_per_class]
        n_test = int(round(a.test_fraction * len(order)))
        test += [(label, glosses[i]) for i in order[:n_test]]
        train += [(label, glosses[i]) for i in order[n_test:]]
    train = [train[i] for i in rng.permutation(len(train))]
    test = [test[i] for i in rng.permutation(len(test))]

    os.makedirs(a.outdir, exist_ok=True)
    for fname, rows in (("train.tsv", train), ("test.tsv", test)):
        with open(os.path.join(a.outdir, fname), "w", encoding="utf-8") as f:
            for label, gloss in rows:
                f.write(f"{label}\t{gloss}\n")
    with open(os.path.join(a.outdir, "classes.txt"), "w", encoding="utf-8") as f:
        f.write("".join(name + "\n" for name in ranked))
    counts = ", ".join(f"{i} {name} {len(by_class[name])}" for i, name in enumerate(ranked))
    print(f"wordnet_tsv: {len(train)} train, {len(test)} test lines in {a.outdir} ({counts})")


if __name__ == "__main__":
    main()
