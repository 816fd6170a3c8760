#!/bin/sh
# demo.sh -- a tour of modelc on examples/mlp.model: check it, look at its
# IR, then train it on Fashion-MNIST with the compiled training step and
# report the test accuracy (it must reach 0.85).
# Usage: sh tools/demo.sh [PATH/TO/modelc]   (make demo passes build/modelc)
# Exits nonzero when any step fails or the accuracy is below 0.85.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODELC=${1:-build/modelc}
case $MODELC in /*) ;; *) MODELC="$(pwd)/$MODELC" ;; esac
[ -x "$MODELC" ] || { echo "demo: no modelc binary at $MODELC (run make build)" >&2; exit 1; }
DATA=${FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
cd "$ROOT"
MODEL=examples/mlp.model
MIN_ACCURACY=0.85

section() { printf '\n== %s ==\n' "$1"; }
# show FILE N: the first N lines of FILE, then how many were left out.
show() {
  total=$(wc -l <"$1")
  head -n "$2" "$1"
  if [ "$total" -gt "$2" ]; then echo "... $((total - $2)) more lines"; fi
}
step_failed() { echo "demo: step failed: modelc $*" >&2; exit 1; }

section "the model: $MODEL"
show "$MODEL" 20

section "1. check: compile it and summarize"
echo "\$ modelc check $MODEL"
"$MODELC" check "$MODEL" || step_failed check "$MODEL"

section "2. the forward IR (simplify, cse, dce after the front end)"
echo "\$ modelc dump $MODEL"
"$MODELC" dump "$MODEL" >"$TMP/forward.mir" || step_failed dump "$MODEL"
show "$TMP/forward.mir" 16

section "3. train it on Fashion-MNIST (60000 training images, 10000 test images)"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
  t10k-labels-idx1-ubyte.gz; do
  [ -r "$DATA/$f" ] ||
    { echo "demo: no $DATA/$f (install dataset-fashion-mnist: make deps)" >&2; exit 1; }
done
# u8 pixels scaled to [0,1], then standardized with the training set's mean and std
NORM=scale=1/255,mean=0.2860,std=0.3530
cat <<EOF
\$ modelc train $MODEL --epochs 3 \\
    --data x=\$DATA/train-images-idx3-ubyte.gz,$NORM \\
    --data y=\$DATA/train-labels-idx1-ubyte.gz \\
    --eval x=\$DATA/t10k-images-idx3-ubyte.gz,$NORM \\
    --eval y=\$DATA/t10k-labels-idx1-ubyte.gz \\
    --save \$TMP/mlp.safetensors
  (DATA=$DATA; adam, lr 1e-3, batch 128; progress on stderr)
EOF
start=$(date +%s.%N)
"$MODELC" train "$MODEL" --epochs 3 \
  --data "x=$DATA/train-images-idx3-ubyte.gz,$NORM" --data "y=$DATA/train-labels-idx1-ubyte.gz" \
  --eval "x=$DATA/t10k-images-idx3-ubyte.gz,$NORM" --eval "y=$DATA/t10k-labels-idx1-ubyte.gz" \
  --save "$TMP/mlp.safetensors" | tee "$TMP/train.out" || step_failed train "$MODEL"
end=$(date +%s.%N)
acc=$(sed -n 's/^eval accuracy: \([0-9.]*\) .*/\1/p' "$TMP/train.out")
[ -n "$acc" ] || step_failed train "$MODEL" "(no accuracy line)"
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
printf '\ntest accuracy %s after %s s (compiling, loading and 3 epochs); checkpoint: %s bytes\n' \
  "$acc" "$secs" "$(wc -c <"$TMP/mlp.safetensors")"
awk -v a="$acc" -v m="$MIN_ACCURACY" 'BEGIN { exit !(a + 0 >= m) }' ||
  { echo "demo: test accuracy $acc is below $MIN_ACCURACY" >&2; exit 1; }

printf '\nDone. Try: modelc gradcheck %s, modelc help train, docs/train.md\n' "$MODEL"
