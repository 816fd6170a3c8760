#!/bin/sh
# repl_script.sh -- `modelc repl` in script mode: every command once, its
# error cases (each a caret under the typed text, the session goes on and
# the exit status is 1), a reload after an edit that keeps the params whose
# names and shapes still match, and a dim change that recompiles.
set -e
. "$(dirname "$0")/lib/common.sh"
cd "$TMP"
export MODELC_HISTORY=

# repl EXPECTED_EXIT [FILE] < script: the session's stdout+stderr in $TMP/out.
repl() {
  want=$1; shift
  rc=0
  timeout 60 "$MODELC" repl "$@" >"$TMP/out" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || { cat "$TMP/out" >&2; fail "repl $*: exit $rc, expected $want"; }
}
has() { grep -qF -- "$1" "$TMP/out" || { cat "$TMP/out" >&2; fail "no line with: $1"; }; }
hasnt() { ! grep -qF -- "$1" "$TMP/out" || { cat "$TMP/out" >&2; fail "unexpected: $1"; }; }

cp "$SRC/examples/seed_net.model" m.model

# -- the command line -----------------------------------------------------------------
"$MODELC" help repl >"$TMP/out" 2>&1 || fail "help repl failed"
has "Usage: modelc repl [FILE]"
rc=0; "$MODELC" repl a b >"$TMP/out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "repl a b: exit $rc, expected 2"
has "modelc repl: more than one FILE"
rc=0; "$MODELC" repl --bogus >"$TMP/out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "repl --bogus: exit $rc, expected 2"
has "modelc repl: unknown option '--bogus'"
repl 1 nosuch.model </dev/null
has "error: cannot read 'nosuch.model'"

# -- every command that succeeds: exit 0 ---------------------------------------
repl 0 m.model <<'END'
help
help train
show
print fc2.bias
print fc1.weight
print mean(fc1.weight)
sum(fc2.bias * 0) + 1
sum(fc2.bias * 0) + 0.00002
sum(fc2.bias * 0) + 250000
fc2.bias
mean(x) * 0
out[0]
set
set lr 0.01
set momentum 0.5
train 20 steps
losses
evaluate
set holdout 0.25
train 1 epoch
evaluate
dim B=32
save ck.safetensors
restore ck.safetensors
memory
time
ir forward
ir grad autodiff
ir step
dot forward g.dot
llvm forward f.ll
set optimizer sgd
set momentum 0.9
set nesterov on
set clip-norm 1
train 5 steps
data
data clear
eval
quit
show
END
has "modelc> load 'm.model'"
has "model seed_net: 4 params, 430 weights"
has "  train     [N] [steps|epochs]"
has "train [N] [steps|epochs]"
has "  param  fc1.weight       f32[20,10]             200  norm "
has "fc2.bias = tensor(["
has "mean(x) * 0 = 0.0000 (f32)"
has "out[0] = tensor(["
has "fc1.weight = tensor(f32[20,10], 200 values) ["
has "  mean "
has "mean(fc1.weight) = "
has "sum(fc2.bias * 0) + 1 = 1.0000 (f32)"
has "sum(fc2.bias * 0) + 0.00002 = 2.0000e-05 (f32)"
has "sum(fc2.bias * 0) + 250000 = 2.5000e+05 (f32)"
has "fc2.bias = tensor(["
has "optimizer adam  lr 0.001  betas 0.9,0.999  eps 1e-08  weight-decay 0"
has "lr = 0.01 (no recompilation)"
has "epoch 2 (stopped at step 4/16): train loss"
has "loss over 20 steps (first "
has "trained 20 steps (1 epochs); no evaluation data"
has "held-out loss: "
has "recompiled: kept 12 of 12 param tensors"
has "saved ck.safetensors (step 0)"
has "restored ck.safetensors (step 0, epoch 0)"
has "step    "
has "one training step: "
has "graph @seed_net {"
has "dim B = 32"
has "autodiff"
has "wrote g.dot ("
has "wrote f.ll ("
has "recompiled: kept 4 of 8 param tensors"
has "no training data"
has "no evaluation data"
hasnt "error"
grep -q "^digraph" g.dot || fail "g.dot is not DOT"
grep -q "define" f.ll || fail "f.ll has no LLVM function"
[ "$(grep -c '^modelc> show$' "$TMP/out")" = 1 ] || fail "quit did not end the session"

