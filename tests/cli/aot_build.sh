#!/bin/sh
# aot_build.sh -- libraries made by `modelc build`, used as a C or Python
# program would: the examples/aot demos run against an mlp library (the
# loss falls, batch 1 and batch 128 agree; Fashion-MNIST when present);
# every shared object exports only its prefix's symbols and needs only
# libc, libm, pthreads; three libraries (two of them copies of seed_net
# under different prefixes) live in one process; NAME.o and libNAME.a link
# statically and compute what the .so does; seed_net's header matches
# tests/golden/seed_net.h and compiles as C++; bad calls and bad files
# return the header's codes with messages naming the problem and change
# nothing (tests/cli/aot/api_errors.c); --weights embeds a checkpoint
# exactly as load() reads it, and bad --weights fail the build; 4 threads
# sharing a context get the serial results; the training step's two halves
# (NAME_grad, NAME_apply) give what train_step gives, bit for bit, also
# with batch norm buffers, and two simulated ranks averaging their
# gradients match one step on the whole batch (grad_apply.c,
# grad_buffers.c). The C programs are in tests/cli/aot/.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"
CC=${CC:-cc}
for tool in nm readelf "$CC"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: no $tool"; exit 0; }
done
E="$SRC/examples"
A="$SRC/tests/cli/aot"
L="$TMP/lib"
mkdir -p "$L"
CFLAGS="-std=c11 -O1 -Wall -Wextra -Werror"

# cc_so OUT SRC...: a program linked against the libraries in $L
cc_so() {
  out=$1; shift
  "$CC" $CFLAGS -I"$L" -o "$out" "$@" -L"$L" -Wl,-rpath,"$L" -lm -lpthread 2>"$TMP/cc.err" ||
    { cat "$TMP/cc.err" >&2; fail "cannot compile $*"; }
}
# prog PATH ARGS...: run a test program, output in $TMP/out; fail unless exit 0
prog() {
  "$@" >"$TMP/out" 2>&1 || { cat "$TMP/out" >&2; fail "$* failed"; }
}

# --- the libraries -----------------------------------------------------------------------------
run 0 build "$E/seed_net.model" -o "$L/libseed_net.so" --train
has_err "wrote $L/libseed_net.so, $L/seed_net.h and $L/libseed_net.json"
run 0 build "$E/seed_net.model" -o "$L/libseed2.so" --prefix seed2
run 0 build "$E/mlp.model" -o "$L/libmlp.so" --train
mkdir -p "$TMP/inf"
run 0 build "$E/seed_net.model" -o "$TMP/inf/libseed_net.so"
for f in "$L/seed_net.h" "$L/seed2.h" "$L/mlp.h" "$L/libmlp.json" "$L/libseed2.json"; do
  [ -s "$f" ] || fail "no $f"
done

# --- exports and dependencies ------------------------------------------------------------------
for p in seed_net seed2 mlp; do
  so="$L/lib$p.so"
  nm -D --defined-only "$so" | awk '{print $3}' >"$TMP/exports"
  grep -q "^${p}_forward\$" "$TMP/exports" || fail "$so does not export ${p}_forward"
  if grep -v "^${p}_" "$TMP/exports" >"$TMP/extra"; then
    fail "$so exports symbols without the prefix ${p}_: $(tr '\n' ' ' <"$TMP/extra")"
  fi
  readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' >"$TMP/needed"
  grep -q '^libc\.so' "$TMP/needed" || fail "$so does not list libc as NEEDED"
  if grep -v -E '^(libc|libm|libpthread|ld-linux[-a-z0-9_]*)\.so' "$TMP/needed" >"$TMP/extra"; then
    fail "$so needs $(tr '\n' ' ' <"$TMP/extra")"
  fi
  if command -v ldd >/dev/null 2>&1; then
    ldd "$so" | awk '{print $1}' | grep -v -E '^(linux-vdso|libc|libm|libpthread|/lib.*ld-linux|ld-linux)' \
      >"$TMP/extra" && fail "ldd $so lists $(tr '\n' ' ' <"$TMP/extra")"
  fi
