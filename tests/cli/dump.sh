#!/bin/sh
# dump.sh -- `modelc dump` (forward and grad stages, pipelines, print-after,
# DOT rendered by Graphviz when installed, -o) and `modelc opt` (round trip
# of a dumped graph, passes, errors in IR text).
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"

# Failures show only the head of large IR dumps.
run() {
  want=$1; shift
  rc=0
  "$MODELC" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" = "$want" ] || {
    head -n 20 "$TMP/out" >&2
    cat "$TMP/err" >&2
    fail "modelc $*: exit $rc, expected $want"
  }
}
has_out() { grep -q -- "$1" "$TMP/out" || { head -n 40 "$TMP/out" >&2; fail "stdout lacks '$1'"; }; }
lacks_out() { ! grep -q -- "$1" "$TMP/out" || fail "stdout should not contain '$1'"; }
SEED="$SRC/examples/seed_net.model"
MLP="$SRC/examples/mlp.model"

# Forward stage: header with the file table, params, inputs, outputs, loss.
run 0 dump "$MLP"
has_out "^# file 1: .*examples/mlp\.model$"
has_out "^graph @mlp {"
for p in fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias; do
  has_out "= param \"$p\""
done
has_out '= input "x" : f32\[B,784\]'
has_out '= input "y" : i32\[B\]'
has_out '^  output "logits" = %'
has_out '^  loss "'
has_out 'loc(1:'
lacks_out '^  grad "'
cp "$TMP/out" "$TMP/mlp_fwd.mir"

# Grad stage: one grad output per param, in param order; both option forms agree.
run 0 dump "$MLP" --stage grad
for p in fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias; do
  has_out "^  grad \"$p\" = %"
done
grep '^  grad "' "$TMP/out" | sed 's/ = .*//' >"$TMP/grads"
printf '  grad "%s"\n' fc1.weight fc1.bias fc2.weight fc2.bias fc3.weight fc3.bias | cmp -s - "$TMP/grads" ||
  fail "grad outputs not in param order: $(cat "$TMP/grads")"
cp "$TMP/out" "$TMP/mlp_grad.mir"
run 0 dump --stage=grad "$MLP"
cmp -s "$TMP/out" "$TMP/mlp_grad.mir" || fail "--stage=grad and --stage grad differ"

# seed_net: grads of fc1/fc2, and of the float inputs with --grad-inputs.
run 0 dump "$SEED" --stage grad --grad-inputs
for p in fc1.weight fc1.bias fc2.weight fc2.bias x target; do has_out "^  grad \"$p\" = %"; done

# -D rebinds the dim; --passes '' prints the graph as the front end built it.
run 0 dump "$SEED" -D B=2
has_out '^  dim B = 2 batch$'
run 0 dump "$SEED" --passes=
has_out "passes ''"

# --print-after and --print-after-all.
run 0 dump "$SEED" --stage grad --print-after=autodiff
[ "$(grep -c '^# --- after autodiff ---' "$TMP/out")" = 1 ] || fail "--print-after=autodiff: no single header"
[ "$(grep -c '^graph @seed_net' "$TMP/out")" = 2 ] || fail "--print-after=autodiff: expected 2 graphs"
run 0 dump "$SEED" --print-after-all
has_out '^# --- input ---'
for p in simplify cse dce; do has_out "^# --- after $p ---"; done

# -o writes the file and nothing to stdout.
run 0 dump "$SEED" -o "$TMP/seed.mir"
[ ! -s "$TMP/out" ] || fail "dump -o printed on stdout"
grep -q '^graph @seed_net' "$TMP/seed.mir" || fail "dump -o: file lacks the graph"

