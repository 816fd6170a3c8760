#!/bin/sh
# train_lenet.sh -- examples/lenet.model trained by `modelc train` on the
# whole of Fashion-MNIST (60000 images, 3 epochs, Adam lr 3e-3, batch 64)
# reaches at least 0.88 test accuracy (0.8828 measured on an AVX2 machine;
# the issue's bar). An image file whose samples do not fit the model's
# [B, 1, 28, 28] input is a load error naming the file. Skipped (exit 0)
# when the dataset (Debian package dataset-fashion-mnist) is not installed.
set -e
. "$(dirname "$0")/lib/common.sh"
DATA=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
if [ ! -r "$DATA/train-images-idx3-ubyte.gz" ] || [ ! -r "$DATA/t10k-labels-idx1-ubyte.gz" ]; then
  echo "SKIP: no Fashion-MNIST in $DATA (install dataset-fashion-mnist)"
  exit 0
fi
NORM=scale=1/255,mean=0.2860,std=0.3530

# images of another size: 2x2 of f32 per sample
printf '\000\000\015\003\000\000\000\002\000\000\000\002\000\000\000\002' >"$TMP/small.idx"
head -c 32 /dev/zero >>"$TMP/small.idx"
rc=0
"$MODELC" train "$SRC/examples/lenet.model" --data "x=$TMP/small.idx" \
  --data "y=$DATA/t10k-labels-idx1-ubyte.gz" --steps 1 >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/err" >&2; fail "wrong image size: exit $rc, expected 1"; }
grep -q "small.idx.*does not fit input x \[B,1,28,28\] (784 values per sample)" "$TMP/err" ||
  { cat "$TMP/err" >&2; fail "wrong image size: no message naming the file and both shapes"; }

rc=0
"$MODELC" train "$SRC/examples/lenet.model" --epochs 3 --lr 3e-3 --threads 2 \
  --data "x=$DATA/train-images-idx3-ubyte.gz,$NORM" --data "y=$DATA/train-labels-idx1-ubyte.gz" \
  --eval "x=$DATA/t10k-images-idx3-ubyte.gz,$NORM" --eval "y=$DATA/t10k-labels-idx1-ubyte.gz" \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 0 ] || { cat "$TMP/out" "$TMP/err" >&2; fail "exit $rc"; }
acc=$(sed -n 's/^eval accuracy: \([0-9.]*\) (10000 samples, loss [0-9.]*)$/\1/p' "$TMP/out")
[ -n "$acc" ] || { cat "$TMP/out" >&2; fail "no final 'eval accuracy' line"; }
awk -v a="$acc" 'BEGIN { exit !(a + 0 >= 0.88) }' || fail "test accuracy $acc < 0.88"
echo "train_lenet: test accuracy $acc after 3 epochs"
