#!/bin/sh
# train_data.sh -- `modelc train` with data files on a tiny classifier:
# CSV features and labels from one file (cols=, int=yes), accuracy on
# --eval data, and every bad-data case as an error naming the file and
# the problem (exit 1): missing, truncated, a shape or dtype that does not
# fit the input (both shapes named), labels out of range, sample counts
# that disagree, unknown and unfed inputs.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"


cat >"$TMP/tiny.model" <<'EOF'
model tiny {
  B = 4
  input x: f32[B, 3]
  input y: i32[B]
  fc = linear(3, 5)
  logits = fc(x)
  output logits
  minimize cross_entropy(logits, y)
}
EOF
M="$TMP/tiny.model"
# 8 samples, label = the first column's position of the largest feature
cat >"$TMP/d.csv" <<'EOF'
a,b,c,label
3,0,0,0
0,3,0,1
0,0,3,2
2,1,0,0
0,2,1,1
1,0,2,2
3,1,1,0
1,1,3,2
EOF
X="x=$TMP/d.csv,cols=:3"
Y="y=$TMP/d.csv,cols=3,int=yes"

# --- training and accuracy ----------------------------------------------------------
run 0 train "$M" --data "$X" --data "$Y" --eval "$X" --eval "$Y" --optimizer sgd --lr 0.5 \
  --epochs 30
has_out '^epoch 30/30: train loss [0-9.]* acc [0-9.]*, eval loss [0-9.]* acc [0-9.]* ('
has_out '^eval accuracy: 1\.0000 (8 samples, loss '
# a batch of 3 leaves 2 of 8 eval samples: they are scored one by one
run 0 train "$M" --data "$X" --data "$Y" --eval "$X" --eval "$Y" --batch 3 --steps 4
has_out '^eval accuracy: [0-9.]* (8 samples, loss '

# --- bad data ------------------------------------------------------------------------------
bad() { run 1 train "$M" "$@"; }
bad --data "x=$TMP/none.csv" --data "$Y"
has_err "^modelc: error: $TMP/none.csv: cannot open: No such file or directory"
# IDX header for [10,3] u8, then 5 of the 30 data bytes
printf '\000\000\010\002\000\000\000\012\000\000\000\003abcde' >"$TMP/short.idx"
bad --data "x=$TMP/short.idx" --data "$Y"
has_err "^modelc: error: $TMP/short.idx: truncated"
bad --data "x=$TMP/d.csv" --data "$Y"
has_err "$TMP/d.csv: data of shape \[8,4\] (4 values per sample) does not fit input x "
has_err "does not fit input x \[B,3\] (3 values per sample)"
printf '0\n1\n2.5\n0\n1\n2\n0\n2\n' >"$TMP/frac.csv"
bad --data "$X" --data "y=$TMP/frac.csv"
has_err "$TMP/frac.csv: value 2.5 at \[2,0\] is not a whole number"
printf '0\n1\n2\n0\n5\n2\n0\n2\n' >"$TMP/range.csv"
bad --data "$X" --data "y=$TMP/range.csv"
has_err "$TMP/range.csv: value 5 at \[4,0\] is outside \[0, 5)"
printf '0\n1\n2\n0\n1\n2\n0\n' >"$TMP/seven.csv"
bad --data "$X" --data "y=$TMP/seven.csv"
has_err "$TMP/seven.csv: 7 samples, but $TMP/d.csv (input 'x') has 8"
bad --data "$X" --data "$Y" --data "z=$TMP/seven.csv"
has_err "model 'tiny' has no input 'z' (its inputs: x, y)"
bad --data "$X"
has_err "input 'y' has no training data (give --data y=PATH)"
bad --data "$X" --data "$Y" --eval "$X"
has_err "input 'y' has no eval data (give --eval y=PATH)"
bad --data "$X" --data "$Y" --data "$X"
has_err "input 'x' is given twice"
bad --data "$X" --data "$Y,scale=2"
has_err "scale, mean and std do not apply to the i32 input 'y'"
bad --data "x=$TMP/d.csv,cols=:3,std=0" --data "$Y"
has_err "$TMP/d.csv"
bad
has_err "no --data given and input 'y' is i32"
cat >"$TMP/f64.model" <<'EOF'
model wide {
  B = 4
  input x: f64[B, 3]
  param w: f64[3] = ones()
  minimize mean(x * w)
}
EOF
run 1 train "$TMP/f64.model" --data "$X"
has_err "input 'x' is f64: data can feed f32 and i32 inputs only"
run 1 train "$TMP/none.model"
has_err "cannot read '$TMP/none.model'"
echo "train_data: ok"
