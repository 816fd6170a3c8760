#!/bin/sh
# train_text.sh -- text data through a tokenizer (docs/data.md): --data
# text=FILE.tsv,vocab=VOCAB reads label<TAB>text lines through the WordPiece
# tokenizer into bert_cls's input_ids, token_type_ids, attention_mask and
# labels (texts longer than T are cut and counted); --data text=FILE reads
# a plain text file as characters into gpt's idx and targets. Bad vocab and
# TSV files, labels outside the classes and models without the inputs are
# errors naming the file (and line), exit 1.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"

VOCAB="$TMP/vocab.txt"
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' '[MASK]' the cat sat on mat a dog ran in park \
  , ! quick '##ly' bird flew over house and >"$VOCAB"
BERT="$SRC/examples/bert_cls.model"
SMALL="-D T=12 -D V=25 -D C=16 -D L=1 -D H=2 -D I=32 -D P=12 -D K=3 -D B=4"
printf '0\tthe cat sat on the mat\n1\ta dog ran in the park, quickly!\n2\tthe bird flew over the house\n' >"$TMP/t.tsv"
printf '1\tthe cat and the dog and the bird and the house and the park and the mat\n' >>"$TMP/t.tsv"
for i in 1 2 3 4; do cat "$TMP/t.tsv"; done >"$TMP/train.tsv"

# --- BERT: label<TAB>text -------------------------------------------------------------
run 0 train "$BERT" $SMALL --data "text=$TMP/train.tsv,vocab=$VOCAB" --steps 3 --save "$TMP/b.st"
has_err "train.tsv: 4 of 16 texts are longer than 12 tokens and were cut"
has_out "train loss"
run 0 train "$BERT" $SMALL --data "text=$TMP/train.tsv,vocab=$VOCAB" \
  --eval "text=$TMP/t.tsv,vocab=$VOCAB" --epochs 1
has_out "^eval accuracy: [0-9.]* (4 samples"
# cased=yes keeps "The": another tokenization, so another loss
printf '0\tThe cat\n' >"$TMP/cased.tsv"
run 0 grad "$BERT" $SMALL -D B=1 --data "text=$TMP/cased.tsv,vocab=$VOCAB" -o "$TMP/g1.st"
run 0 grad "$BERT" $SMALL -D B=1 --data "text=$TMP/cased.tsv,vocab=$VOCAB,cased=yes" -o "$TMP/g2.st"
cmp -s "$TMP/g1.st" "$TMP/g2.st" && fail "cased=yes changed nothing"
# errors
printf '0\tno tab here\n0 no tab on this line\n' >"$TMP/notab.tsv"
run 1 train "$BERT" $SMALL --data "text=$TMP/notab.tsv,vocab=$VOCAB" --steps 1
has_err "notab.tsv:2: no tab between the label and the text"
printf '0\tfine\n7\tthe class seven\n' >"$TMP/label.tsv"
run 1 train "$BERT" $SMALL --data "text=$TMP/label.tsv,vocab=$VOCAB" --steps 1
has_err "label.tsv:2: label 7 is outside the model's 3 classes \[0, 3)"
grep -v '^\[UNK\]$' "$VOCAB" >"$TMP/nounk.txt"
run 1 train "$BERT" $SMALL --data "text=$TMP/train.tsv,vocab=$TMP/nounk.txt" --steps 1
has_err "nounk.txt: no \[UNK\] token"
run 1 train "$BERT" $SMALL --data "text=$TMP/train.tsv,vocab=$TMP/missing.txt" --steps 1
has_err "missing.txt: "
run 1 train "$SRC/examples/mlp.model" --data "text=$TMP/train.tsv,vocab=$VOCAB" --steps 1
has_err "model 'mlp' needs the inputs input_ids: i32\[B, T\]"
run 2 train "$BERT" --data "text=$TMP/train.tsv,vocabulary=$VOCAB"
has_err "unknown option 'vocabulary'"

# --- GPT: characters ------------------------------------------------------------------------
GPT="$SRC/examples/gpt.model"
GSMALL="-D T=16 -D C=16 -D L=1 -D H=2 -D B=4"
awk 'BEGIN { for (i = 0; i < 40; i++) print "In the beginning God created the heaven and the earth." }' >"$TMP/kjv.txt"
printf 'caf\303\251 \001\n' >>"$TMP/kjv.txt"
run 0 train "$GPT" $GSMALL --data "text=$TMP/kjv.txt" --epochs 1
# 40 * 55 + 7 characters (the e-acute's two bytes and the control byte dropped)
has_err "kjv.txt: 3 bytes have no character id (not ASCII or control) and were dropped"
has_out "^epoch 1/1: train loss [0-9.]* acc 0\.[0-9]* "
has_out "no evaluation data"
printf 'short' >"$TMP/short.txt"
run 1 train "$GPT" $GSMALL --data "text=$TMP/short.txt" --steps 1
has_err "short.txt: 5 characters make no window of 16 and the next character"
run 1 train "$BERT" $SMALL --data "text=$TMP/kjv.txt" --steps 1
has_err "a character model needs two i32\[B, T\] inputs"
# a checkpoint of another architecture: nothing to load
run 1 train "$GPT" $GSMALL --data "text=$TMP/kjv.txt" --init-from "$TMP/b.st" --steps 1
has_err "b.st: no tensor is named like a param of model 'gpt'"
echo ok