done
nm -D --defined-only "$L/libseed_net.so" | grep -q ' seed_net_train_step$' ||
  fail "the --train library lacks seed_net_train_step"
# without --train there is no training entry point at all (ERR_NOTRAIN cannot be reached
# through the exported API: the symbols are absent)
nm -D --defined-only "$TMP/inf/libseed_net.so" >"$TMP/exports"
grep -q ' seed_net_forward$' "$TMP/exports" || fail "the inference library lacks forward"
grep -q 'train_step' "$TMP/exports" && fail "a library built without --train exports train_step"
grep -q '"train_step' "$TMP/inf/libseed_net.json" && fail "the manifest lists train_step"
for f in grad grad_v apply apply_v grad_param; do
  nm -D --defined-only "$L/libseed_net.so" | grep -q " seed_net_$f\$" ||
    fail "the --train library lacks seed_net_$f"
  grep -q "\"symbol\": \"seed_net_$f\"" "$L/libseed_net.json" || fail "the manifest lacks $f"
  if grep -q " seed_net_$f\$" "$TMP/exports"; then
    fail "a library built without --train exports $f"
  fi
  if grep -q "\"symbol\": \"seed_net_$f\"" "$TMP/inf/libseed_net.json"; then
    fail "the inference manifest lists $f"
  fi
done
grep -q '"grads": \[' "$L/libseed_net.json" || fail "the manifest lacks the gradients' list"
grep -q '^int seed_net_apply(seed_net_ctx \*ctx, const float \*fc1_weight_grad, size_t fc1_weight_grad_count,' \
  "$L/seed_net.h" || fail "seed_net.h does not declare seed_net_apply with one buffer per gradient"

# --- the C demo ----------------------------------------------------------------------------------
cc_so "$TMP/mlp_demo" "$E/aot/mlp_demo.c" -lmlp
prog "$TMP/mlp_demo" 1
has_out '^trained 20 steps$'
has_out '^batch 1 agrees with batch 128 on 128/128 samples$'
has_out '^ok$'
first=$(sed -n 's/^step  1: loss //p' "$TMP/out")
last=$(sed -n 's/^step 20: loss //p' "$TMP/out")
awk -v a="$first" -v b="$last" 'BEGIN { exit !(a > 2.0 && a < 2.6 && b < 0.5 * a) }' ||
  fail "mlp_demo's loss went from '$first' to '$last' (expected about ln 10 = 2.30, then less than half)"
acc=$(sed -n 's/^batch 128 accuracy: .* = //p' "$TMP/out")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' || fail "mlp_demo's accuracy is '$acc'"
# another seed: other initial params, so another first loss
cp "$TMP/out" "$TMP/demo1"
prog "$TMP/mlp_demo" 2
cmp -s "$TMP/out" "$TMP/demo1" && fail "mlp_demo printed the same with seeds 1 and 2"
# on Fashion-MNIST's test set, when the machine has it
FM=/usr/share/datasets/fashion-mnist
if [ -f "$FM/t10k-images-idx3-ubyte.gz" ] && [ -f "$FM/t10k-labels-idx1-ubyte.gz" ]; then
  mkdir -p "$TMP/fm"
  for f in t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do gzip -dc "$FM/$f.gz" >"$TMP/fm/$f"; done
  prog "$TMP/mlp_demo" 0 "$TMP/fm"
  has_out '^data: Fashion-MNIST t10k$'
  has_out '^batch 1 agrees with batch 128 on 128/128 samples$'
  acc=$(sed -n 's/^batch 128 accuracy: .* = //p' "$TMP/out")
  awk -v a="$acc" 'BEGIN { exit !(a >= 0.5) }' || fail "mlp_demo on Fashion-MNIST: accuracy '$acc'"
  head -c 1000 "$TMP/fm/t10k-labels-idx1-ubyte" >"$TMP/fm/t10k-images-idx3-ubyte"
  rc=0
  "$TMP/mlp_demo" 0 "$TMP/fm" >"$TMP/out" 2>&1 || rc=$?
  [ $rc = 1 ] || fail "mlp_demo accepted a bad IDX file (exit $rc)"
  has_out "not Fashion-MNIST's uncompressed t10k IDX files"
