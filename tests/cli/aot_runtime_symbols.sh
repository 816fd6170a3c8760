#!/bin/sh
# aot_runtime_symbols.sh -- the archive `modelc build` links into every model
# library (libmc_aotrt.a): every symbol it defines is hidden; everything it
# needs comes from libc, libm or pthreads (a shared library made of all of it
# links with -z defs, and needs no other library); and a library linked
# from it with a hand-written seed_net image exports only its own wrappers
# and loads a checkpoint written by `modelc train --save`.
set -e
. "${SRC:?SRC must name the source tree}/tests/cli/lib/common.sh"
: "${BUILD:?BUILD must name the build tree}"
A="$BUILD/runtime/libmc_aotrt.a"
CC=${CC:-cc}
[ -f "$A" ] || fail "no archive $A"
for tool in nm readelf "$CC"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: no $tool"; exit 0; }
done

# --- every defined global symbol is hidden ---------------------------------------------
readelf -sW "$A" >"$TMP/syms"
awk '($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" && $6 != "HIDDEN" {print $8}' \
  "$TMP/syms" >"$TMP/visible"
[ ! -s "$TMP/visible" ] || fail "symbols with default visibility: $(tr '\n' ' ' <"$TMP/visible")"
for sym in rt_aot_create rt_aot_forward rt_safetensors_load rt_parallel_for rt_init_fill; do
  awk -v s="$sym" '$8 == s && $5 == "GLOBAL" && $6 == "HIDDEN" && $7 != "UND"' "$TMP/syms" |
    grep -q . || fail "$sym is not defined as a hidden global in the archive"
done

# --- what it needs: libc, libm, pthreads; never zlib, LLVM or the compiler -------------
nm -u "$A" | awk 'NF == 2 {print $2}' | sort -u >"$TMP/undef"
[ -s "$TMP/undef" ] || fail "nm -u listed nothing"
if grep -E '^(gz|inflate|deflate|crc32|adler32|zlib|LLVM|mc_|ir_|pass_|cg_|fe_)' "$TMP/undef" \
    >"$TMP/bad"; then
  fail "the archive needs: $(tr '\n' ' ' <"$TMP/bad")"
fi
"$CC" -shared -o "$TMP/all.so" -Wl,--whole-archive "$A" -Wl,--no-whole-archive \
  -Wl,-z,defs -lm -lpthread 2>"$TMP/link.err" ||
  { cat "$TMP/link.err" >&2; fail "the archive does not link against libc, libm, pthreads alone"; }
if nm -D --defined-only "$TMP/all.so" | grep -E ' (rt_|mc_)' >"$TMP/exported"; then
  fail "the shared library exports: $(tr '\n' ' ' <"$TMP/exported")"
fi

# --- a model library: seed_net's forward pass as a hand-written program -----------------
cat >"$TMP/seed.c" <<'EOF'
#include <string.h>
#include "rt_aot.h"

#define F32 3 /* rt.h's RT_F32 */
#define EXPORT __attribute__((visibility("default")))

/* out = fc2(relu(fc1(x))); slots: x, fc1.weight, fc1.bias, fc2.weight, fc2.bias, out. */
static void run(void *const *bufs, void *ws, const int64_t *descs) {
  void **t = (void **)((char *)ws + RT_AOT_WS_HEADER);
  memcpy(t, bufs, 6 * sizeof *t);
  const float *x = t[0], *w1 = t[1], *b1 = t[2], *w2 = t[3], *b2 = t[4];
  float *out = t[5], *h = t[6];
  for (int64_t r = 0; r < descs[0]; r++) {
    for (int j = 0; j < 20; j++) {
      float s = b1[j];
      for (int k = 0; k < 10; k++) s += x[r * 10 + k] * w1[j * 10 + k];
      h[r * 20 + j] = s > 0 ? s : 0;
    }
    for (int j = 0; j < 10; j++) {
      float s = b2[j];
      for (int k = 0; k < 20; k++) s += h[r * 20 + k] * w2[j * 20 + k];
      out[r * 10 + j] = s;
    }
  }
}

static const RtAotTensor io[] = {{"x", F32, 2, {1, 10}, 1u}, {"out", F32, 2, {1, 10}, 1u}};
static const RtAotParam params[] = {
    {{"fc1.weight", F32, 2, {20, 10}, 0}, 0, {8, 2.23606797749979, 0, 0}, NULL},
    {{"fc1.bias", F32, 1, {20}, 0}, 0, {5, -0.31622776601683794, 0.31622776601683794, 0}, NULL},
    {{"fc2.weight", F32, 2, {10, 20}, 0}, 0, {8, 2.23606797749979, 0, 0}, NULL},
    {{"fc2.bias", F32, 1, {10}, 0}, 0, {5, -0.22360679774997896, 0.22360679774997896, 0}, NULL},
};
static const RtAotSlot slots[] = {{RT_AOT_SLOT_INPUT, 0}, {RT_AOT_SLOT_PARAM, 0},
                                  {RT_AOT_SLOT_PARAM, 1}, {RT_AOT_SLOT_PARAM, 2},
                                  {RT_AOT_SLOT_PARAM, 3}, {RT_AOT_SLOT_OUTPUT, 0}};
