#!/bin/sh
# train_seed_net.sh -- `modelc train` on examples/seed_net.model without
# --data (seeded N(0,1) random data): the loss falls with adam and with sgd
# (momentum, nesterov, clipping), --batch/--steps/--limit/--holdout change
# the step and sample counts, and bad options are usage errors (exit 2).
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"
MODEL="$SRC/examples/seed_net.model"


# epoch_loss N: the train loss on the line of epoch N.
epoch_loss() {
  v=$(sed -n "s|^epoch $1/[0-9]*: train loss \([0-9.]*\).*|\1|p" "$TMP/out")
  [ -n "$v" ] || { cat "$TMP/out" >&2; fail "no line for epoch $1"; }
  echo "$v"
}
# falls A B RATIO: B < A * RATIO.
falls() {
  awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { exit !(b + 0 < a * r) }' ||
    fail "the loss did not fall enough: $1 -> $2 (wanted below $3 of it)"
}

# --- the loss falls ------------------------------------------------------------
# 128 random samples (2 steps per epoch): few enough for the net to fit
run 0 train "$MODEL" --limit 128 --epochs 60 --lr 0.01 --threads 1
has_err 'no --data given: training on 128 samples of seeded N(0,1) random data'
has_out '^trained 120 steps (60 epochs); no evaluation data'
falls "$(epoch_loss 1)" "$(epoch_loss 60)" 0.8

run 0 train "$MODEL" --optimizer sgd --lr 0.05 --momentum 0.9 --nesterov --clip-norm 1 \
  --weight-decay 1e-4 --limit 128 --epochs 60
falls "$(epoch_loss 1)" "$(epoch_loss 60)" 0.9

# the default data set: 1024 samples, 16 steps per epoch
run 0 train "$MODEL" --epochs 3
has_err 'training on 1024 samples of seeded N(0,1) random data'
falls "$(epoch_loss 1)" "$(epoch_loss 3)" 1

run 0 train "$MODEL" --optimizer adamw --betas 0.8,0.99 --eps 1e-6 --epochs 3 --seed 3
falls "$(epoch_loss 1)" "$(epoch_loss 3)" 1

# --- counts ----------------------------------------------------------------------
run 0 train "$MODEL" --batch 32 --epochs 2
has_out '^trained 64 steps (2 epochs)'
run 0 train "$MODEL" -D B=16 --limit 100 --epochs 1
has_out '^trained 6 steps (1 epochs)'
has_err 'training on 100 samples'
run 0 train "$MODEL" --steps 5
has_out '^epoch 1 (stopped at step 5/16): train loss '
has_out '^trained 5 steps (0 epochs)'
# no labels: the held-out set gets a loss, and the final line reports it
run 0 train "$MODEL" --holdout 0.25 --epochs 2
has_out '^epoch 2/2: train loss [0-9.]*, held-out loss [0-9.]* ('
has_out '^held-out loss: [0-9.]* (256 samples)$'
run 1 train "$MODEL" --limit 10
has_err 'train: 10 training samples are fewer than the batch size 64'

# --- help and usage errors ---------------------------------------------------------
run 0 help train
has_out '^Usage: modelc train FILE'
has_out '  --optimizer sgd|adam|adamw'
has_out '  --data NAME=PATH'
has_out '  -D, --define NAME=VALUE'
run 0 train --help
has_out '  --resume PATH'

usage() {
  run 2 train "$MODEL" "$@"
}
usage --lr -1; has_err "modelc train: --lr expects a number > 0, got '-1'"
usage --lr abc
usage --epochs 0; has_err '--epochs expects a positive integer'
usage --holdout 1; has_err '--holdout expects a number in \[0, 1), got'
usage --betas 0.9; has_err '--betas expects B1,B2'
usage --optimizer rmsprop; has_err 'expects sgd, adam or adamw'
usage --momentum 0.9; has_err '--momentum does not apply to --optimizer adam'
usage --optimizer sgd --eps 1e-3; has_err '--eps does not apply to --optimizer sgd'
usage --optimizer sgd --nesterov; has_err '--nesterov needs a --momentum above 0'
usage --data x; has_err '^modelc train: --data x: '
usage --data x=a.csv,colour=red
usage --lrr 0.1; has_err "unknown option '--lrr' (did you mean '--lr'?)"
usage --nesterov=1; has_err "option '--nesterov' takes no value"
usage --save; has_err "option '--save' needs a value"
usage -D B=-1
has_err "Try 'modelc help train'"
# 0 is a value -D accepts, but not as a tensor extent
run 1 train "$SRC/examples/seed_net.model" -D B=0
has_err "seed_net.model:[0-9]*:[0-9]*: error: a dim must be a positive integer, got 0"
run 2 train
has_err 'missing FILE'
echo "train_seed_net: ok"
