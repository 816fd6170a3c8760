#!/bin/sh
# train_split.sh -- on several threads `modelc train` runs a step whose
# batch rows meet only in the loss as copies of the gradient program, each
# on its rows, then the optimizer on the summed gradients (docs/train.md).
# The REPL's `memory` says so; the params after some steps are within
# 1e-5 of the one-thread step's (Adam; SGD with momentum and gradient
# clipping; a frozen layer); the same run twice gives the same bytes, and
# resuming gives what an uninterrupted run gives. A batch the threads do
# not divide runs whole. A model with a batch norm in train mode splits
# too, its statistics summed over the copies (part_sum), with the same
# checks.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"
cd "$TMP"
set -f # the options below hold globs for --freeze

# enough work per gradient element to split (cg_split_worth): batch 512
cat >wide.model <<'EOM'
model wide {
  B = batch(512)
  input x: f32[B, 64]
  input t: f32[B, 1]
  fc1 = linear(64, 64)
  fc2 = linear(64, 1)
  minimize mse(fc2(tanh(fc1(x))), t)
}
EOM
close() {
  /usr/bin/python3 "$SRC/tests/cli/lib/st_close.py" "$1" "$2" || fail "$2 is not within 1e-5 of $1"
}
same() { cmp "$1" "$2" || fail "$1 and $2 differ"; }

# MODEL's step split on 2 threads (the REPL's memory says so, and not on
# 1); its params within 1e-5 of the one-thread step's for three
# optimizers; the same bytes twice; resuming as running on.
check_split() {
  printf 'set threads 2\nload %s\nmemory\nset threads 1\nmemory\n' "$1" |
    "$MODELC" repl >out 2>err || { cat out err >&2; fail "repl: memory of $1"; }
  [ "$(grep -c '^step  *split: 2 copies, each on its rows of the batch$' out)" = 1 ] ||
    { cat out >&2; fail "memory: $1's step not split on 2 threads, or split on 1"; }
  for opt in "--optimizer adam" "--optimizer sgd --momentum 0.9 --clip-norm 0.5" \
             "--optimizer adamw --freeze fc2.*"; do
    run 0 train "$1" $opt --epochs 3 --threads 1 --save one.st
    run 0 train "$1" $opt --epochs 3 --threads 2 --save two.st
    close one.st two.st
  done
  run 0 train "$1" --epochs 3 --threads 2 --save again.st
  run 0 train "$1" --epochs 3 --threads 2 --save two.st
  same two.st again.st
  run 0 train "$1" --epochs 1 --threads 2 --save r.st
  run 0 train "$1" --epochs 3 --threads 2 --resume r.st --save r.st
  same two.st r.st
}
check_split wide.model

# 510 rows: not divided by 2 threads; the whole step on 2 threads
run 0 train wide.model --batch 510 --epochs 2 --threads 1 --save one.st
run 0 train wide.model --batch 510 --epochs 2 --threads 2 --save two.st
close one.st two.st

# a batch norm in train mode: the statistics of the whole batch in every
# copy. No bias before the norm: its gradient is zero up to rounding, so
# its relative difference would be noise.
cat >bn.model <<'EOM'
model bn {
  B = batch(512)
  input x: f32[B, 64]
  input t: f32[B, 1]
  fc1 = linear(64, 64, bias = 0)
  bn = batch_norm1d(64)
  fc2 = linear(64, 1)
  minimize mse(fc2(tanh(bn(fc1(x)))), t)
}
EOM
check_split bn.model