static const RtAotLin desc[] = {{0, 1}};
static const RtAotLin table[] = {{128, 0}};
static const RtAotProgram forward = {
    .run = run, .nslots = 6, .slots = slots, .ndesc = 1, .desc = desc,
    .ntable = 1, .table = table, .ws_bytes = {128, 80}, .heap_base = {128, 0}};
static const RtAotModel model = {
    .abi = RT_AOT_ABI, .name = "seed_net", .ninputs = 1, .inputs = io, .noutputs = 1,
    .outputs = io + 1, .nparams = 4, .params = params, .optimizer = -1, .forward = &forward};

EXPORT int seed_net_create(uint64_t seed, RtAotCtx **c) {
  RtAotConfig cfg = {seed, 1};
  return rt_aot_create(&model, &cfg, c);
}
EXPORT int seed_net_load(RtAotCtx *c, const char *path) { return rt_aot_load(c, path); }
EXPORT int64_t seed_net_steps(RtAotCtx *c) { return rt_aot_steps(c); }
EXPORT const char *seed_net_last_error(RtAotCtx *c) { return rt_aot_last_error(c); }
EXPORT int seed_net_forward(RtAotCtx *c, int64_t batch, const float *x, float *y) {
  size_t n = (size_t)batch * 10;
  const void *in[1] = {x};
  void *out[1] = {y};
  return rt_aot_forward(c, batch, in, &n, out, &n);
}
EXPORT void seed_net_destroy(RtAotCtx *c) { rt_aot_destroy(c); }
EOF
cat >"$TMP/main.c" <<'EOF'
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct RtAotCtx RtAotCtx;

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) return printf("dlopen: %s\n", dlerror()), 1;
  int (*create)(uint64_t, RtAotCtx **) = (int (*)(uint64_t, RtAotCtx **))dlsym(lib, "seed_net_create");
  int (*load)(RtAotCtx *, const char *) = (int (*)(RtAotCtx *, const char *))dlsym(lib, "seed_net_load");
  int64_t (*steps)(RtAotCtx *) = (int64_t (*)(RtAotCtx *))dlsym(lib, "seed_net_steps");
  const char *(*err)(RtAotCtx *) = (const char *(*)(RtAotCtx *))dlsym(lib, "seed_net_last_error");
  int (*fwd)(RtAotCtx *, int64_t, const float *, float *) =
      (int (*)(RtAotCtx *, int64_t, const float *, float *))dlsym(lib, "seed_net_forward");
  void (*destroy)(RtAotCtx *) = (void (*)(RtAotCtx *))dlsym(lib, "seed_net_destroy");
  if (!create || !load || !steps || !err || !fwd || !destroy) return printf("dlsym\n"), 1;
  if (dlsym(lib, "rt_aot_create")) return printf("rt_aot_create is visible\n"), 1;
  RtAotCtx *c;
  if (create(3, &c)) return printf("create: %s\n", err(NULL)), 1;
  float x[20], y[20];
  for (int i = 0; i < 20; i++) x[i] = (float)i / 10.0f - 1.0f;
  if (fwd(c, 2, x, y)) return printf("forward: %s\n", err(c)), 1;
  if (load(c, argv[2])) return printf("load: %s\n", err(c)), 1;
  printf("steps %lld\n", (long long)steps(c));
  if (fwd(c, 2, x, y)) return printf("forward: %s\n", err(c)), 1;
  printf("forward ok\n");
  int rc = load(c, argv[3]);
  printf("bad load %d: %s\n", rc, err(c));
  destroy(c);
  return 0;
}
EOF
"$CC" -std=c11 -O1 -fPIC -fvisibility=hidden -Wall -Werror -I"$SRC/runtime" -c "$TMP/seed.c" \
  -o "$TMP/seed.o" || fail "the image does not compile"
"$CC" -shared -o "$TMP/libseed_net.so" "$TMP/seed.o" "$A" -Wl,-z,defs -lm -lpthread \
  2>"$TMP/link.err" || { cat "$TMP/link.err" >&2; fail "the model library does not link"; }
nm -D --defined-only "$TMP/libseed_net.so" | awk '$2 == "T" {print $3}' | sort >"$TMP/exports"
printf '%s\n' seed_net_create seed_net_destroy seed_net_forward seed_net_last_error \
  seed_net_load seed_net_steps | sort >"$TMP/want"
cmp -s "$TMP/exports" "$TMP/want" || fail "the library exports $(tr '\n' ' ' <"$TMP/exports")"
readelf -d "$TMP/libseed_net.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' >"$TMP/needed"
if grep -v -E '^(libc|libm|libpthread|ld-linux[-a-z0-9_]*)\.so' "$TMP/needed" >"$TMP/extra"; then
  fail "the library needs $(tr '\n' ' ' <"$TMP/extra")"
fi

# --- a training checkpoint of modelc loads into it --------------------------------------
run 0 train "$SRC/examples/seed_net.model" --epochs 1 --seed 3 --save "$TMP/ck.st"
printf 'not a checkpoint\n' >"$TMP/bad.st"
"$CC" -std=c11 -O1 -o "$TMP/main" "$TMP/main.c" -ldl || fail "the driver does not compile"
"$TMP/main" "$TMP/libseed_net.so" "$TMP/ck.st" "$TMP/bad.st" >"$TMP/out" 2>&1 ||
  { cat "$TMP/out" >&2; fail "the driver failed"; }
has_out "^steps 16$"
has_out "^forward ok$"
has_out "^bad load 5: $TMP/bad.st: "
