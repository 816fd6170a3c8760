#!/bin/sh
# repl_doc.sh -- runs the session of docs/repl.md (Fashion-MNIST's mlp, one
# short epoch then two more, evaluated) and compares its output with the
# page, timings and fractional figures aside; the held-out accuracy must reach 0.65. Skipped when
# the dataset (Debian package dataset-fashion-mnist) is not installed.
set -e
. "$(dirname "$0")/lib/common.sh"
DATA=/usr/share/datasets/fashion-mnist
if [ ! -r "$DATA/t10k-images-idx3-ubyte.gz" ] || [ ! -r "$DATA/t10k-labels-idx1-ubyte.gz" ]; then
  echo "SKIP: no Fashion-MNIST in $DATA (install dataset-fashion-mnist)"
  exit 0
fi
# The console block after the marker, without its "$ modelc repl" line.
awk '/<!-- repl-transcript -->/ { on = 1; next }
     on && /^```console/ { inside = 1; next }
     inside && /^```/ { exit }
     inside' "$SRC/docs/repl.md" | tail -n +2 >"$TMP/want"
[ -s "$TMP/want" ] || fail "no transcript in docs/repl.md"
# Its commands, after the first (the load that FILE makes).
sed -n 's/^modelc> //p' "$TMP/want" | tail -n +2 >"$TMP/cmds"
cd "$SRC"
rc=0
# Through a pipe the lines are "<stdin>:N"; at a terminal, as the page shows, "<repl>:N".
cat "$TMP/cmds" | { MODELC_HISTORY= timeout 60 "$MODELC" repl examples/mlp.model >"$TMP/got.raw" 2>&1 || echo $? >"$TMP/rc"; }
[ -f "$TMP/rc" ] && rc=$(cat "$TMP/rc")
sed 's/^<stdin>:/<repl>:/' "$TMP/got.raw" >"$TMP/got"
# The transcript ends with two mistakes (fc1.weight.T, print fc4.bias), so the exit status is 1.
[ "$rc" = 1 ] || { cat "$TMP/got" >&2; fail "exit $rc, expected 1"; }
# Timings aside, and every fractional number (losses, norms, accuracies) is
# masked: float results may differ in the last bits on another CPU (vector
# width, FMA); the accuracy bound below checks the training itself.
normalize() {
  sed -E -e 's/\([0-9.]+ s, [0-9]+ samples\/s\)/(TIME)/' \
    -e 's/-?[0-9]+\.[0-9]+(e[-+]?[0-9]+)?/#/g' "$1"
}
normalize "$TMP/want" >"$TMP/want.n"
normalize "$TMP/got" >"$TMP/got.n"
diff -u "$TMP/want.n" "$TMP/got.n" >&2 || fail "the session differs from docs/repl.md"
acc=$(sed -n 's/^held-out accuracy: \([0-9.]*\) (500 samples.*/\1/p' "$TMP/got" | tail -1)
awk -v a="$acc" 'BEGIN { exit !(a + 0 >= 0.65) }' || fail "held-out accuracy '$acc' < 0.65"
echo "repl_doc: transcript matches; held-out accuracy $acc"
