#!/bin/sh
# train_lenet.sh -- examples/lenet.model trained by `modelc train` on the
# whole of Fashion-MNIST (60000 images, 3 epochs, Adam lr 1e-3, batch 32)
# reaches at least 0.88 test accuracy (the issue's bar) on average over
# seeds 0, 1 and 2. One run is no measure of it: the accuracy after 3
# epochs moves by about 0.005 from seed to seed, and as much when a kernel
# sums in another order (measured 2026-12-05: 0.8816, 0.8929 and 0.8849 for
# seeds 0-2; with batch 64 and lr 3e-3, 0.8746-0.8852). An image file whose
# samples do not fit the model's [B, 1, 28, 28] input is a load error naming
# the file. Skipped (exit 0) when the dataset (Debian package
# dataset-fashion-mnist) is not installed.
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

all=""
for seed in 0 1 2; do
  rc=0
  "$MODELC" train "$SRC/examples/lenet.model" --epochs 3 --batch 32 --lr 1e-3 --threads 2 \
    --seed "$seed" \
    --data "x=$DATA/train-images-idx3-ubyte.gz,$NORM" --data "y=$DATA/train-labels-idx1-ubyte.gz" \
    --eval "x=$DATA/t10k-images-idx3-ubyte.gz,$NORM" --eval "y=$DATA/t10k-labels-idx1-ubyte.gz" \
    >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" = 0 ] || { cat "$TMP/out" "$TMP/err" >&2; fail "seed $seed: exit $rc"; }
  acc=$(sed -n 's/^eval accuracy: \([0-9.]*\) (10000 samples, loss [0-9.]*)$/\1/p' "$TMP/out")
  [ -n "$acc" ] || { cat "$TMP/out" >&2; fail "seed $seed: no final 'eval accuracy' line"; }
  all="$all $acc"
done
mean=$(echo "$all" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.4f", s / NF }')
awk -v a="$mean" 'BEGIN { exit !(a + 0 >= 0.88) }' ||
  fail "mean test accuracy $mean < 0.88 (seeds 0-2:$all)"
echo "train_lenet: test accuracy after 3 epochs:$all (mean $mean)"
