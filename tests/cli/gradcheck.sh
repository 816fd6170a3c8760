#!/bin/sh
# gradcheck.sh -- `modelc gradcheck` passes on the examples with the worst
# relative error below 1e-6 (parsed and compared numerically), checks
# input gradients with --inputs, fails on a tiny --tol and on a model
# without a loss.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"


# worst_below LIMIT: the figure of "worst relative error: X (...)" is < LIMIT.
worst_below() {
  worst=$(sed -n 's/^worst relative error: \([^ ]*\) (.*$/\1/p' "$TMP/out")
  [ -n "$worst" ] || { cat "$TMP/out" >&2; fail "no 'worst relative error' line"; }
  awk -v x="$worst" -v lim="$1" 'BEGIN { exit !(x + 0 < lim + 0) }' ||
    fail "worst relative error $worst is not below $1"
}

# rows N: the table has N rows of relative errors (one per checked tensor).
rows() {
  n=$(sed -n '/^param /,/^worst relative error/p' "$TMP/out" | sed '1d;$d' | wc -l)
  [ "$n" -eq "$1" ] || { cat "$TMP/out" >&2; fail "expected $1 table rows, got $n"; }
}

run 0 gradcheck "$SRC/examples/seed_net.model"
has_out '^gradcheck: PASS$'
has_out '^fc1\.weight  *f32\[20,10\] '
has_out '^fc2\.bias  *f32\[10\] '
rows 4
worst_below 1e-6

run 0 gradcheck "$SRC/examples/seed_net.model" --inputs --seed 7
rows 6
has_out '^x  *f32\[B,10\] .*(input)$'
worst_below 1e-6

run 0 gradcheck "$SRC/examples/mlp.model"
has_out '^gradcheck: PASS$'
rows 6
worst_below 1e-6

run 0 gradcheck "$SRC/examples/gpt.model" -D B=2
has_out '^gradcheck: PASS$'
has_out '^layers\.3\.mlp\.c_proj\.weight '
rows 53
worst_below 1e-6

# Batch norms in train mode (their gradients go through simplify's sums
# with the per-channel factors taken out): every tensor of resnet_mini at
# the default 1e-6. Its direction for layer2.bn2.weight is nearly
# orthogonal to the gradient (<grad,u> 7.2e-6 where |g| / sqrt(n) is
# 6.5e-3): relative to <grad,u> alone the differences' own error read 2.3e-6.
run 0 gradcheck "$SRC/examples/resnet_mini.model" -D B=2
has_out '^gradcheck: PASS$'
has_out '^layer3\.bn2\.weight '
has_out '^layer2\.bn2\.weight  *f32\[32\]  *7\.186[0-9]*e-06 '
rows 29
worst_below 1e-6

# A tolerance nothing meets: FAIL and exit 1, the table still printed.
run 1 gradcheck "$SRC/examples/seed_net.model" --tol=1e-300
has_out '^gradcheck: FAIL$'
rows 4

# No loss: a diagnostic, exit 1.
cat >"$TMP/noloss.model" <<'EOF'
model noloss {
  input x: f32[2, 3]
  fc = linear(3, 4)
  output y = fc(x)
}
EOF
run 1 gradcheck "$TMP/noloss.model"
grep -q "error: .*no loss" "$TMP/err" || fail "no-loss model: $(cat "$TMP/err")"
echo "gradcheck.sh: ok"
