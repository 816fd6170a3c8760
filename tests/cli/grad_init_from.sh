#!/bin/sh
# grad_init_from.sh -- starting from given weights and writing gradients:
# `modelc train --init-from` fills the params named in a safetensors file
# (notes name those left at their initializers and the unused tensors; a
# shape mismatch, a file matching no param and --resume with it are errors);
# `modelc grad` writes the loss, the outputs and grad.P for the first batch
# of the data in file order, from --weights exactly, in f32 (JIT) or f64
# (evaluator), and rejects bad usage.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"

# two linear layers; the variants differ in fc1's width or in their names
model() { # NAME FC1_OUT FC2_NAME
  cat >"$TMP/$1.model" <<EOF
model $1 {
  B = 4
  input x: f32[B, 3]
  input y: f32[B, 2]
  fc1 = linear(3, $2)
  $3 = linear($2, 2)
  out = $3(relu(fc1(x)))
  output out
  minimize mse(out, y)
}
EOF
}
model net 5 fc2
model wide 6 fc2
model other 5 head
M="$TMP/net.model"
# 6 samples, one per line: 3 features, 2 targets
awk 'BEGIN { for (i = 0; i < 6; i++) printf "%d,%.2f,%.2f,%.2f,%.2f\n", i - 2, i * 0.5, 1 - i * 0.25, (i % 3) - 1, i * 0.1 }' \
  >"$TMP/d.csv"
