#!/bin/sh
# limits.sh -- resources a model or a file asks for beyond what the process
# may use are clear errors (exit 1), never an abort, an OOM kill or a stack
# overflow: a dim of 2 x 10^8 (checked against the memory limit, here set with
# MODELC_MEMORY_LIMIT so that the figure is the same on every machine), data files
# whose headers claim 2^32 or 2^40 items, expressions nested 200000 deep,
# a 200000-term sum, an import cycle.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"

# --- memory: the process may use 4 GiB (MODELC_MEMORY_LIMIT; ulimit -v would do
# as well, but not under AddressSanitizer, which maps terabytes of shadow) ---------
limited() { MODELC_MEMORY_LIMIT=4G "$MODELC" "$@" >"$TMP/out" 2>"$TMP/err" || echo $? >"$TMP/rc"; }
rc_is() { [ "$(cat "$TMP/rc" 2>/dev/null || echo 0)" = "$1" ] || { cat "$TMP/err" >&2; fail "exit $(cat "$TMP/rc" 2>/dev/null || echo 0), expected $1"; }; rm -f "$TMP/rc"; }
limited train "$SRC/examples/mlp.model" -D B=200000000 --steps 1
rc_is 1
has_err "^modelc: error: the compiled program needs [0-9.]* TiB of memory (a workspace of .*); this process may use 4.0 GiB: use smaller dims or a smaller batch (-D)\$"
limited gradcheck "$SRC/examples/mlp.model" -D B=1000000
rc_is 1
has_err "gradcheck: evaluating the model in f64 needs about [0-9.]* GiB; this process may use 4.0 GiB"
limited grad "$SRC/examples/seed_net.model" -D B=100000000 --f64 -o "$TMP/g.st"
rc_is 1
has_err "this process may use 4.0 GiB"
# a model that fits still trains under the same limit
limited train "$SRC/examples/seed_net.model" --steps 2
rc_is 0

# and a limit from ulimit (RLIMIT_AS) counts too, outside AddressSanitizer
if [ -z "$ASAN_OPTIONS" ]; then
  (ulimit -v 3145728; "$MODELC" train "$SRC/examples/mlp.model" -D B=1000000 --steps 1) \
    >"$TMP/out" 2>"$TMP/err" && fail "a 3 GiB address-space limit was not respected"
  has_err "this process may use 3.0 GiB"
fi

# --- data files whose headers claim more than they hold ------------------------------------------
/usr/bin/python3 - "$TMP" <<'EOF2'
import struct, sys
d = sys.argv[1]
open(d + "/huge.idx", "wb").write(bytes([0, 0, 8, 1]) + struct.pack(">I", 0xFFFFFFFF) + bytes(16))
open(d + "/huge3.idx", "wb").write(bytes([0, 0, 8, 3]) + struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF) + bytes(16))
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 784), }"
h = h + " " * (118 - len(h)) + "\n"
open(d + "/huge.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + bytes(64))
EOF2
run 1 train "$SRC/examples/mlp.model" --data "x=$TMP/huge.idx" --steps 1
has_err "huge.idx: truncated: header says 4294967295 samples of u8 (4294967295 bytes), file has 16 bytes of data"
run 1 train "$SRC/examples/mlp.model" --data "x=$TMP/huge3.idx" --steps 1
has_err "huge3.idx: IDX extents \[4294967295,4294967295,65535\] are too large"
run 1 train "$SRC/examples/mlp.model" --data "x=$TMP/huge.npy" --steps 1
has_err "huge.npy: NPY shape \[1099511627776,784\] is too large"

# --- nesting and length in the source ---------------------------------------------------------------
deep() { # OPEN CLOSE: an output nested 200000 deep
  awk -v o="$1" -v c="$2" 'BEGIN { printf "model m {\n  input x: f32[2]\n  output y = ";
    for (i = 0; i < 200000; i++) printf "%s", o; printf "x";
    for (i = 0; i < 200000; i++) printf "%s", c; printf "\n}\n" }'
}
deep "(" ")" >"$TMP/parens.model"
run 1 check "$TMP/parens.model"
has_err "parens.model:3:[0-9]*: error: input is nested too deeply"
deep "-" "" >"$TMP/minus.model"
run 1 check "$TMP/minus.model"
has_err "minus.model:3:[0-9]*: error: input is nested too deeply"
deep "" " + x" >"$TMP/sum.model"
run 1 check "$TMP/sum.model"
has_err "sum.model:3:[0-9]*: error: expression is nested too deeply (more than 256 levels)"
# the source line of a diagnostic is cut to 120 columns around the error
[ "$(sed -n 2p "$TMP/err" | wc -c)" -lt 140 ] || fail "a 1.6 MB source line was printed whole"

# --- an import cycle --------------------------------------------------------------------------------
printf 'import "b.model"\nblock fa(C) {\n  fc = linear(C, C)\n  forward(x) = fc(x)\n}\n' >"$TMP/a.model"
printf 'import "a.model"\nmodel m {\n  input x: f32[2, 3]\n  f = fa(3)\n  output y = f(x)\n}\n' >"$TMP/b.model"
run 1 check "$TMP/b.model"
has_err "import cycle"
echo ok