printf 'model oops {\n  input x: f32[4]\n  output y = x +\n}\n' >bad.model

# -- each error: a caret under the word, the session goes on, exit 1 ---------------
repl 1 <<'END'
show
load nosuch.model
load m.model
bogus
sho
help nope
print nope
print
print nosuch(fc1.bias)
set lx 3
set lr -1
set optimizer rmsprop
set batch 0
train 0
train 3 fortnights
dim B
dim B=0
data x
data nope=m.model
ir sideways
ir forward nopass
restore nosuch.safetensors
save /nonexistent/dir/ck.safetensors
build m.txt
set 'lr
reload
set batch 16
load bad.model
show
END
has "error: no model loaded (use 'load FILE')"
has "error: cannot read 'nosuch.model': "
has "<stdin>:4:1: error: unknown command 'bogus' (try 'help')"
has "error: unknown command 'sho' (did you mean 'show'?)"
has "<stdin>:6:6: error: unknown command 'nope'"
has "unknown name 'nope'"
has "error: usage: print PARAM|EXPR"
has "<stdin>:9:7: error: unknown name 'nosuch'"
has "  print nosuch(fc1.bias)"
hasnt "__repl_value"
has "<stdin>:10:5: error: unknown setting 'lx' (did you mean 'lr'?)"
has "<stdin>:11:8: error: expected a number > 0"
has "error: expected sgd, adam or adamw"
has "error: expected a positive whole number"
has "error: expected a positive number of steps or epochs"
has "<stdin>:15:9: error: expected steps or epochs"
has "error: expected NAME=VALUE with a positive whole VALUE"
has "<stdin>:18:6: error: --data 'x': expected NAME=PATH"
has "<stdin>:19:6: error: model 'seed_net' has no input 'nope' (see 'show')"
has "error: unknown pass 'nopass'"
has "error: expected forward, grad or step"
has "nosuch.safetensors"
has "/nonexistent/dir/ck.safetensors: cannot save: "
has "error: build: the output 'm.txt' must end in .so, .o or .a"
has "error: unterminated quote"
has "reloaded: kept 12 of 12 param tensors"
has "recompiled: kept 12 of 12 param tensors"
has "bad.model:"
has "  param  fc2.bias"
[ "$(grep -c 'model seed_net (m.model)' "$TMP/out")" = 1 ] || fail "a failed load replaced the model"