else
  echo "aot_build: SKIP mlp_demo on Fashion-MNIST (no $FM)"
fi

# --- the Python demo -------------------------------------------------------------------------------
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  prog /usr/bin/python3 "$E/aot/mlp_demo.py" "$L/libmlp.json" 1
  has_out '^trained 10 steps$'
  has_out "^  param fc1.weight: float32\[512, 784\] mean "
  has_out "^batch 0 refused: mlp_forward_v: ERR_BATCH: forward: batch 0 is not positive$"
  has_out '^ok$'
else
  echo "aot_build: SKIP mlp_demo.py (no numpy for /usr/bin/python3)"
fi

# --- three libraries in one process -------------------------------------------------------------
cc_so "$TMP/two_libs" "$A/two_libs.c" -lseed_net -lseed2 -lmlp
prog "$TMP/two_libs" "$TMP/mlp.st"
has_out '^seed_net and seed2 agree: yes$'
has_out '^mlp logits finite and nonzero: yes$'
has_out '^after a step: seed_net changed: yes, seed2 unchanged: yes$'
has_out '^steps: seed_net 1, seed2 0$'
has_out '^ok$'

# --- static linking: NAME.o and libNAME.a ------------------------------------------------------------
mkdir -p "$TMP/o" "$TMP/a"
run 0 build "$E/mlp.model" -o "$TMP/o/mlp.o" --train
run 0 build "$E/mlp.model" -o "$TMP/a/libmlp.a" --train
for lib in "$TMP/o/mlp.o" "$TMP/a/libmlp.a"; do
  d=$(dirname "$lib")
  "$CC" $CFLAGS -I"$d" -o "$d/demo" "$E/aot/mlp_demo.c" "$lib" -lm -lpthread 2>"$TMP/cc.err" ||
    { cat "$TMP/cc.err" >&2; fail "mlp_demo.c does not link with $lib"; }
  readelf -d "$d/demo" | grep -q 'NEEDED.*libmlp' && fail "$d/demo needs libmlp.so"
  prog "$d/demo" 1
  cmp -s "$TMP/out" "$TMP/demo1" ||
    { diff "$TMP/demo1" "$TMP/out" >&2; fail "mlp_demo linked with $lib prints otherwise"; }
done
nm -g --defined-only "$TMP/o/mlp.o" | awk '{print $3}' >"$TMP/globals"
grep -q '^mlp_create$' "$TMP/globals" || fail "mlp.o does not define mlp_create"
if grep -v '^mlp_' "$TMP/globals" >"$TMP/extra"; then
  fail "mlp.o has globals without the prefix: $(tr '\n' ' ' <"$TMP/extra")"
fi
nm -u "$TMP/o/mlp.o" | awk '{print $2}' >"$TMP/undef"
grep -q '^pthread_mutex_lock' "$TMP/undef" || fail "mlp.o does not need pthread_mutex_lock?"
if grep -E '^(rt_|mc_|cg_|ir_|LLVM|gz|inflate)' "$TMP/undef" >"$TMP/extra"; then
  fail "mlp.o needs $(tr '\n' ' ' <"$TMP/extra")"
fi

# --- the generated header, against tests/golden/seed_net.h -----------------------------------------
sed 's/made by modelc [^ ]* (/made by modelc VERSION (/' "$L/seed_net.h" >"$TMP/seed_net.h"
diff -u "$SRC/tests/golden/seed_net.h" "$TMP/seed_net.h" >&2 ||
  fail "seed_net.h differs from tests/golden/seed_net.h (update it when the change is meant)"

