#!/bin/sh
# train_fashion.sh -- examples/mlp.model learns Fashion-MNIST from a small
# slice (the first 3000 test images, a quarter of them held out): accuracy
# on the held-out samples reaches 0.72 within 4 epochs (0.81 measured), and
# the labels and logits are found from the graph. Skipped (exit 0) when the
# dataset (Debian package dataset-fashion-mnist) is not installed.
set -e
. "$(dirname "$0")/lib/common.sh"
DATA=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
if [ ! -r "$DATA/t10k-images-idx3-ubyte.gz" ] || [ ! -r "$DATA/t10k-labels-idx1-ubyte.gz" ]; then
  echo "SKIP: no Fashion-MNIST in $DATA (install dataset-fashion-mnist)"
  exit 0
fi

rc=0
"$MODELC" train "$SRC/examples/mlp.model" \
  --data "x=$DATA/t10k-images-idx3-ubyte.gz" --data "y=$DATA/t10k-labels-idx1-ubyte.gz" \
  --limit 3000 --holdout 0.25 --batch 64 --epochs 4 --threads 2 \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 0 ] || { cat "$TMP/out" "$TMP/err" >&2; fail "exit $rc"; }
grep -q '^epoch 4/4: train loss [0-9.]* acc [0-9.]*, held-out loss [0-9.]* acc [0-9.]* (' \
  "$TMP/out" || { cat "$TMP/out" >&2; fail "no epoch line with held-out accuracy"; }
acc=$(sed -n 's/^held-out accuracy: \([0-9.]*\) (750 samples, loss [0-9.]*)$/\1/p' "$TMP/out")
[ -n "$acc" ] || { cat "$TMP/out" >&2; fail "no final 'held-out accuracy' line"; }
awk -v a="$acc" 'BEGIN { exit !(a + 0 >= 0.72) }' || fail "held-out accuracy $acc < 0.72"
echo "train_fashion: held-out accuracy $acc"
