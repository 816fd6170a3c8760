#!/bin/sh
# check.sh -- `modelc check`: the summary of each example, -D overrides,
# stdin, and the diagnostics of a shape mismatch and a syntax error.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"

first_line_is() {
  head -n 1 "$TMP/out" | grep -qxF -- "$1" || fail "summary is '$(head -n 1 "$TMP/out")', expected '$1'"
}
# Fixed strings here (summary lines hold brackets), not regexes.
has_out() { grep -qF -- "$1" "$TMP/out" || { cat "$TMP/out" >&2; fail "stdout lacks '$1'"; }; }

# Every example compiles; the expected summaries of the three reference models.
for f in "$SRC"/examples/*.model; do
  run 0 check "$f"
  head -n 1 "$TMP/out" | grep -Eq '^[A-Za-z_][A-Za-z0-9_]*: ok: [0-9]+ inputs?, [0-9]+ params? \([0-9]+ weights?\), [0-9]+ outputs?, ([0-9]+ frozen, )?([0-9]+ buffers?, )?(loss [a-z0-9]+\[[^]]*\]|no loss)$' ||
    fail "$f: bad summary line: $(head -n 1 "$TMP/out")"
  [ ! -s "$TMP/err" ] || fail "$f: unexpected stderr: $(cat "$TMP/err")"
done

# A model without `minimize` is an inference model: it checks, with no loss.
cat >"$TMP/infer.model" <<'EOF'
model infer {
  input x: f32[2, 3]
  fc = linear(3, 4)
  output y = relu(fc(x))
}
EOF
run 0 check "$TMP/infer.model"
first_line_is "infer: ok: 1 input, 2 params (16 weights), 1 output, no loss"

# Batch norm's running statistics are buffers, updated by the training step.
run 0 check "$SRC/examples/resnet_mini.model"
first_line_is "resnet_mini: ok: 2 inputs, 29 params (77754 weights), 1 output, 18 buffers, loss f32[]"
has_out "  update layer2.down_bn.running_var: f32[32]"

run 0 check "$SRC/examples/seed_net.model"
first_line_is "seed_net: ok: 2 inputs, 4 params (430 weights), 1 output, loss f32[]"
has_out "  input  x: f32[B,10]"
has_out "  input  target: f32[B,10]"
has_out "  output out: f32[B,10]"
has_out "  loss   "
has_out "  dims  B=64"

run 0 check "$SRC/examples/mlp.model"
first_line_is "mlp: ok: 2 inputs, 6 params (535818 weights), 1 output, loss f32[]"
has_out "  input  x: f32[B,784]"
has_out "  input  y: i32[B]"

run 0 check "$SRC/examples/gpt.model"
first_line_is "gpt: ok: 2 inputs, 53 params (826112 weights), 1 output, loss f32[]"

# -D overrides a dim; stdin with '-'.
run 0 check "$SRC/examples/seed_net.model" -D B=3
has_out "  input  x: f32[B,10]"
has_out "  dims  B=3"
rc=0
"$MODELC" check - <"$SRC/examples/seed_net.model" >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 0 ] || fail "check - (stdin): exit $rc: $(cat "$TMP/err")"
first_line_is "seed_net: ok: 2 inputs, 4 params (430 weights), 1 output, loss f32[]"

# A shape mismatch: file:line:col: error: naming both shapes, the source line, a caret.
cd "$TMP"
cat >shape.model <<'EOF'
model bad_shapes {
  input a: f32[4, 10]
  input b: f32[20, 3]
  output c = a @ b
  minimize sum(c)
}
EOF
run 1 check shape.model
has_err '^shape\.model:4:[0-9][0-9]*: error: .*f32\[4,10\].*f32\[20,3\]'
has_err '^ *output c = a @ b$'
has_err '^ *\^'
[ "$(grep -c ': error: ' "$TMP/err")" = 1 ] || fail "expected exactly one error: $(cat "$TMP/err")"
[ ! -s "$TMP/out" ] || fail "check of a bad model printed on stdout: $(cat "$TMP/out")"

# A syntax error: the location of the unexpected token.
cat >syntax.model <<'EOF'
model bad_syntax {
  input x: f32[4, 10]
  y = relu(x))
  output y
  minimize sum(y)
}
EOF
run 1 check syntax.model
has_err '^syntax\.model:3:[0-9][0-9]*: error: '
has_err '^ *y = relu(x))$'
has_err '^ *\^'

# An unknown dim in -D is an error of the model, not of the command line.
run 1 check "$SRC/examples/seed_net.model" -D NOPE=2
has_err "error: .*NOPE"
echo "check.sh: ok"