# DOT: // header, a digraph; rendered by Graphviz when it is installed.
run 0 dump "$MLP" --stage grad --format dot
has_out '^// file 1: '
has_out 'digraph'
cp "$TMP/out" "$TMP/mlp.dot"
if command -v dot >/dev/null 2>&1; then
  dot -Tsvg "$TMP/mlp.dot" >"$TMP/mlp.svg" 2>"$TMP/dot.err" || fail "dot -Tsvg failed: $(cat "$TMP/dot.err")"
  grep -q '<svg' "$TMP/mlp.svg" || fail "dot produced no SVG"
else
  echo "dump.sh: graphviz not installed, DOT not rendered"
fi

# opt: the dumped text round-trips (the header comments aside), from a file and from stdin.
for f in mlp_fwd mlp_grad; do
  grep -v '^#' "$TMP/$f.mir" >"$TMP/$f.body"
  run 0 opt "$TMP/$f.mir"
  cmp -s "$TMP/out" "$TMP/$f.body" || { diff "$TMP/$f.body" "$TMP/out" | head -n 20 >&2; fail "opt $f.mir: not the same text"; }
  rc=0
  "$MODELC" opt - <"$TMP/$f.mir" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" = 0 ] || fail "opt - <$f.mir: exit $rc: $(cat "$TMP/err")"
  cmp -s "$TMP/out" "$TMP/$f.body" || fail "opt - <$f.mir: not the same text"
done
# The forward dump through autodiff in opt equals the grad stage's tail pipeline.
run 0 opt "$TMP/mlp_fwd.mir" --passes=autodiff,simplify,cse,dce,fuse
cmp -s "$TMP/out" "$TMP/mlp_grad.body" || fail "opt --passes=autodiff,simplify,cse,dce,fuse differs from dump --stage grad"
run 0 opt "$TMP/mlp_grad.mir" --passes cse,dce --format=dot
has_out 'digraph'

# opt: errors in IR text are diagnostics with a location (exit 1).
printf 'graph @broken {\n  %%0 = frobnicate : f32[]\n}\n' >"$TMP/broken.mir"
run 1 opt "$TMP/broken.mir"
grep -q "broken\.mir:2:[0-9]*: error: " "$TMP/err" || fail "opt on bad IR: $(cat "$TMP/err")"
# A forward graph without a loss: autodiff fails with a diagnostic (exit 1).
printf 'graph @noloss {\n  %%0 = input "x" : f32[3]\n  output "y" = %%0\n}\n' >"$TMP/noloss.mir"
run 0 opt "$TMP/noloss.mir"
run 1 opt "$TMP/noloss.mir" --passes=autodiff
grep -q "error: .*loss" "$TMP/err" || fail "autodiff without loss: $(cat "$TMP/err")"

# The training step, the generated code and the compiled programs' statistics.
run 0 dump "$SRC/examples/seed_net.model" --stage step
has_out '^  update "fc1.weight" = %'
has_out '^  update "fc2.bias" = %'
has_out '= input "opt.lr" : f32\[\]'
run 0 dump "$SRC/examples/seed_net.model" --emit llvm
has_out '^define .*@run('
has_out 'fmul'
# every kernel asks the loop vectorizer for the target's vector width
has_out '"prefer-vector-width"="\(128\|256\|512\)"'
# the packed microkernel prefetches C's tile for writing before its k loop
run 0 dump "$SRC/examples/mlp.model" --emit llvm
has_out 'call void @llvm.prefetch.p0(ptr .*, i32 1, i32 3, i32 1)'
run 0 dump "$SRC/examples/seed_net.model" --emit asm --stage grad
has_out 'retq$'
run 0 dump "$SRC/examples/mlp.model" --stats
has_out '^forward  *[0-9][0-9]* nodes  *[0-9][0-9]* kernels  compile [0-9.]* s  workspace [0-9.]* MiB planned, [0-9.]* MiB naive'
has_out '^train step  *[0-9][0-9]* nodes'
run 2 dump "$SRC/examples/mlp.model" --emit wasm
grep -q "expects 'ir', 'llvm' or 'asm'" "$TMP/err" || fail "--emit wasm: $(cat "$TMP/err")"
echo "dump.sh: ok"