# the header is C++ too (extern "C"), when a C++ compiler is at hand
if command -v c++ >/dev/null 2>&1; then
  printf '#include "seed_net.h"\nint main() { seed_net_ctx *c = nullptr;\n  return seed_net_create(nullptr, &c) || !c;\n}\n' \
    >"$TMP/cxx.cpp"
  c++ -std=c++11 -Wall -Wextra -Werror -I"$L" -o "$TMP/cxx" "$TMP/cxx.cpp" -L"$L" -lseed_net \
    -Wl,-rpath,"$L" 2>"$TMP/cc.err" || { cat "$TMP/cc.err" >&2; fail "seed_net.h does not compile as C++"; }
  "$TMP/cxx" || fail "a C++ program could not create a context"
fi

# --- bad calls and bad files -------------------------------------------------------------------------
D="$TMP/files"
mkdir -p "$D/dir"
: >"$D/plain"
: >"$D/empty.st"
run 0 train "$E/seed_net.model" --steps 5 --save "$D/good.st"
size=$(wc -c <"$D/good.st")
head -c 300 "$D/good.st" >"$D/trunc.st"
head -c $((size / 2)) "$D/good.st" >"$D/trunc2.st"
printf 'a-host-name\n' >"$D/foreign.txt"
cp "$TMP/mlp.st" "$D/mlp.st"
sed 's/linear(10, 20)/linear(10, 30)/; s/linear(20, 10)/linear(30, 10)/' "$E/seed_net.model" \
  >"$TMP/wide.model"
sed 's/fc1/layer1/g' "$E/seed_net.model" >"$TMP/renamed.model"
run 0 train "$TMP/wide.model" --steps 1 --save "$D/wide.st"
run 0 train "$TMP/renamed.model" --steps 1 --save "$D/renamed.st"
cc_so "$TMP/api_errors" "$A/api_errors.c" -lseed_net
rc=0
"$TMP/api_errors" "$D" >"$TMP/out" 2>&1 || rc=$?
[ $rc = 0 ] || { cat "$TMP/out" >&2; fail "api_errors: wrong codes (exit $rc)"; }
has_out '^null-ctx-forward rc=1: forward: the context is NULL$'
has_out '^null-ctx-train rc=1: train_step: the context is NULL$'
has_out '^create-null-out rc=1: create: .*NULL'
has_out "^null-input rc=1: forward: input 'x' is NULL$"
has_out "^null-target rc=1: train_step: input 'target' is NULL$"
has_out '^batch-0 rc=2: forward: batch 0 is not positive$'
has_out '^batch-negative rc=2: forward: batch -3 is not positive$'
has_out '^train-batch-0 rc=2: train_step: batch 0 is not positive$'
has_out "^input-count rc=3: forward: input 'x' has 39 elements, expected 4\*10 = 40 at batch 4$"
has_out "^output-count rc=3: forward: output 'out' has 50 elements, expected 4\*10 = 40 at batch 4$"
has_out "^target-count rc=3: train_step: input 'target' has 41 elements, expected 4\*10 = 40"
has_out '^huge-batch rc=2: forward: batch [0-9]* is too large'
has_out '^param-data-range rc=1: param_data: param 12 is out of range \[0, 12)$'
has_out '^good-forward rc=0: $'
has_out "^load-missing rc=4: $D/none.st: cannot open: No such file or directory$"
has_out "^load-directory rc=4: $D/dir: not a regular file$"
has_out "^load-truncated rc=5: $D/trunc.st: header length [0-9]* is impossible"
has_out "^load-truncated-data rc=5: $D/trunc2.st: tensor '.*': data_offsets .* out of range"
has_out "^load-foreign rc=5: $D/foreign.txt: "
has_out "^load-empty rc=5: $D/empty.st: too short"
has_out "^load-other-model rc=7: $D/mlp.st: tensor 'fc1.weight' has shape \[512,784\]; the model's param is f32\[20,10\]$"
has_out "^load-wrong-names rc=6: $D/renamed.st: no tensor 'fc1.weight' (the model's param is f32\[20,10\])$"
has_out "^load-wrong-shapes rc=7: $D/wide.st: tensor 'fc1.weight' has shape \[30,10\]; the model's param is f32\[20,10\]$"
has_out '^load-good rc=0: $'
has_out '^steps after load-good: 5$'
has_out "^save-not-a-dir rc=4: $D/plain/x.st: .*Not a directory$"
has_out "^save-is-a-dir rc=4: $D/dir: .*Is a directory$"
has_out "^save-no-dir rc=4: $D/nodir/x.st: .*No such file or directory$"
has_out '^save-null rc=1: save: the path is NULL$'
has_out '^0 wrong codes$'
has_out '^load-saved rc=0: $'
has_out '^steps after load-saved: 5$'
grep -q 'PARAMS CHANGED' "$TMP/out" && fail "a failed load changed the params"
grep -q 'SAVED AND LOADED DIFFER' "$TMP/out" && fail "a saved context loads back otherwise"
[ -s "$D/saved.st" ] || fail "save-good wrote nothing"
# the saved file loads back in modelc's own reader: a library checkpoint of seed_net
head -c 400 "$D/saved.st" | grep -q '"format":"modelc"' || fail "saved.st lacks its format metadata"
# a save that fails half-way (file size limit) leaves the previous file as it was
cp "$D/good.st" "$D/keep.st"
cp "$D/good.st" "$D/keep.orig"
rc=0
(trap '' XFSZ; ulimit -f 2; exec "$TMP/api_errors" save "$D/keep.st" >"$TMP/limited.out" 2>&1) || rc=$?
[ $rc = 0 ] || { cat "$TMP/limited.out" >&2; fail "a save under a file size limit: exit $rc"; }
grep -q "^save-fail rc=4: $D/keep.st: .*File too large" "$TMP/limited.out" ||
  { cat "$TMP/limited.out" >&2; fail "no 'File too large' message"; }