head -4 "$TMP/d.csv" >"$TMP/d4.csv"
D="--data x=$TMP/d.csv,cols=0:3 --data y=$TMP/d.csv,cols=3:"
D4="--data x=$TMP/d4.csv,cols=0:3 --data y=$TMP/d4.csv,cols=3:"
# keys KEY...: the file $TMP/g.st has exactly these tensors
keys() {
  got=$(head -c 4000 "$TMP/g.st" | tr -c '[:print:]' '\n' | grep -o '"[a-z0-9_.]*":{"dtype"' |
        sed 's/"\([^"]*\)".*/\1/' | sort | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  [ "$got" = "$want" ] || fail "g.st holds '$got', expected '$want'"
}

# --- modelc grad ----------------------------------------------------------------------
run 0 grad "$M" $D -o "$TMP/g.st"
has_out "^$TMP/g.st: loss [0-9.e+-]*, 1 outputs, 4 gradients (batch 4, f32)\$"
keys loss out grad.fc1.weight grad.fc1.bias grad.fc2.weight grad.fc2.bias
grep -q '"dtype":"F32"' "$TMP/g.st" || fail "the f32 gradients are not F32"
loss32=$(sed -n 's/.*: loss \([^,]*\),.*/\1/p' "$TMP/out")
cp "$TMP/g.st" "$TMP/g6.st"
# the first batch in file order: the two extra samples change nothing
run 0 grad "$M" $D4 -o "$TMP/g.st"
cmp -s "$TMP/g.st" "$TMP/g6.st" || fail "grad did not use the first 4 samples in file order"
run 0 grad "$M" $D --f64 -o "$TMP/g.st"
has_out "(batch 4, f64)\$"
grep -q '"dtype":"F64"' "$TMP/g.st" || fail "the f64 gradients are not F64"
loss64=$(sed -n 's/.*: loss \([^,]*\),.*/\1/p' "$TMP/out")
awk -v a="$loss32" -v b="$loss64" 'BEGIN { d = a - b; exit !(d * d <= 1e-12 * b * b) }' ||
  fail "f32 loss $loss32 and f64 loss $loss64 differ by more than 1e-6 relative"
# without data: seeded random data, as train uses
run 0 grad "$M" -o "$TMP/g.st"
has_err "seeded N(0,1) random data"

# --- --init-from / --weights --------------------------------------------------------------
# params identical to seed 0's initial ones (SGD with a negligible step), but saved with
# Adam state: loading them under another seed gives seed 0's gradients, byte for byte
run 0 train "$M" $D --optimizer sgd --lr 1e-30 --steps 1 --save "$TMP/init0.st"
run 0 grad "$M" $D4 -o "$TMP/g0.st"
run 0 grad "$M" $D4 --seed 7 -o "$TMP/g.st"
cmp -s "$TMP/g.st" "$TMP/g0.st" && fail "another seed gave the same params"
run 0 grad "$M" $D4 --seed 7 --weights "$TMP/init0.st" -o "$TMP/g.st"
cmp -s "$TMP/g.st" "$TMP/g0.st" || fail "--weights did not load the params exactly"
has_err "^modelc: note: $TMP/init0.st: loaded all 4 params\$"
has_err "not used (model 'net' has no param of that name): fc1.bias.momentum_buffer, "
run 0 train "$M" $D --init-from "$TMP/init0.st" --steps 2 --save "$TMP/c.st"
has_err "loaded all 4 params"
# a file with some of the params: the others keep their initializers
run 0 train "$TMP/other.model" $D --steps 1 --save "$TMP/other.st"
run 0 train "$M" $D --init-from "$TMP/other.st" --steps 1
has_err "other.st: loaded 2 of 4 params; left at their initializers: fc2.weight, fc2.bias\$"
has_err "other.st: not used (model 'net' has no param of that name): .*head.weight"
# errors
run 1 train "$M" $D --init-from "$TMP/wide.st" --steps 1
has_err "^modelc: error: $TMP/wide.st: cannot open: No such file or directory\$"
run 0 train "$TMP/wide.model" $D --steps 1 --save "$TMP/wide.st"
run 1 train "$M" $D --init-from "$TMP/wide.st" --steps 1
has_err "^modelc: error: $TMP/wide.st: tensor 'fc1.weight' has shape \[6,3\]; the model's param has \[5,3\] (f32\[5,3\])\$"
run 1 grad "$M" $D --weights "$TMP/wide.st" -o "$TMP/g.st"
has_err "tensor 'fc1.weight' has shape \[6,3\]"
run 1 grad "$M" $D --weights "$TMP/g0.st" -o "$TMP/g.st"
has_err "g0.st: no tensor is named like a param of model 'net' (its params: fc1.weight, fc1.bias, fc2.weight, fc2.bias)"
run 2 train "$M" --init-from "$TMP/init0.st" --resume "$TMP/init0.st"
has_err "give one of them"

# --- train --f64: the reference evaluator's steps, params and state saved in f64 ---------------
run 0 train "$M" $D4 --init-from "$TMP/init0.st" --optimizer adam --steps 3 --save "$TMP/c32.st"
grep -q '"dtype":"F64"' "$TMP/c32.st" && fail "an f32 run saved F64 tensors"
run 0 train "$M" $D4 --init-from "$TMP/init0.st" --optimizer adam --steps 3 --save "$TMP/c64.st" --f64
grep -q '"dtype":"F32"' "$TMP/c64.st" && fail "the --f64 run saved F32 tensors"
[ "$(head -c 4000 "$TMP/c64.st" | grep -a -o '"dtype":"F64"' | wc -l)" -eq 12 ] ||
  fail "the --f64 checkpoint does not hold the 4 params and 8 Adam state tensors in F64"
# the same step as the JIT's: the final training loss agrees to the 4 digits printed
l32=$(sed -n 's/^epoch 3: train loss \([0-9.]*\).*/\1/p' "$TMP/out")
run 0 train "$M" $D4 --init-from "$TMP/init0.st" --optimizer adam --steps 3 --f64
l64=$(sed -n 's/^epoch 3: train loss \([0-9.]*\).*/\1/p' "$TMP/out")
[ -n "$l32" ] && [ "$l32" = "$l64" ] || fail "f64 loss '$l64' is not the f32 run's '$l32'"
# an f64 checkpoint does not resume an f32 run
run 1 train "$M" $D4 --optimizer adam --resume "$TMP/c64.st" --steps 4
has_err "c64.st: tensor 'fc1.weight' is f64; the model's param is f32\[5,3\]"

# --- usage --------------------------------------------------------------------------------
run 2 grad "$M" $D
has_err "missing -o OUT.safetensors"
run 2 grad "$M" --data "x" -o "$TMP/g.st"
has_err "^modelc grad: --data x: "
run 2 grad "$M" --batch 0 -o "$TMP/g.st"
has_err "\-\-batch expects a positive integer, got '0'"
run 1 grad "$M" $D --batch 8 -o "$TMP/g.st"
has_err "fewer than the batch size 8"
run 1 grad "$M" --data "z=$TMP/d.csv" -o "$TMP/g.st"
has_err "has no input 'z'"
run 0 help grad
has_out "grad.P"
