#!/bin/sh
# train_checkpoint.sh -- checkpoints of `modelc train` (seed_net, random
# data): the same seed gives the same bytes; train 2 epochs == train 1,
# save, resume, train 1 more (also resuming in the middle of an epoch and
# after Ctrl-C), compared byte for byte; a failed save exits 1 and leaves
# the previous checkpoint intact; a truncated, foreign or mismatched
# checkpoint is an error naming the file and the tensor.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"
MODEL="$SRC/examples/seed_net.model"

same() { cmp "$1" "$2" || fail "$1 and $2 differ"; }
# meta KEY FILE: a string value of the checkpoint's __metadata__.
meta() { head -c 2000 "$2" | tr -c '[:print:]' '\n' | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# --- determinism ------------------------------------------------------------------
run 0 train "$MODEL" --epochs 2 --threads 2 --save "$TMP/a.st"
run 0 train "$MODEL" --epochs 2 --threads 2 --save "$TMP/b.st"
same "$TMP/a.st" "$TMP/b.st"
[ "$(meta format "$TMP/a.st")" = modelc-train ] || fail "no format metadata"
[ "$(meta format_version "$TMP/a.st")" = 1 ] || fail "no format_version metadata"
[ "$(meta model "$TMP/a.st")" = seed_net ] || fail "no model metadata"
[ "$(meta optimizer "$TMP/a.st")" = adam ] || fail "no optimizer metadata"
[ "$(meta step "$TMP/a.st")" = 32 ] || fail "step is not 32"
[ "$(meta epoch "$TMP/a.st")" = 2 ] || fail "epoch is not 2"
grep -q '"fc1.weight.exp_avg_sq"' "$TMP/a.st" || fail "no optimizer state in the checkpoint"
run 0 train "$MODEL" --epochs 2 --threads 2 --seed 1 --save "$TMP/c.st"
cmp -s "$TMP/a.st" "$TMP/c.st" && fail "another seed gave the same params"

# --- resume == uninterrupted ----------------------------------------------------------
run 0 train "$MODEL" --epochs 1 --threads 2 --save "$TMP/r.st"
run 0 train "$MODEL" --epochs 2 --threads 2 --resume "$TMP/r.st" --save "$TMP/r.st"
has_out '^epoch 2/2: '
same "$TMP/a.st" "$TMP/r.st"
# stopped in the middle of an epoch (step 5 of 16)
run 0 train "$MODEL" --steps 5 --threads 2 --save "$TMP/m.st"
[ "$(meta epoch_step "$TMP/m.st")" = 5 ] || fail "epoch_step is not 5"
run 0 train "$MODEL" --epochs 2 --threads 2 --resume "$TMP/m.st" --save "$TMP/m.st"
same "$TMP/a.st" "$TMP/m.st"
# nothing left to do
run 0 train "$MODEL" --epochs 2 --resume "$TMP/a.st"
has_out '^trained 32 steps (2 epochs)'
# sgd with momentum: its state is the momentum buffer
run 0 train "$MODEL" --optimizer sgd --momentum 0.9 --epochs 2 --save "$TMP/s2.st"
run 0 train "$MODEL" --optimizer sgd --momentum 0.9 --epochs 1 --save "$TMP/s1.st"
run 0 train "$MODEL" --optimizer sgd --momentum 0.9 --epochs 2 --resume "$TMP/s1.st" \
  --save "$TMP/s1.st"
same "$TMP/s2.st" "$TMP/s1.st"
grep -q '"fc2.bias.momentum_buffer"' "$TMP/s1.st" || fail "no momentum buffer saved"

# --- Ctrl-C: stop after the step, save, exit 130; resuming continues exactly -------------
"$MODELC" train "$MODEL" --epochs 1000000 --threads 2 --save "$TMP/i.st" \
  >"$TMP/i.out" 2>"$TMP/i.err" &
pid=$!
i=0
while [ ! -s "$TMP/i.st" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$TMP/i.st" ] || { kill "$pid"; fail "no checkpoint after 60 s"; }
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 130 ] || { cat "$TMP/i.err" >&2; fail "after SIGINT: exit $rc, expected 130"; }
grep -q "^modelc train: interrupted after step [0-9]*; saved $TMP/i.st\$" "$TMP/i.err" ||
  { cat "$TMP/i.err" >&2; fail "no 'interrupted' message"; }
n=$(meta step "$TMP/i.st")
[ -n "$n" ] && [ "$n" -gt 0 ] || fail "bad step '$n' in the interrupted checkpoint"
target=$((n + 20))
run 0 train "$MODEL" --steps $target --threads 2 --resume "$TMP/i.st" --save "$TMP/i.st"
run 0 train "$MODEL" --steps $target --threads 2 --save "$TMP/u.st"
same "$TMP/u.st" "$TMP/i.st"

# --- failed saves ----------------------------------------------------------------------------
: >"$TMP/plain"
run 1 train "$MODEL" --save "$TMP/plain/ck.st"
has_err "^modelc: error: $TMP/plain/ck.st: cannot save: Not a directory"
[ ! -s "$TMP/out" ] || fail "training ran although the checkpoint cannot be written"
run 1 train "$MODEL" --save "$TMP"
has_err "$TMP: cannot save: Is a directory"
# a write that fails half-way (file size limit): the previous file survives
cp "$TMP/r.st" "$TMP/keep.st"
rc=0
(trap '' XFSZ; ulimit -f 1; exec "$MODELC" train "$MODEL" --epochs 3 --resume "$TMP/r.st" \
  --save "$TMP/r.st" >"$TMP/out" 2>"$TMP/err") || rc=$?
[ "$rc" = 1 ] || { cat "$TMP/err" >&2; fail "failed save: exit $rc, expected 1"; }
has_err "$TMP/r.st: cannot save: cannot write: File too large"
same "$TMP/keep.st" "$TMP/r.st"
ls "$TMP" | grep -q 'tmp\.' && fail "a temporary file was left behind"

# --- bad checkpoints -------------------------------------------------------------------------
run 1 train "$MODEL" --resume "$TMP/none.st"
has_err "$TMP/none.st: cannot open: No such file or directory"
head -c 300 "$TMP/a.st" >"$TMP/trunc.st"
run 1 train "$MODEL" --resume "$TMP/trunc.st"
has_err "^modelc: error: $TMP/trunc.st: "
head -c 3000 "$TMP/a.st" >"$TMP/trunc2.st"
run 1 train "$MODEL" --resume "$TMP/trunc2.st"
has_err "^modelc: error: $TMP/trunc2.st: "
# a valid safetensors file without modelc's metadata (one f32 tensor "w")
H='{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  '
printf '\070\000\000\000\000\000\000\000%s\000\000\200\077' "$H" >"$TMP/foreign.st"
run 1 train "$MODEL" --resume "$TMP/foreign.st"
has_err "$TMP/foreign.st: not a modelc training checkpoint"
sed 's/linear(10, 20)/linear(10, 30)/; s/linear(20, 10)/linear(30, 10)/' "$MODEL" >"$TMP/wide.model"
run 1 train "$TMP/wide.model" --resume "$TMP/a.st"
has_err "$TMP/a.st: tensor 'fc1.weight' has shape \[20,10\]; the model's param has \[30,10\]"
sed 's/fc1/layer1/g' "$MODEL" >"$TMP/renamed.model"
run 1 train "$TMP/renamed.model" --resume "$TMP/a.st"
has_err "$TMP/a.st: no tensor 'layer1.weight' (the model's param is f32\[20,10\])"
run 1 train "$MODEL" --optimizer sgd --resume "$TMP/a.st"
has_err "$TMP/a.st: checkpoint saved with optimizer 'adam'; this run uses 'sgd'"
run 1 train "$SRC/examples/mlp.model" --resume "$TMP/a.st"
has_err "$TMP/a.st: checkpoint of model 'seed_net', not 'mlp'"
echo "train_checkpoint: ok"