cmp "$D/keep.st" "$D/keep.orig" || fail "a failed save changed the previous file"
ls "$D" | grep -q 'tmp' && fail "a failed save left a temporary file: $(ls "$D")"
# a folder that cannot be written (permissions do not bind root: then skipped)
if [ "$(id -u)" != 0 ]; then
  mkdir "$D/ro"
  chmod 555 "$D/ro"
  rc=0
  "$TMP/api_errors" save "$D/ro/x.st" >"$TMP/ro.out" 2>&1 || rc=$?
  chmod 755 "$D/ro"
  [ $rc = 0 ] && grep -q "^save-fail rc=4: $D/ro/x.st: .*Permission denied" "$TMP/ro.out" ||
    { cat "$TMP/ro.out" >&2; fail "a save into a read-only folder"; }
else
  echo "aot_build: (running as root: no read-only folder case)"
fi

# --- --weights: embedded params == loaded params; bad checkpoints fail the build -----------------
run 0 build "$E/seed_net.model" -o "$L/libseedw.so" --prefix seedw --weights "$D/good.st"
cc_so "$TMP/weights_eq" "$A/weights_eq.c" -lseed_net -lseedw
prog "$TMP/weights_eq" "$D/good.st"
has_out '^embedded == loaded: yes$'
has_out '^loaded != initial: yes$'
has_out '^fc1.bias embedded == loaded: yes$'
run 1 build "$E/seed_net.model" -o "$TMP/w/libbad.so" --weights "$D/wide.st"
has_err "$D/wide.st: 'fc1.weight' is f32\[30,10\], the model's is f32\[20,10\]"
# the model from standard input, with a batch dim: compiled at three probe batches and
# in two modes from one read of stdin
rc=0
"$MODELC" build - -o "$L/libstdin.so" --prefix stdin <"$E/mlp.model" >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" = 0 ] || { cat "$TMP/err" >&2; fail "build - < mlp.model: exit $rc"; }
has_err "run-time batch B"
# a checkpoint with some of the params: the others are embedded at their initializers
run 0 build "$E/seed_net.model" -o "$L/libpart.so" --prefix part --weights "$D/renamed.st"
has_err "$D/renamed.st: loaded 2 of 4 params; left at their initializers (seed 0): fc1.weight, fc1.bias"
run 0 build "$E/seed_net.model" -o "$L/libpart.so" --prefix part --weights "$D/renamed.st" --rename layer1.=fc1.
grep -q "left at their initializers" "$TMP/err" && fail "--rename did not map layer1. to fc1."
run 1 build "$E/seed_net.model" -o "$TMP/w/libbad.so" --weights "$D/renamed.st" --rename =x.
has_err "$D/renamed.st: no tensor is named like a param of the model"
run 1 build "$E/seed_net.model" -o "$TMP/w/libbad.so" --weights "$D/trunc2.st"
has_err "$D/trunc2.st: tensor '.*': data_offsets"
run 1 build "$E/seed_net.model" -o "$TMP/w/libbad.so" --weights "$D/none.st"
has_err "$D/none.st: cannot open"
[ ! -e "$TMP/w/libbad.so" ] || fail "a failed build left $TMP/w/libbad.so"

