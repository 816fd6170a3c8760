#!/bin/sh
# build_errors.sh -- `modelc build` on bad command lines and models it
# cannot make a library of: each a clear message and the conventional exit
# code (2 for usage, 1 for the rest), no output file left behind; and the
# help, a named target CPU and the batch-dim checks.
set -e
. "$(dirname "$0")/lib/common.sh"
cd "$TMP"

run 0 help build
has_out "Usage: modelc build FILE -o"
has_out "  --train "
has_out "  --weights CKPT "
has_out "  --target-cpu CPU "

run 2 build "$SRC/examples/seed_net.model"
has_err "modelc build: -o OUTPUT is required"
run 2 build "$SRC/examples/seed_net.model" -o lib.txt
has_err "the output must end in .so, .o or .a"
run 2 build "$SRC/examples/seed_net.model" -o lib.so --optimizer rmsprop
has_err "--optimizer expects sgd, adam or adamw, got 'rmsprop'"
run 2 build "$SRC/examples/seed_net.model" -o lib.so --trian
has_err "unknown option '--trian' (did you mean '--train'?)"
run 2 build "$SRC/examples/seed_net.model" -o lib.so --nesterov
has_err "--nesterov applies to --optimizer sgd only"

run 1 build "$SRC/examples/seed_net.model" -o lib.so --target-cpu bogus
has_err "error: build: --target-cpu 'bogus': LLVM does not know this CPU"
# a portable library (AVX2, no newer features) builds
run 0 build "$SRC/examples/seed_net.model" -o libportable.so --target-cpu x86-64-v3
[ -s libportable.so ] || fail "--target-cpu x86-64-v3 made no library"
run 1 build "$SRC/examples/seed_net.model" -o lib.so -D B=4
has_err "error: build: 'B' is the model's batch dim, bound per call: -D cannot fix it"
run 1 build nosuch.model -o lib.so
has_err "cannot read 'nosuch.model'"
run 1 build "$SRC/examples/seed_net.model" -o lib.so --weights nosuch.safetensors
has_err "nosuch.safetensors"
run 1 build "$SRC/examples/seed_net.model" -o lib.so --prefix 9lives
has_err "the symbol prefix '9lives' is not a C name"

cat >noloss.model <<'EOF'
model noloss {
  B = batch(4)
  input x: f32[B, 3]
  fc = linear(3, 2)
  output y = fc(x)
}
EOF
run 1 build noloss.model -o lib.so --train
has_err "build: --train: model 'noloss' has no loss to minimize"
run 0 build noloss.model -o libnoloss.so
[ -s libnoloss.so ] && [ -s noloss.h ] && [ -s libnoloss.json ] || fail "no library, header or manifest"

# the batch in two dims of one tensor: not linear in the batch
cat >gram.model <<'EOF'
model gram {
  B = batch(4)
  input x: f32[B, 3]
  output g = x @ transpose(x)
}
EOF
run 1 build gram.model -o libgram.so
has_err "gram.model:4:"
has_err "the batch dim is in two axes of a tensor"
has_err "(or fix the batch with -D)"
# ... which a model with a fixed batch builds (a library for that batch)
sed 's/batch(4)/4/' gram.model >gram4.model
run 0 build gram4.model -o libgram4.so
grep -q '"batch_dim": null' libgram4.json || fail "a model without a batch dim has one in its manifest"

# nothing left behind by the failures
for f in lib.so lib.txt libgram.so libgram.json; do
  [ ! -e "$f" ] || fail "a failed build left $f"
done
