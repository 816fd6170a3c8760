#!/bin/sh
# usage.sh -- the modelc command line itself: help, --version, exit codes
# (0 ok, 1 user error, 2 usage error) and the one-line usage messages.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"

empty_out() { [ ! -s "$TMP/out" ] || fail "stdout should be empty: $(cat "$TMP/out")"; }

# General help, three spellings, on stdout.
for h in --help -h help; do
  run 0 $h
  has_out "^Usage: modelc COMMAND"
  for c in check dump opt gradcheck help; do has_out "^  $c "; done
done

# Command help: `help CMD`, `CMD --help`, `CMD -h` print the same text.
for c in check dump opt gradcheck; do
  run 0 help $c
  has_out "^Usage: modelc $c "
  cp "$TMP/out" "$TMP/help1"
  run 0 $c --help
  cmp -s "$TMP/out" "$TMP/help1" || fail "modelc $c --help differs from modelc help $c"
  run 0 $c -h
  cmp -s "$TMP/out" "$TMP/help1" || fail "modelc $c -h differs from modelc help $c"
done
run 0 help dump
has_out "--stage forward|grad"
has_out "^  cse "
run 0 help gradcheck
has_out "--tol X"

# --version: modelc VERSION (LLVM x.y.z, host CPU NAME).
run 0 --version
grep -Eq '^modelc [0-9]+\.[0-9]+\.[0-9]+ \(LLVM [0-9]+\.[0-9]+\.[0-9]+, host CPU [^ )]+\)$' "$TMP/out" ||
  fail "bad --version line: $(cat "$TMP/out")"

# Usage errors: exit 2, one line + "Try 'modelc help ...'." on stderr.
check_usage() {
  [ "$(wc -l <"$TMP/err")" -eq 2 ] || fail "usage error should be 2 lines: $(cat "$TMP/err")"
  has_err "$1"
  tail -n 1 "$TMP/err" | grep -qx "$2" || fail "last line should be $2: $(cat "$TMP/err")"
  empty_out
}
run 2
check_usage "^modelc: missing command$" "Try 'modelc help'."
run 2 frobnicate
check_usage "unknown command 'frobnicate'" "Try 'modelc help'."
run 2 chek x.model
check_usage "unknown command 'chek' (did you mean 'check'?)" "Try 'modelc help'."
run 2 --bogus
check_usage "unknown option '--bogus'" "Try 'modelc help'."
run 2 help nosuch
check_usage "unknown command 'nosuch'" "Try 'modelc help'."
run 2 check
check_usage "^modelc check: missing FILE$" "Try 'modelc help check'."
run 2 check a.model b.model
check_usage "unexpected argument 'b.model'" "Try 'modelc help check'."
run 2 check --stage grad x.model
check_usage "unknown option '--stage'" "Try 'modelc help check'."
run 2 dump x.model --stag=grad
check_usage "unknown option '--stag=grad' (did you mean '--stage'?)" "Try 'modelc help dump'."
run 2 dump x.model --stage
check_usage "option '--stage' needs a value" "Try 'modelc help dump'."
run 2 dump x.model --stage backward
check_usage "--stage expects 'forward', 'grad' or 'step', got 'backward'" "Try 'modelc help dump'."
run 2 dump x.model --format=svg
check_usage "--format expects 'text' or 'dot', got 'svg'" "Try 'modelc help dump'."
run 2 dump x.model --passes=cse,dcee
check_usage "--passes: unknown pass 'dcee' (did you mean 'dce'?)" "Try 'modelc help dump'."
run 2 dump x.model --print-after=autodif
check_usage "--print-after: unknown pass 'autodif' (did you mean 'autodiff'?)" "Try 'modelc help dump'."
run 2 dump x.model --grad-inputs=yes
check_usage "option '--grad-inputs' takes no value" "Try 'modelc help dump'."
run 2 check x.model -D B
check_usage "-D expects NAME=VALUE, got 'B'" "Try 'modelc help check'."
run 2 check x.model -DB=two
check_usage "-D B=two: VALUE must be a non-negative integer" "Try 'modelc help check'."
run 2 check x.model -D
check_usage "option '-D' needs a value" "Try 'modelc help check'."
run 2 gradcheck x.model --tol=-1
check_usage "--tol expects a positive number, got '-1'" "Try 'modelc help gradcheck'."
run 2 gradcheck x.model --seed abc
check_usage "--seed expects a non-negative integer, got 'abc'" "Try 'modelc help gradcheck'."
run 2 opt
check_usage "^modelc opt: missing FILE$" "Try 'modelc help opt'."

# User errors: exit 1 with a diagnostic on stderr, nothing on stdout.
run 1 check "$TMP/missing.model"
has_err "error: .*missing\.model"
empty_out
run 1 opt "$TMP/missing.mir"
has_err "error: .*missing\.mir"
empty_out

# Options after `--` are files; `--help` anywhere asks for help.
run 1 check -- "$TMP/--help"
run 0 dump x.model --help
has_out "^Usage: modelc dump "
echo "usage.sh: ok"