# --- the training step's halves: grad and apply, for the caller's allreduce --------------------
cc_so "$TMP/grad_apply" "$A/grad_apply.c" -lmlp
prog "$TMP/grad_apply" adam
has_out '^train_step vs grad+apply: 3 steps, 18 tensors bit-identical: yes, loss bit-identical: yes, max rel diff 0 (loss 0)$'
has_out '^two ranks vs one (adam): 3 steps, ranks bit-identical: yes, '
has_out '^interleaved: steps 3, state moved: yes, max rel diff 0$'
has_out "^grad-null-ctx rc=1: grad: the context is NULL$"
has_out "^apply-null-ctx rc=1: apply: the context is NULL$"
has_out "^grad-null-array rc=1: grad: the gradient array is NULL$"
has_out "^grad-null-counts rc=1: grad: the gradient count array is NULL$"
has_out "^grad-null-buffer rc=1: grad: the gradient of 'fc1.weight' is NULL$"
has_out "^apply-null-buffer rc=1: apply: the gradient of 'fc1.weight' is NULL$"
has_out "^grad-count rc=3: grad: the gradient of 'fc2.bias' has 255 elements, expected 256$"
has_out "^apply-count rc=3: apply: the gradient of 'fc1.weight' has 5 elements, expected 512\*784 = 401408$"
has_out "^apply-null-array rc=1: apply: the gradient array is NULL$"
has_out "^grad-batch-0 rc=2: grad: batch 0 is not positive$"
has_out "^grad-input-count rc=3: grad: input 'x' has 25087 elements, expected 32\*784 = 25088 at batch 32$"
has_out "^grad-label rc=9: grad: input 'y' has 10 at element 3, outside \[0, 10)$"
has_out '^ok$'
# with SGD the params of two ranks match one step on the whole batch within 1e-5 too
mkdir -p "$TMP/sgd"
run 0 build "$E/mlp.model" -o "$TMP/sgd/libmlp.so" --train --optimizer sgd
"$CC" $CFLAGS -I"$TMP/sgd" -o "$TMP/sgd/grad_apply" "$A/grad_apply.c" -L"$TMP/sgd" \
  -Wl,-rpath,"$TMP/sgd" -lmlp -lm -lpthread 2>"$TMP/cc.err" ||
  { cat "$TMP/cc.err" >&2; fail "cannot compile grad_apply.c for SGD"; }
prog "$TMP/sgd/grad_apply" sgd
has_out '^train_step vs grad+apply: 3 steps, 12 tensors bit-identical: yes, loss bit-identical: yes'
has_out '^two ranks vs one (sgd): 3 steps, ranks bit-identical: yes, '
has_out '^ok$'
# batch norm: grad updates the running statistics as train_step does
run 0 build "$E/resnet_mini.model" -o "$L/librn.so" --train --prefix rn
cc_so "$TMP/grad_buffers" "$A/grad_buffers.c" -lrn
prog "$TMP/grad_buffers"
has_out '^grad alone: running statistics moved: yes, trained params moved: 0, steps 0$'
has_out '^step 3: loss bit-identical, 0 of 105 tensors differ$'
has_out '^ok$'

# --- 4 threads, one context ----------------------------------------------------------------------------
cc_so "$TMP/threads" "$A/threads.c" -lmlp -pthread
prog "$TMP/threads"
has_out '^threads: ok (4 threads x 25 calls)$'
echo "aot_build: ok"
