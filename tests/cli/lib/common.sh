# common.sh -- sourced by the tests/cli scripts (not a test itself: ctest
# runs tests/cli/*.sh only). Checks the environment ctest provides, makes
# a scratch directory removed on exit, and defines:
#   fail MSG...           print FAIL: MSG on stderr and exit 1
#   run RC ARGS...        run modelc ARGS, stdout in $TMP/out, stderr in
#                         $TMP/err; fail unless it exits with RC
#   has_out RE, has_err RE  fail unless stdout / stderr matches RE (grep)
: "${MODELC:?MODELC must name the modelc binary}"
: "${SRC:?SRC must name the source tree}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
run() {
  want=$1; shift
  rc=0
  "$MODELC" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" = "$want" ] || {
    cat "$TMP/out" "$TMP/err" >&2
    fail "modelc $*: exit $rc, expected $want"
  }
}
has_out() { grep -q -- "$1" "$TMP/out" || { cat "$TMP/out" >&2; fail "stdout lacks '$1'"; }; }
has_err() { grep -q -- "$1" "$TMP/err" || { cat "$TMP/err" >&2; fail "stderr lacks '$1'"; }; }