# -- a script file: its lines are named FILE:N, expressions are reported at the
# typed text, one error per mistake, hints for habits from PyTorch ---------------------
cat >steps.txt <<'END'
print fc1.bias
x @ 3
print fc1.weight.T
w = param f32[5, 4] = normal()
print relu(x
print torch.relu(x)
trian
foo
print 2 * 3
END
repl 1 m.model <steps.txt
has "steps.txt:2:3: error: '@' needs two tensors, got a number"
has "  x @ 3"
has "steps.txt:3:18: error: a tensor has no member 'T': tensors have no methods; write transpose(fc1.weight)"
has "steps.txt:4:1: error: 'w = ...' defines a name, which only the model file does"
has "steps.txt:5:13: error: expected ')' or ',' before end of line"
has "steps.txt:5:11: note: to match this '('"
has "steps.txt:6:7: error: unknown name 'torch'; there are no modules"
has "steps.txt:7:1: error: unknown command 'trian' (did you mean 'train'?)"
has "steps.txt:8:1: error: unknown command 'foo' (try 'help')"
has "2 * 3 = 6.0000 (f32)"
hasnt "m.model:1"
[ "$(grep -c 'error:' "$TMP/out")" = 7 ] || { cat "$TMP/out" >&2; fail "expected one error per mistake (7)"; }

# -- a model without a loss: the load says what to add, and the next commands say why
# there is no model instead of repeating the same error ------------------------------
printf 'model m {\n  input x: f32[4, 3]\n  fc = linear(3, 2)\n  output y = fc(x)\n}\n' >inference.model
repl 1 inference.model <<'END'
train 1
END
has "error: train: model 'm' has no loss to minimize: add a statement such as \`minimize mse(y, target)\`"
has "<stdin>:1:1: error: no model loaded: loading 'inference.model' failed (fix it, then 'load' it again)"

# -- a long run leaves about 10 epoch lines and a summary, not one line per epoch -------
repl 0 m.model <<'END'
set limit 128
train 30
END
[ "$(grep -c '^epoch [0-9]*/30: ' "$TMP/out")" -le 30 ] || fail "more epoch lines than epochs"
for k in 1 3 6 9 12 15 18 21 24 27 30; do has "epoch $k/30: train loss"; done
has "30 epochs in "
has "(a line per 3 epochs shown)"

# -- a change that does not compile leaves the settings as they were ---------------------
sed 's/^  B = 64.*//; s/\[B, /[4, /g' m.model >fixed.model
repl 1 fixed.model <<'END'
set batch 16
set
END
has "error: train: --batch: model 'seed_net' has no named batch dim"
has "batch 0  seed 0"

# -- reload after an edit keeps the params whose names and shapes match ---------------
# The session reads a fifo; the file is edited once the first print is out.
cp "$SRC/examples/seed_net.model" a.model
mkfifo in
{
  printf 'load a.model\ntrain 5 steps\nprint fc1.bias\n'
  n=0
  until grep -q '^fc1.bias = ' "$TMP/out" 2>/dev/null || [ $n -ge 300 ]; do sleep 0.1; n=$((n + 1)); done
  sed -i 's/fc2 = linear(20, 10)/fc2 = linear(20, 30)\n  fc3 = linear(30, 10)/; s/out = fc2(relu(fc1(x)))/out = fc3(relu(fc2(relu(fc1(x)))))/' a.model
  printf 'reload\nprint fc1.bias\nshow\n'
} >in &
repl 0 <in
wait
has "reloaded: kept 6 of 18 param tensors"
[ "$(grep -c '^fc1.bias = ' "$TMP/out")" = 2 ] || fail "fc1.bias not printed twice"
a=$(grep '^fc1.bias = ' "$TMP/out" | sed -n 1p)
b=$(grep '^fc1.bias = ' "$TMP/out" | sed -n 2p)
[ "$a" = "$b" ] || fail "fc1.bias changed across the reload: $a / $b"
has "  param  fc3.weight       f32[10,30]"
echo "repl_script: ok"

# -- build: a library with the session's weights ----------------------------------
repl 0 m.model <<'END'
train 2 steps
build libm.so
END
has "built libm.so from the session's weights (step 2)"
[ -s libm.so ] && [ -s seed_net.h ] && [ -s libm.json ] || fail "build made no library, header or manifest"
grep -q '"name": "fc1.weight"' libm.json || fail "the manifest lacks fc1.weight"

# -- init-from: params by name (with OLD=NEW rules), the rest at their initializers ----------
sed 's/fc1/enc/g' m.model >r.model
repl 0 m.model <<'END'
train 2 steps
save ck2.safetensors
END
repl 1 r.model <<'END'
init-from ck2.safetensors
init-from ck2.safetensors fc1.=enc.
init-from ck2.safetensors fc1
END
has "ck2.safetensors: loaded 2 of 4 params; left at their initializers: enc.weight, enc.bias"
has "ck2.safetensors: loaded all 4 params"
has "expected OLD=NEW (a name-prefix rule, at most 16), got 'fc1'"
