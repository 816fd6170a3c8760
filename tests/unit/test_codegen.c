/* test_codegen.c -- the LLVM JIT held against the reference evaluator.
   Every op of ir_ops.def runs at sizes 1, 3, 17, 33, 129 with broadcasting
   variants, in f32 (relative 1e-5, evaluator in f32 mode) and f64 (1e-10,
   evaluator in f64 mode); then edge values (NaN, infinities, saturation),
   bad indices (reported, never a crash), the buffer plan, matmul shapes
   around the kernel's tiles with one and two threads and both kernel
   shapes, and the gradient program of a small MLP built by the real
   autodiff pass; then kernel fusion (the fuse pass's groups: softmax,
   layer norm, matmul epilogues, broadcast chains, reductions of chains,
   Adam, groups in parts, caps, bad annotations), each against the
   evaluator and in as few calls as expected, and fused against unfused.
   The op table is indexed by op: an op added to ir_ops.def without a row
   here fails test_codegen_every_op_has_a_test. To add an op, write a
   build_* function (or reuse one) and add its row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "pass.h"
#include "test_util.h"

#define F32_TOL 1e-5
#define F64_TOL 1e-10
#define MAX_NODES 8192

static const McLoc noloc = {0};
static const int64_t sizes[] = {1, 3, 17, 33, 129};

/* How an input's values are drawn. */
typedef enum {
  DOM_ANY,    /* uniform [-2, 2] */
  DOM_POS,    /* uniform [0.25, 2.25]: log, sqrt, rsqrt, pow base */
  DOM_AWAY0,  /* +-[0.5, 2]: divisors */
  DOM_COARSE, /* multiples of 0.5 in [-2, 2]: ties for comparisons and max */
  DOM_BOOL,   /* 0 or 1 */
  DOM_INDEX,  /* whole numbers in [0, bound) */
  DOM_INT,    /* whole numbers in [-10, 10] */
} Domain;

/* One graph under test and how to feed it. */
typedef struct Case {
  McDiag d;
  IrGraph *g;
  IrDtype dt; /* the float dtype under test */
  int nin, nout;
  /* per input or param, by the number in its name ("x3", "p4") */
  Domain dom[MAX_NODES];
  int64_t bound[MAX_NODES];        /* DOM_INDEX */
  const double *values[MAX_NODES]; /* fixed values instead of a domain */
  CgOptions opts;
  const char *what;
} Case;

static Case *case_new(IrDtype dt, const char *what) {
  Case *c = mc_xcalloc(1, sizeof *c);
  mc_diag_init(&c->d, NULL, NULL);
  c->g = ir_graph_new("t", &c->d);
  c->dt = dt;
  c->opts = cg_options_default();
  c->what = what;
  return c;
}

static void case_free(Case *c) {
  ir_graph_free(c->g);
  mc_diag_fini(&c->d);
  free(c);
}

static IrShape shape_of(int rank, const int64_t *dims) {
  IrShape s = {.rank = (uint8_t)rank};
  for (int i = 0; i < rank; i++)
    s.d[i] = ir_dim_const(dims[i]);
  return s;
}
#define SHAPE(...) shape_of(MC_COUNTOF(((int64_t[]){__VA_ARGS__})), (int64_t[]){__VA_ARGS__})
static const IrShape scalar = {0};

static IrRef must(Case *c, IrRef r) {
  if (r == IR_NONE)
    fprintf(stderr, "\n  %s: builder error: %s", c->what, c->d.buf.s ? c->d.buf.s : "");
  CU_ASSERT_NOT_EQUAL_FATAL(r, IR_NONE);
  return r;
}

/* The number in a source's name: its index into c->dom and friends. */
static int source_number(const Case *c, IrRef r) { return atoi(ir_node(c->g, r)->name + 1); }

static IrRef input(Case *c, Domain dom, IrDtype t, IrShape s) {
  char name[16];
  MC_ASSERT(c->nin < MAX_NODES);
  c->dom[c->nin] = dom;
  snprintf(name, sizeof name, "x%d", c->nin++);
  return must(c, ir_input(c->g, name, t, &s, noloc));
}

static IrRef index_input(Case *c, IrShape s, int64_t bound) {
  c->bound[c->nin] = bound;
  return input(c, DOM_INDEX, IR_I32, s);
}

static IrRef param(Case *c, Domain dom, IrShape s) {
  char name[16];
  MC_ASSERT(c->nin < MAX_NODES);
  c->dom[c->nin] = dom;
  snprintf(name, sizeof name, "p%d", c->nin++);
  return must(c, ir_param(c->g, name, c->dt, &s, (IrInit){IR_INIT_NONE, 0, 0, false}, noloc));
}

static void set_values(Case *c, IrRef r, const double *v) { c->values[source_number(c, r)] = v; }

static void output(Case *c, IrRef r) {
  char name[16];
  snprintf(name, sizeof name, "y%d", c->nout++);
  ir_add_output(c->g, IR_OUT_OUTPUT, name, must(c, r));
}

/* ---- values and typed buffers ---------------------------------------------- */

static double draw(Domain dom, int64_t bound, uint64_t stream, int64_t i) {
  double u = mc_rng_uniform(7, stream, (uint64_t)i);
  switch (dom) {
  case DOM_ANY:
    return 4.0 * u - 2.0;
  case DOM_POS:
    return 0.25 + 2.0 * u;
  case DOM_AWAY0:
    return (mc_rng_uniform(8, stream, (uint64_t)i) < 0.5 ? -1 : 1) * (0.5 + 1.5 * u);
  case DOM_COARSE:
    return floor(u * 9.0) * 0.5 - 2.0;
  case DOM_BOOL:
    return u < 0.5 ? 0.0 : 1.0;
  case DOM_INDEX:
    return floor(u * (double)bound);
  case DOM_INT:
    return floor(u * 21.0) - 10.0;
  }
  return 0.0;
}

static size_t elem_size(IrDtype t) { return t == IR_F64 ? 8 : t == IR_BOOL ? 1 : 4; }

/* What a buffer of dtype t holds for v (the evaluator rounds the same way). */
static double held(IrDtype t, double v) {
  switch (t) {
  case IR_F32:
    return (double)(float)v;
  case IR_I32:
    return isnan(v)             ? 0.0
           : v >= 2147483647.0  ? 2147483647.0
           : v <= -2147483648.0 ? -2147483648.0
                                : trunc(v);
  case IR_BOOL:
    return v != 0.0;
  default:
    return v;
  }
}

static void put(IrDtype t, void *buf, int64_t i, double v) {
  switch (t) {
  case IR_F32:
    ((float *)buf)[i] = (float)v;
    return;
  case IR_F64:
    ((double *)buf)[i] = v;
    return;
  case IR_I32:
    ((int32_t *)buf)[i] = (int32_t)held(IR_I32, v);
    return;
  default:
    ((uint8_t *)buf)[i] = v != 0.0;
    return;
  }
}

static double get(IrDtype t, const void *buf, int64_t i) {
  switch (t) {
  case IR_F32:
    return ((const float *)buf)[i];
  case IR_F64:
    return ((const double *)buf)[i];
  case IR_I32:
    return ((const int32_t *)buf)[i];
  default:
    return ((const uint8_t *)buf)[i];
  }
}

static double rms(const IrTensor *t) {
  double s = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < t->numel; i++)
    if (isfinite(t->data[i]))
      s += t->data[i] * t->data[i], n++;
  return n ? sqrt(s / (double)n) : 0.0;
}

/* Mismatches of got (dtype t) against want: NaN matches NaN, infinities
   match exactly, integers and bools exactly, floats within rtol of
   max(|want|, rms(want)). */
static int compare(const Case *c, const char *out, const IrTensor *want, const void *got, IrDtype t,
                   double rtol) {
  double scale = rms(want);
  int bad = 0;
  for (int64_t i = 0; i < want->numel; i++) {
    double w = want->data[i], g = get(t, got, i);
    bool ok;
    if (isnan(w) || isnan(g))
      ok = isnan(w) && isnan(g);
    else if (isinf(w) || isinf(g) || !ir_dtype_is_float(t))
      ok = w == g;
    else
      ok = fabs(g - w) <= rtol * fmax(fabs(w), scale);
    if (!ok && bad++ < 3)
      fprintf(stderr, "\n  %s: %s[%lld]: jit %.17g, evaluator %.17g", c->what, out, (long long)i, g,
              w);
  }
  return bad;
}

static bool is_input_slot(const IrGraph *g, const CgProgram *p, int s) {
  return s < (g->nouts ? cg_program_output_slot(p, 0) : cg_program_nslots(p));
}

/* Buffers for every slot of p; inputs drawn (or fixed) and bound to e too. */
static void **make_buffers(Case *c, const CgProgram *p, IrEval *e, uint64_t seed) {
  const IrGraph *g = c->g;
  int ns = cg_program_nslots(p);
  void **bufs = mc_xcalloc((size_t)ns + 1, sizeof *bufs);
  for (int s = 0; s < ns; s++) {
    const IrNode *n = ir_node(g, cg_program_slot_node(p, s));
    IrDtype t = (IrDtype)n->dtype;
    int64_t numel = ir_shape_numel(&n->shape);
    bufs[s] = mc_xmalloc((size_t)(numel ? numel : 1) * elem_size(t));
    if (!is_input_slot(g, p, s)) {
      memset(bufs[s], 0xA5, (size_t)(numel ? numel : 1) * elem_size(t));
      continue;
    }
    int k = source_number(c, cg_program_slot_node(p, s));
    double *v = mc_xmalloc((size_t)(numel ? numel : 1) * sizeof *v);
    for (int64_t i = 0; i < numel; i++) {
      double x =
          c->values[k] ? c->values[k][i] : draw(c->dom[k], c->bound[k], seed + (uint64_t)k, i);
      v[i] = held(t, x);
      put(t, bufs[s], i, v[i]);
    }
    CU_ASSERT_TRUE(ir_eval_bind(e, n->name, v, numel, &c->d));
    free(v);
  }
  return bufs;
}

static void free_buffers(void **bufs, int n) {
  for (int i = 0; i < n; i++)
    free(bufs[i]);
  free(bufs);
}

static CgProgram *compile(Case *c) {
  CgProgram *p = cg_jit_compile(c->g, &c->opts, &c->d);
  if (!p)
    fprintf(stderr, "\n  %s: %s", c->what, c->d.buf.s ? c->d.buf.s : "");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  return p;
}

/* Runs c's graph through the evaluator and the JIT on the same inputs and
   compares every output; returns the number of mismatches. */
static int check_runs(Case *c, CgProgram *p, double rtol, uint64_t seed) {
  IrEval *e = ir_eval_new(c->g, c->dt == IR_F64);
  void **bufs = make_buffers(c, p, e, seed);
  bool eval_ok = ir_eval_run(e, &c->d), jit_ok = cg_program_run(p, bufs, &c->d);
  if (!eval_ok || !jit_ok)
    fprintf(stderr, "\n  %s: %s", c->what, c->d.buf.s ? c->d.buf.s : "");
  CU_ASSERT_TRUE(eval_ok);
  CU_ASSERT_TRUE(jit_ok);
  int bad = 0;
  for (uint32_t k = 0; eval_ok && k < c->g->nouts; k++) {
    const IrOutput *o = &c->g->outs[k];
    IrDtype t = (IrDtype)ir_node(c->g, o->ref)->dtype;
    bad += compare(c, o->name, ir_eval_value(e, o->ref), bufs[cg_program_output_slot(p, (int)k)], t,
                   rtol);
  }
  free_buffers(bufs, cg_program_nslots(p));
  ir_eval_free(e);
  return bad;
}

static void check(Case *c, double rtol) {
  if (c->d.nerrors)
    fprintf(stderr, "\n  %s: %s", c->what, c->d.buf.s);
  CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
  CgProgram *p = compile(c);
  CU_ASSERT_EQUAL(check_runs(c, p, rtol, 1000), 0);
  cg_program_free(p);
}

/* c's program as optimized LLVM IR text (the caller frees it). */
static McStr llvm_of(Case *c) {
  McStr s;
  mc_str_init(&s);
  CU_ASSERT_TRUE(cg_emit(c->g, &c->opts, "llvm", &s, &c->d));
  return s;
}

/* Whether a function of the LLVM IR ir whose name starts with fn (such as
   "@gemm_pack_") calls callee (such as "@llvm.masked.gather"). */
static bool body_calls(const char *ir, const char *fn, const char *callee) {
  for (const char *d = strstr(ir, "\ndefine "); d; d = strstr(d + 1, "\ndefine ")) {
    const char *name = strchr(d, '@'), *end = strstr(d, "\n}\n");
    if (!end) end = d + strlen(d);
    if (!name || name > end || strncmp(name, fn, strlen(fn))) continue;
    const char *hit = strstr(name, callee);
    if (hit && hit < end) return true;
  }
  return false;
}

/* ---- builders, one per kind of op ------------------------------------------------ */

typedef struct OpTest OpTest;
struct OpTest {
  void (*build)(Case *c, IrOp op, int64_t n, const OpTest *t);
  Domain a, b; /* value domains of the first two operands */
  bool ints;   /* the op also takes i32 operands */
};

static void build_input(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  output(c, input(c, DOM_ANY, c->dt, SHAPE(n, 3))); /* an input as output */
  output(c, input(c, DOM_INT, IR_I32, SHAPE(n)));
  output(c, ir_unary(c->g, IR_OP_NEG, input(c, DOM_ANY, c->dt, SHAPE(n)), noloc));
}

static void build_param(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrRef w = param(c, DOM_ANY, SHAPE(n, 2));
  output(c, w);
  output(c, ir_binary(c->g, IR_OP_MUL, w, w, noloc));
}

static void build_const(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrRef k = must(c, ir_const(c->g, 0.25 * (double)n + 0.1, c->dt, noloc));
  output(c, k);
  output(c, ir_binary(c->g, IR_OP_SUB, input(c, DOM_ANY, c->dt, SHAPE(n)), k, noloc));
  output(c, ir_const(c->g, -3.7 * (double)n, IR_I32, noloc));
  output(c, ir_const(c->g, 1e12, IR_I32, noloc));
  output(c, ir_const(c->g, (double)(n & 1), IR_BOOL, noloc));
}

static void build_iota(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrShape s = SHAPE(n, 3);
  output(c, ir_iota(c->g, &s, 0, c->dt, noloc));
  output(c, ir_iota(c->g, &s, 1, c->dt, noloc));
  IrShape s3 = SHAPE(2, n, 4);
  output(c, ir_iota(c->g, &s3, 1, IR_I32, noloc));
}

static void build_unary(Case *c, IrOp op, int64_t n, const OpTest *t) {
  output(c, ir_unary(c->g, op, input(c, t->a, c->dt, SHAPE(n)), noloc));
  output(c, ir_unary(c->g, op, input(c, t->a, c->dt, SHAPE(3, n)), noloc));
  if (n == 1)
    output(c, ir_unary(c->g, op, input(c, t->a, c->dt, scalar), noloc));
  if (t->ints)
    output(c, ir_unary(c->g, op, input(c, DOM_INT, IR_I32, SHAPE(n, 2)), noloc));
}

static void build_cast(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  static const IrDtype to[] = {IR_F32, IR_F64, IR_I32, IR_BOOL};
  IrRef x = input(c, DOM_COARSE, c->dt, SHAPE(n));
  IrRef xi = input(c, DOM_INT, IR_I32, SHAPE(n));
  IrRef xb = input(c, DOM_BOOL, IR_BOOL, SHAPE(n));
  for (size_t i = 0; i < MC_COUNTOF(to); i++) {
    output(c, ir_cast(c->g, x, to[i], noloc));
    output(c, ir_cast(c->g, xi, to[i], noloc));
    output(c, ir_cast(c->g, xb, to[i], noloc));
  }
}

static void binary_pair(Case *c, IrOp op, const OpTest *t, IrDtype dt, IrShape sa, IrShape sb) {
  Domain da = dt == IR_I32 ? DOM_INT : dt == IR_BOOL ? DOM_BOOL : t->a;
  Domain db = dt == IR_I32 ? DOM_INT : dt == IR_BOOL ? DOM_BOOL : t->b;
  output(c, ir_binary(c->g, op, input(c, da, dt, sa), input(c, db, dt, sb), noloc));
}

static void build_binary(Case *c, IrOp op, int64_t n, const OpTest *t) {
  binary_pair(c, op, t, c->dt, SHAPE(n), SHAPE(n));
  binary_pair(c, op, t, c->dt, SHAPE(n, 1), SHAPE(1, 3));
  binary_pair(c, op, t, c->dt, SHAPE(3), SHAPE(n, 3));
  binary_pair(c, op, t, c->dt, SHAPE(n, 3), SHAPE(3));
  binary_pair(c, op, t, c->dt, scalar, SHAPE(n));
  binary_pair(c, op, t, c->dt, SHAPE(n), scalar);
  binary_pair(c, op, t, c->dt, SHAPE(2, n, 3), SHAPE(n, 1));
  if (t->ints)
    binary_pair(c, op, t, IR_I32, SHAPE(n, 2), SHAPE(2));
  if (ir_ops[op].flags & IR_F_CMP)
    binary_pair(c, op, t, IR_BOOL, SHAPE(n), SHAPE(n));
}

/* hash of integer-valued floats: a key against element indices (iota), a
   chain of two, and keys beyond 2^24 and 2^31 (the latter hash as 0). */
static void build_hash(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrDtype f = c->dt;
  IrShape s = SHAPE(n, 3);
  IrRef key = ir_cast(c->g, input(c, DOM_INT, IR_I32, scalar), f, noloc);
  IrRef rows = ir_iota(c->g, &s, 0, f, noloc), cols = ir_iota(c->g, &s, 1, f, noloc);
  IrRef h = ir_binary(c->g, IR_OP_HASH, key, rows, noloc);
  output(c, h);
  output(c, ir_binary(c->g, IR_OP_HASH, h, cols, noloc));
  output(c, ir_binary(c->g, IR_OP_HASH, ir_const(c->g, 16777215, f, noloc), rows, noloc));
  output(c, ir_binary(c->g, IR_OP_HASH, ir_const(c->g, -3e9, f, noloc), cols, noloc));
}

static void build_where(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrDtype f = c->dt;
  output(c, ir_where(c->g, input(c, DOM_BOOL, IR_BOOL, SHAPE(n)), input(c, DOM_ANY, f, SHAPE(n)),
                     input(c, DOM_ANY, f, SHAPE(n)), noloc));
  output(c, ir_where(c->g, input(c, DOM_BOOL, IR_BOOL, SHAPE(n, 1)),
                     input(c, DOM_ANY, f, SHAPE(1, 3)), input(c, DOM_ANY, f, scalar), noloc));
  output(c, ir_where(c->g, input(c, DOM_BOOL, IR_BOOL, scalar), input(c, DOM_ANY, f, SHAPE(2, n)),
                     input(c, DOM_ANY, f, SHAPE(n)), noloc));
  output(c,
         ir_where(c->g, input(c, DOM_BOOL, IR_BOOL, SHAPE(n)), input(c, DOM_INT, IR_I32, SHAPE(n)),
                  input(c, DOM_INT, IR_I32, SHAPE(1)), noloc));
}

static void build_reduce(Case *c, IrOp op, int64_t n, const OpTest *t) {
  Domain d = t->a;
  output(c, ir_reduce(c->g, op, input(c, d, c->dt, SHAPE(n)), 1, false, noloc));
  IrRef x = input(c, d, c->dt, SHAPE(3, n));
  output(c, ir_reduce(c->g, op, x, 1, false, noloc));
  output(c, ir_reduce(c->g, op, x, 2, false, noloc));
  output(c, ir_reduce(c->g, op, x, 3, false, noloc));
  output(c, ir_reduce(c->g, op, x, 2, true, noloc));
  output(c, ir_reduce(c->g, op, input(c, d, c->dt, SHAPE(2, n, 5)), 5, false, noloc));
  output(c, ir_reduce(c->g, op, input(c, d, c->dt, SHAPE(2, n, 5)), 2, true, noloc));
  output(c, ir_reduce(c->g, op, input(c, DOM_INT, IR_I32, SHAPE(n, 3)), 2, false, noloc));
}

static void matmul_case(Case *c, IrShape sa, IrShape sb) {
  output(c, ir_matmul(c->g, input(c, DOM_ANY, c->dt, sa), input(c, DOM_ANY, c->dt, sb), noloc));
}

static void build_matmul(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  matmul_case(c, SHAPE(n, n), SHAPE(n, n));
  matmul_case(c, SHAPE(n, 5), SHAPE(5, 3));
  matmul_case(c, SHAPE(1, n), SHAPE(n, 17));
  matmul_case(c, SHAPE(n, 3), SHAPE(3, 1));
  matmul_case(c, SHAPE(2, n, 3), SHAPE(3, 4));
  matmul_case(c, SHAPE(2, 1, n, 4), SHAPE(3, 4, 5));
  matmul_case(c, SHAPE(3, 7), SHAPE(2, 7, n));
}

static void build_reshape(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrShape to = SHAPE(3, n), flat = SHAPE(3 * n);
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(n, 3));
  output(c, ir_reshape(c->g, x, &to, noloc)); /* copied to an output */
  IrRef y = ir_unary(c->g, IR_OP_NEG, input(c, DOM_ANY, c->dt, SHAPE(n, 3)), noloc);
  IrRef r = must(c, ir_reshape(c->g, must(c, ir_reshape(c->g, y, &flat, noloc)), &to, noloc));
  output(c, ir_unary(c->g, IR_OP_EXP, r, noloc)); /* an alias, read later */
  output(c, ir_reshape(c->g, y, &flat, noloc));   /* of a computed node */
}

static void build_permute(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  output(c,
         ir_permute(c->g, input(c, DOM_ANY, c->dt, SHAPE(2, n, 3)), (uint8_t[]){2, 0, 1}, noloc));
  output(c, ir_permute(c->g, input(c, DOM_ANY, c->dt, SHAPE(n, 5)), (uint8_t[]){1, 0}, noloc));
  output(c,
         ir_permute(c->g, input(c, DOM_INT, IR_I32, SHAPE(n, 2, 2)), (uint8_t[]){0, 2, 1}, noloc));
}

static void build_expand(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrShape s1 = SHAPE(2, n, 3), s2 = SHAPE(n), s3 = SHAPE(n, 4);
  output(c, ir_expand(c->g, input(c, DOM_ANY, c->dt, SHAPE(n, 1)), &s1, noloc));
  output(c, ir_expand(c->g, input(c, DOM_ANY, c->dt, scalar), &s2, noloc));
  output(c, ir_expand(c->g, input(c, DOM_BOOL, IR_BOOL, SHAPE(1, 4)), &s3, noloc));
}

static void build_slice(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(n + 5));
  output(c, ir_slice(c->g, x, (int64_t[]){2}, (int64_t[]){2}, (int64_t[]){(n + 4) / 2}, noloc));
  IrRef y = input(c, DOM_ANY, c->dt, SHAPE(3, n));
  output(c, ir_slice(c->g, y, (int64_t[]){1, 0}, (int64_t[]){1, 3}, (int64_t[]){2, (n + 2) / 3},
                     noloc));
  output(c, ir_slice(c->g, y, (int64_t[]){0, n - 1}, (int64_t[]){2, 1}, (int64_t[]){2, 1}, noloc));
  /* backwards: rows 2, 1, 0 and every other column from the last */
  output(c, ir_slice(c->g, y, (int64_t[]){2, n - 1}, (int64_t[]){-1, -2},
                     (int64_t[]){3, (n + 1) / 2}, noloc));
}

static void build_pad(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  output(c,
         ir_pad(c->g, input(c, DOM_ANY, c->dt, SHAPE(n)), (int64_t[]){2}, (int64_t[]){3}, noloc));
  output(c, ir_pad(c->g, input(c, DOM_ANY, c->dt, SHAPE(2, n)), (int64_t[]){1, 0},
                   (int64_t[]){0, 2}, noloc));
  output(c, ir_pad(c->g, input(c, DOM_INT, IR_I32, SHAPE(n, 1)), (int64_t[]){0, 1},
                   (int64_t[]){1, 1}, noloc));
  /* planes of the last two axes (one pass), and a pad of a leading axis
     (zeros, then the copy) */
  output(c, ir_pad(c->g, input(c, DOM_ANY, c->dt, SHAPE(3, 2, 4, n)), (int64_t[]){0, 0, 2, 1},
                   (int64_t[]){0, 0, 1, 3}, noloc));
  output(c, ir_pad(c->g, input(c, DOM_ANY, c->dt, SHAPE(2, 3, n)), (int64_t[]){1, 0, 1},
                   (int64_t[]){0, 1, 0}, noloc));
}

/* Convolution-shaped windows: overlapping with dilation, strided with a
   tail that no window reaches, 1-D; fold adds overlapping windows back. */
static void build_unfold(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(2, n, 6, 7));
  output(c, ir_unfold(c->g, x, 2, (int64_t[]){3, 2}, (int64_t[]){1, 1}, (int64_t[]){1, 2},
                      noloc));
  output(c, ir_unfold(c->g, x, 2, (int64_t[]){2, 2}, (int64_t[]){2, 2}, (int64_t[]){1, 1},
                      noloc));
  /* stride 2 along rows of 14, 16 and 17 windows: whole vectors, then a
     masked one (its source read to the row's last element, not past it) */
  static const int64_t widths[] = {29, 33, 35};
  for (size_t k = 0; k < MC_COUNTOF(widths); k++)
    output(c, ir_unfold(c->g, input(c, DOM_ANY, c->dt, SHAPE(n, 2, 5, widths[k])), 2,
                        (int64_t[]){3, 3}, (int64_t[]){2, 2}, (int64_t[]){1, 1}, noloc));
  IrRef y = input(c, DOM_INT, IR_I32, SHAPE(n + 4));
  output(c, ir_unfold(c->g, y, 1, (int64_t[]){2}, (int64_t[]){3}, (int64_t[]){1}, noloc));
}

static void build_fold(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrRef y = input(c, DOM_ANY, c->dt, SHAPE(n, 2, 3, 2, 4, 3));
  output(c, ir_fold(c->g, y, 2, (IrDim[]){ir_dim_const(8), ir_dim_const(6)}, (int64_t[]){1, 2},
                    (int64_t[]){2, 1}, noloc));
  IrRef z = input(c, DOM_ANY, c->dt, SHAPE(3, 2, n));
  output(c, ir_fold(c->g, z, 1, (IrDim[]){ir_dim_const(2 * n + 1)}, (int64_t[]){2},
                    (int64_t[]){1}, noloc));
}

static void build_concat(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrDtype f = c->dt;
  IrRef parts[3] = {input(c, DOM_ANY, f, SHAPE(n, 2)), input(c, DOM_ANY, f, SHAPE(n, 3)),
                    input(c, DOM_ANY, f, SHAPE(n, 1))};
  output(c, ir_concat(c->g, parts, 3, 1, noloc));
  IrRef rows[2] = {input(c, DOM_ANY, f, SHAPE(1, 4)), input(c, DOM_ANY, f, SHAPE(n, 4))};
  output(c, ir_concat(c->g, rows, 2, 0, noloc));
  IrRef one[1] = {input(c, DOM_INT, IR_I32, SHAPE(n))};
  output(c, ir_concat(c->g, one, 1, 0, noloc));
  /* operands interleaved (written at every other element): rows of 5n and
     37n elements, whole vectors and a masked last one */
  IrRef pair[2] = {input(c, DOM_ANY, f, SHAPE(n, 5, 1)), input(c, DOM_ANY, f, SHAPE(n, 5, 1))};
  output(c, ir_concat(c->g, pair, 2, 2, noloc));
  IrRef wide[2] = {input(c, DOM_ANY, f, SHAPE(n, 37, 1)), input(c, DOM_ANY, f, SHAPE(n, 37, 1))};
  output(c, ir_concat(c->g, wide, 2, 2, noloc));
}

static void build_gather(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  output(c, ir_gather(c->g, input(c, DOM_ANY, c->dt, SHAPE(n, 4)), index_input(c, SHAPE(5), n),
                      noloc));
  output(c, ir_gather(c->g, input(c, DOM_ANY, c->dt, SHAPE(n)), index_input(c, SHAPE(2, 3), n),
                      noloc));
  output(c, ir_gather(c->g, input(c, DOM_ANY, c->dt, SHAPE(7, 3)), index_input(c, SHAPE(n), 7),
                      noloc));
  output(c, ir_gather(c->g, input(c, DOM_INT, IR_I32, SHAPE(4, n)), index_input(c, SHAPE(3), 4),
                      noloc));
}

static void build_scatter_add(Case *c, IrOp op, int64_t n, const OpTest *t) {
  (void)op, (void)t;
  IrDtype f = c->dt;
  output(c, ir_scatter_add(c->g, input(c, DOM_ANY, f, SHAPE(5, 4)), index_input(c, SHAPE(5), n),
                           ir_dim_const(n), noloc));
  output(c, ir_scatter_add(c->g, input(c, DOM_ANY, f, SHAPE(n, 3)), index_input(c, SHAPE(n), 4),
                           ir_dim_const(4), noloc));
  output(c, ir_scatter_add(c->g, input(c, DOM_ANY, f, SHAPE(2, n)), index_input(c, SHAPE(2, n), 3),
                           ir_dim_const(3), noloc));
  output(c, ir_scatter_add(c->g, input(c, DOM_INT, IR_I32, SHAPE(n)), index_input(c, SHAPE(n), 2),
                           ir_dim_const(2), noloc));
}

static const OpTest op_tests[IR_OP_COUNT] = {
    [IR_OP_INPUT] = {build_input},
    [IR_OP_PARAM] = {build_param},
    [IR_OP_CONST] = {build_const},
    [IR_OP_IOTA] = {build_iota},
    [IR_OP_NEG] = {build_unary, DOM_ANY, 0, true},
    [IR_OP_EXP] = {build_unary, DOM_ANY},
    [IR_OP_LOG] = {build_unary, DOM_POS},
    [IR_OP_SQRT] = {build_unary, DOM_POS},
    [IR_OP_RSQRT] = {build_unary, DOM_POS},
    [IR_OP_TANH] = {build_unary, DOM_ANY},
    [IR_OP_SIGMOID] = {build_unary, DOM_ANY},
    [IR_OP_RELU] = {build_unary, DOM_COARSE},
    [IR_OP_GELU] = {build_unary, DOM_ANY},
    [IR_OP_ERF] = {build_unary, DOM_ANY},
    [IR_OP_GELU_GRAD] = {build_binary, DOM_ANY, DOM_ANY},
    [IR_OP_ABS] = {build_unary, DOM_ANY, 0, true},
    [IR_OP_SIGN] = {build_unary, DOM_COARSE},
    [IR_OP_CAST] = {build_cast},
    [IR_OP_ADD] = {build_binary, DOM_ANY, DOM_ANY, true},
    [IR_OP_SUB] = {build_binary, DOM_ANY, DOM_ANY, true},
    [IR_OP_MUL] = {build_binary, DOM_ANY, DOM_ANY, true},
    [IR_OP_DIV] = {build_binary, DOM_ANY, DOM_AWAY0},
    [IR_OP_POW] = {build_binary, DOM_POS, DOM_ANY},
    [IR_OP_MAXIMUM] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_MINIMUM] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_LT] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_LE] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_GT] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_GE] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_EQ] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_NE] = {build_binary, DOM_COARSE, DOM_COARSE, true},
    [IR_OP_WHERE] = {build_where},
    [IR_OP_SUM] = {build_reduce, DOM_ANY},
    [IR_OP_MAX] = {build_reduce, DOM_COARSE},
    [IR_OP_MATMUL] = {build_matmul},
    [IR_OP_RESHAPE] = {build_reshape},
    [IR_OP_PERMUTE] = {build_permute},
    [IR_OP_EXPAND] = {build_expand},
    [IR_OP_SLICE] = {build_slice},
    [IR_OP_PAD] = {build_pad},
    [IR_OP_CONCAT] = {build_concat},
    [IR_OP_UNFOLD] = {build_unfold},
    [IR_OP_HASH] = {build_hash},
    [IR_OP_FOLD] = {build_fold},
    [IR_OP_GATHER] = {build_gather},
    [IR_OP_SCATTER_ADD] = {build_scatter_add},
    [IR_OP_PART_SUM] = {build_unary, DOM_ANY}, /* whole: the identity (test_split: parts) */
};

static void test_codegen_every_op_has_a_test(void) {
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (!op_tests[op].build)
      fprintf(stderr, "\n  no codegen test for op %s", ir_ops[op].name);
    CU_ASSERT_PTR_NOT_NULL(op_tests[op].build);
  }
}

/* One graph per op holding every size and variant, so one compile each. */
static void run_op_tests(IrDtype dt, double rtol) {
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (!op_tests[op].build)
      continue;
    char what[64];
    snprintf(what, sizeof what, "%s %s", ir_ops[op].name, ir_dtype_name(dt));
    Case *c = case_new(dt, what);
    for (size_t i = 0; i < MC_COUNTOF(sizes); i++)
      op_tests[op].build(c, (IrOp)op, sizes[i], &op_tests[op]);
    check(c, rtol);
    case_free(c);
  }
}

static void test_codegen_every_op_f32(void) { run_op_tests(IR_F32, F32_TOL); }
static void test_codegen_every_op_f64(void) { run_op_tests(IR_F64, F64_TOL); }

/* ---- edge values ------------------------------------------------------------------- */

static const double edge[12] = {NAN,  INFINITY, -INFINITY, 0.0, -0.0, 1.0,
                                -1.0, 1e30,     -1e30,     3e9, -3e9, 0.5};
static const double edge_b[12] = {1.0,  NAN,      2.0,       -0.0, 0.0, NAN,
                                  -1.0, INFINITY, -INFINITY, 0.5,  3e9, 0.5};

/* NaN propagation of maximum/minimum/max, relu/sign at 0 and NaN, and
   saturating, NaN-to-zero conversion to i32, x != 0 to bool. */
static void test_codegen_edge_values(void) {
  for (int f = 0; f < 2; f++) {
    IrDtype dt = f ? IR_F64 : IR_F32;
    Case *c = case_new(dt, f ? "edge f64" : "edge f32");
    IrRef a = input(c, DOM_ANY, dt, SHAPE(12)), b = input(c, DOM_ANY, dt, SHAPE(12));
    set_values(c, a, edge);
    set_values(c, b, edge_b);
    static const IrOp unary[] = {IR_OP_RELU, IR_OP_SIGN,    IR_OP_ABS,  IR_OP_NEG,
                                 IR_OP_EXP,  IR_OP_TANH,    IR_OP_ERF,  IR_OP_LOG,
                                 IR_OP_SQRT, IR_OP_SIGMOID, IR_OP_GELU, IR_OP_RSQRT};
    for (size_t i = 0; i < MC_COUNTOF(unary); i++)
      output(c, ir_unary(c->g, unary[i], a, noloc));
    static const IrOp binary[] = {IR_OP_MAXIMUM, IR_OP_MINIMUM, IR_OP_EQ,
                                  IR_OP_NE,      IR_OP_LT,      IR_OP_GE, IR_OP_GELU_GRAD};
    for (size_t i = 0; i < MC_COUNTOF(binary); i++) {
      output(c, ir_binary(c->g, binary[i], a, b, noloc));
      output(c, ir_binary(c->g, binary[i], b, a, noloc));
    }
    output(c, ir_cast(c->g, a, IR_I32, noloc));
    output(c, ir_cast(c->g, a, IR_BOOL, noloc));
    IrShape two = SHAPE(2, 6);
    IrRef a2 = must(c, ir_reshape(c->g, a, &two, noloc)),
          b2 = must(c, ir_reshape(c->g, b, &two, noloc));
    for (uint32_t axes = 1; axes <= 3; axes++) {
      output(c, ir_reduce(c->g, IR_OP_MAX, a2, axes, false, noloc));
      output(c, ir_reduce(c->g, IR_OP_MAX, b2, axes, false, noloc));
    }
    check(c, f ? F64_TOL : F32_TOL);
    case_free(c);
  }
}

/* The float exp, log, erf, tanh (and sigmoid, gelu, gelu_grad through
   them) are codegen's own vectorizable polynomials: swept densely and held
   to a few ulp of libm in double rounded to float (relative to
   max(|ref|, FLT_MIN), so denormal results are compared absolutely).
   MC_SHOW_MATH_ERR=1 in the environment prints every op's worst error. */
typedef struct MathCase {
  IrOp op;
  double lo, hi;  /* x range (log: of log x) */
  double max_err; /* relative */
  double floor;   /* error relative to max(|ref|, floor); 0: FLT_MIN. gelu_grad's
                     Phi and x phi (each near 0.2) cancel where it crosses 0 */
} MathCase;

static double math_ref(IrOp op, double x) {
  switch (op) {
  case IR_OP_EXP:
    return exp(x);
  case IR_OP_LOG:
    return log(x);
  case IR_OP_ERF:
    return erf(x);
  case IR_OP_TANH:
    return tanh(x);
  case IR_OP_SIGMOID:
    return 1.0 / (1.0 + exp(-x));
  case IR_OP_GELU_GRAD:
    return ir_gelu_grad(x);
  default:
    return 0.5 * x * erfc(-x * 0.70710678118654752440); /* gelu */
  }
}

static void test_codegen_float_math_accuracy(void) {
  static const MathCase cases[] = {
      {IR_OP_EXP, -104, 89, 2.4e-7, 0},  {IR_OP_LOG, -104, 88, 2.4e-7, 0},
      {IR_OP_ERF, -8, 8, 4.8e-7, 0},     {IR_OP_TANH, -20, 20, 2.4e-7, 0},
      {IR_OP_SIGMOID, -30, 30, 2.4e-7, 0}, {IR_OP_GELU, -5, 12, 4e-6, 0},
      {IR_OP_GELU_GRAD, -14, 14, 4e-6, 0.1},
  };
  enum { N = 20011 };
  float *x = mc_xmalloc(N * sizeof *x), *y = mc_xmalloc(N * sizeof *y);
  for (size_t k = 0; k < MC_COUNTOF(cases); k++) {
    const MathCase *m = &cases[k];
    Case *c = case_new(IR_F32, ir_ops[m->op].name);
    IrRef in = input(c, DOM_ANY, IR_F32, SHAPE(N));
    output(c, m->op == IR_OP_GELU_GRAD /* gelu'(x) = gelu_grad(x, 1) */
                  ? ir_binary(c->g, m->op, in, ir_const(c->g, 1.0, IR_F32, noloc), noloc)
                  : ir_unary(c->g, m->op, in, noloc));
    CgProgram *p = compile(c);
    for (int i = 0; i < N; i++) {
      double t = m->lo + (m->hi - m->lo) * i / (N - 1.0);
      x[i] = (float)(m->op == IR_OP_LOG ? exp(t) : t);
    }
    void *bufs[2] = {x, y};
    CU_ASSERT_TRUE_FATAL(cg_program_run(p, bufs, &c->d));
    double worst = 0, at = 0;
    for (int i = 0; i < N; i++) {
      double ref = (float)math_ref(m->op, x[i]);
      double scale = fmax(fabs(ref), m->floor > 0 ? m->floor : 1.17549435e-38);
      double err = ref == y[i] ? 0 : fabs(y[i] - ref) / scale;
      if (!(err <= worst))
        worst = err, at = x[i];
    }
    if (getenv("MC_SHOW_MATH_ERR") || !(worst <= m->max_err))
      fprintf(stderr, "\n  %s: relative error %.3g at x = %.9g", ir_ops[m->op].name, worst, at);
    CU_ASSERT_TRUE(worst <= m->max_err);
    cg_program_free(p);
    case_free(c);
  }
  free(x);
  free(y);
}

/* Reductions over an empty axis give the identity; matmul over K = 0 gives
   zeros; empty tensors need no buffer. */
static void test_codegen_empty_tensors(void) {
  Case *c = case_new(IR_F32, "empty");
  IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(3, 0));
  output(c, ir_reduce(c->g, IR_OP_SUM, x, 2, false, noloc));
  output(c, ir_reduce(c->g, IR_OP_MAX, x, 2, false, noloc));
  output(c, ir_matmul(c->g, x, input(c, DOM_ANY, IR_F32, SHAPE(0, 4)), noloc));
  output(c, ir_unary(c->g, IR_OP_EXP, x, noloc));
  IrRef parts[2] = {x, input(c, DOM_ANY, IR_F32, SHAPE(3, 2))};
  output(c, ir_concat(c->g, parts, 2, 1, noloc));
  check(c, F32_TOL);
  case_free(c);
}

/* ---- bad indices -------------------------------------------------------------------- */

static const double bad_idx[4] = {1, 7, -1, 0};

static void test_codegen_bad_index_is_reported(void) {
  Case *c = case_new(IR_F32, "bad index");
  IrRef tab = input(c, DOM_ANY, IR_F32, SHAPE(3, 2));
  IrRef idx = input(c, DOM_INDEX, IR_I32, SHAPE(4));
  set_values(c, idx, bad_idx);
  output(c, ir_gather(c->g, tab, idx, noloc));
  CgProgram *p = compile(c);
  float table[6] = {1, 2, 3, 4, 5, 6}, out[8];
  int32_t ids[4] = {1, 7, -1, 0};
  void *bufs[3] = {table, ids, out};
  CU_ASSERT_FALSE(cg_program_run(p, bufs, &c->d));
  CU_ASSERT_PTR_NOT_NULL(strstr(c->d.buf.s, "gather index 7 out of range [0, 3)"));
  float want[8] = {3, 4, 0, 0, 0, 0, 1, 2};
  CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
  /* the next run starts clean */
  ids[1] = 2;
  ids[2] = 1;
  CU_ASSERT_TRUE(cg_program_run(p, bufs, &c->d));
  CU_ASSERT_EQUAL(out[2], 5);
  CU_ASSERT_EQUAL(out[4], 3);
  /* scatter_add skips a bad row */
  cg_program_free(p);
  case_free(c);

  c = case_new(IR_F32, "bad scatter index");
  IrRef src = input(c, DOM_ANY, IR_F32, SHAPE(3));
  IrRef at = input(c, DOM_INDEX, IR_I32, SHAPE(3));
  output(c, ir_scatter_add(c->g, src, at, ir_dim_const(2), noloc));
  p = compile(c);
  float s[3] = {1, 2, 4}, o[2];
  int32_t rows[3] = {1, 2147483647, 1};
  void *b2[3] = {s, rows, o};
  CU_ASSERT_FALSE(cg_program_run(p, b2, &c->d));
  CU_ASSERT_PTR_NOT_NULL(strstr(c->d.buf.s, "scatter_add index 2147483647 out of range [0, 2)"));
  CU_ASSERT_EQUAL(o[0], 0);
  CU_ASSERT_EQUAL(o[1], 5);
  cg_program_free(p);
  case_free(c);
}

static void test_codegen_missing_buffer_is_reported(void) {
  Case *c = case_new(IR_F32, "missing buffer");
  output(c, ir_unary(c->g, IR_OP_NEG, input(c, DOM_ANY, IR_F32, SHAPE(4)), noloc));
  CgProgram *p = compile(c);
  float y[4];
  void *bufs[2] = {NULL, y};
  CU_ASSERT_FALSE(cg_program_run(p, bufs, &c->d));
  CU_ASSERT_PTR_NOT_NULL(strstr(c->d.buf.s, "no buffer for slot 0"));
  CU_ASSERT_FALSE(cg_program_run(p, NULL, &c->d));
  cg_program_free(p);
  case_free(c);
  /* only empty tensors: no buffer is needed at all */
  c = case_new(IR_F32, "no buffers");
  output(c, ir_unary(c->g, IR_OP_NEG, input(c, DOM_ANY, IR_F32, SHAPE(0, 3)), noloc));
  p = compile(c);
  CU_ASSERT_TRUE(cg_program_run(p, NULL, &c->d));
  cg_program_free(p);
  case_free(c);
}

static void test_codegen_invalid_graph_is_refused(void) {
  Case *c = case_new(IR_F32, "invalid");
  output(c, ir_unary(c->g, IR_OP_NEG, input(c, DOM_ANY, IR_F32, SHAPE(4)), noloc));
  c->g->outs[0].ref = 99;
  CU_ASSERT_PTR_NULL(cg_jit_compile(c->g, NULL, &c->d));
  CU_ASSERT_TRUE(c->d.nerrors > 0);
  McStr s;
  mc_str_init(&s);
  CU_ASSERT_FALSE(cg_emit(c->g, NULL, "llvm", &s, &c->d));
  mc_str_free(&s);
  case_free(c);
}

/* ---- slots, plan, reuse --------------------------------------------------------------- */

static void test_codegen_slots_and_plan(void) {
  Case *c = case_new(IR_F32, "plan");
  IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(1000));
  IrRef w = param(c, DOM_ANY, SHAPE(1000));
  IrRef y = x;
  for (int i = 0; i < 10; i++)
    y = must(c, ir_binary(c->g, i % 2 ? IR_OP_MUL : IR_OP_ADD, y, w, noloc));
  output(c, y);
  output(c, x);
  CgProgram *p = compile(c);
  CU_ASSERT_EQUAL(cg_program_nslots(p), 4);
  CU_ASSERT_EQUAL(cg_program_slot_node(p, 0), x);
  CU_ASSERT_EQUAL(cg_program_slot_node(p, 1), w);
  CU_ASSERT_EQUAL(cg_program_slot_node(p, 2), y);
  CU_ASSERT_EQUAL(cg_program_slot_node(p, 3), x);
  CU_ASSERT_EQUAL(cg_program_output_slot(p, 1), 3);
  CU_ASSERT_EQUAL(cg_program_slot_node(p, 4), IR_NONE);
  CgStats st;
  cg_program_stats(p, &st);
  /* 9 intermediates of 4000 bytes, two alive at a time: 7 fewer buffers */
  CU_ASSERT_TRUE(st.naive_bytes >= 9 * 4000);
  CU_ASSERT_TRUE(st.workspace_bytes <= st.naive_bytes - 7 * 4032);
  /* one add and one mul kernel, each shared by five nodes, and the copy of
     the input x to its output slot */
  CU_ASSERT_EQUAL(st.nkernels, 3);
  CU_ASSERT_TRUE(cg_program_compile_seconds(p) > 0);
  /* runs twice with new inputs */
  CU_ASSERT_EQUAL(check_runs(c, p, F32_TOL, 1), 0);
  CU_ASSERT_EQUAL(check_runs(c, p, F32_TOL, 2), 0);
  cg_program_free(p);
  case_free(c);
}

static void test_codegen_emit_llvm_and_asm(void) {
  Case *c = case_new(IR_F32, "emit");
  output(c, ir_unary(c->g, IR_OP_EXP, input(c, DOM_ANY, IR_F32, SHAPE(64)), noloc));
  McStr s;
  mc_str_init(&s);
  CU_ASSERT_TRUE(cg_emit(c->g, NULL, "llvm", &s, &c->d));
  CU_ASSERT_PTR_NOT_NULL(s.s && strstr(s.s, "define void @run(ptr"));
  mc_str_free(&s);
  mc_str_init(&s);
  CU_ASSERT_TRUE(cg_emit(c->g, NULL, "asm", &s, &c->d));
  CU_ASSERT_PTR_NOT_NULL(s.s && strstr(s.s, "run:"));
  mc_str_free(&s);
  mc_str_init(&s);
  CU_ASSERT_FALSE(cg_emit(c->g, NULL, "obj", &s, &c->d));
  CU_ASSERT_PTR_NOT_NULL(strstr(c->d.buf.s, "cannot emit 'obj'"));
  mc_str_free(&s);
  case_free(c);
}

/* A graph big enough to be split into shards compiled on several threads
   (calls between shards go by name), at every optimization level. */
static void test_codegen_shards_and_opt_levels(void) {
  static const IrOp ops[] = {IR_OP_ADD, IR_OP_MUL, IR_OP_SUB, IR_OP_MAXIMUM};
  for (int level = 0; level <= 3; level++) {
    char what[32];
    snprintf(what, sizeof what, "shards O%d", level);
    Case *c = case_new(IR_F32, what);
    c->opts.opt_level = level;
    c->opts.threads = level == 1 ? 1 : 3;
    IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(16, 24)), w = param(c, DOM_ANY, SHAPE(24, 24));
    for (int i = 0; i < 200; i++) {
      IrRef y =
          must(c, ir_binary(c->g, ops[i % 4], x, input(c, DOM_ANY, IR_F32, SHAPE(24)), noloc));
      x = i % 10 == 9 ? must(c, ir_matmul(c->g, ir_unary(c->g, IR_OP_TANH, y, noloc), w, noloc))
                      : y;
      if (i % 50 == 49)
        output(c, x);
    }
    CgProgram *p = compile(c);
    CgStats st;
    cg_program_stats(p, &st);
    CU_ASSERT_EQUAL(st.shards, c->opts.threads);
    CU_ASSERT_EQUAL(check_runs(c, p, F32_TOL, 7), 0);
    cg_program_free(p);
    case_free(c);
  }
}

/* The host's own path: on a CPU with AVX-512 the default target must take
   the 512-bit kernels in zmm registers (the matmul microkernel, packing,
   elementwise and reductions), and they must compute what the reference
   does; on a CPU without it the test says it skipped that part and checks
   that no zmm register is used. */
static void test_codegen_host_avx512(void) {
  int bits = cg_host_vector_bits();
  Case *c = case_new(IR_F32, "host vector path");
  IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(67, 300)), w = input(c, DOM_ANY, IR_F32, SHAPE(300, 129));
  IrRef y = must(c, ir_matmul(c->g, x, w, noloc));
  output(c, y);
  output(c, ir_unary(c->g, IR_OP_GELU, y, noloc));
  output(c, ir_reduce(c->g, IR_OP_SUM, y, 2, false, noloc));
  output(c, ir_matmul(c->g, input(c, DOM_ANY, IR_F32, SHAPE(400, 256)),
                      input(c, DOM_ANY, IR_F32, SHAPE(256, 300)), noloc));
  check(c, F32_TOL);
  McStr s;
  mc_str_init(&s);
  CU_ASSERT_TRUE(cg_emit(c->g, &c->opts, "asm", &s, &c->d));
  bool zmm = s.s && strstr(s.s, "zmm") != NULL;
  if (bits == 512) {
    CU_ASSERT_TRUE(zmm);
    CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "vfmadd231ps\t%zmm") : NULL);
  } else {
    fprintf(stderr, "\n  host_avx512: skipped, this CPU has no AVX-512 (its %d-bit path ran)\n",
            bits);
    CU_ASSERT_FALSE(zmm);
  }
  mc_str_free(&s);
  case_free(c);
}

/* A CPU named instead of the host's: the x86-64 baseline (SSE2, no FMA)
   runs everywhere this test does. */
static void test_codegen_named_cpu(void) {
  Case *c = case_new(IR_F32, "cpu x86-64");
  c->opts.cpu = "x86-64";
  IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(37, 45));
  output(c, ir_unary(c->g, IR_OP_GELU, x, noloc));
  output(c, ir_unary(c->g, IR_OP_EXP, x, noloc));
  output(c, ir_matmul(c->g, x, input(c, DOM_ANY, IR_F32, SHAPE(45, 50)), noloc));
  output(c, ir_reduce(c->g, IR_OP_SUM, x, 2, false, noloc));
  check(c, F32_TOL);
  McStr s;
  mc_str_init(&s);
  CU_ASSERT_TRUE(cg_emit(c->g, &c->opts, "asm", &s, &c->d));
  CU_ASSERT_PTR_NULL(s.s ? strstr(s.s, "ymm") : NULL); /* no AVX */
  mc_str_free(&s);
  case_free(c);
}

/* Loops of kernels computing exp, gelu and the like ask the vectorizer to
   interleave (their polynomials are latency-bound one vector at a time);
   loops of cheap ones do not: the metadata, read before optimization
   consumes it, and the values against the evaluator. */
static int interleave_requests(IrOp op) {
  Case *c = case_new(IR_F32, ir_ops[op].name);
  c->opts.opt_level = 0;
  IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(37, 45));
  IrRef y = op == IR_OP_ADD ? ir_binary(c->g, op, x, x, noloc) : ir_unary(c->g, op, x, noloc);
  output(c, ir_binary(c->g, IR_OP_MUL, y, input(c, DOM_ANY, IR_F32, SHAPE(45)), noloc));
  check(c, F32_TOL);
  McStr s = llvm_of(c);
  int n = 0;
  for (const char *at = s.s; at && (at = strstr(at, "\"llvm.loop.interleave.count\", i32 4")); at++)
    n++;
  mc_str_free(&s);
  case_free(c);
  return n;
}

static void test_codegen_costly_loops_interleave(void) {
  CU_ASSERT_TRUE(interleave_requests(IR_OP_GELU) >= 1);
  CU_ASSERT_TRUE(interleave_requests(IR_OP_EXP) >= 1);
  CU_ASSERT_EQUAL(interleave_requests(IR_OP_ADD), 0);
}

/* ---- matmul around the tiles ------------------------------------------------------------ */

/* M, K, N across microkernel edges, a K beyond one cache block (partial
   sums accumulate in C) and an M beyond one; each kernel shape (the 512-bit
   one runs on 256-bit CPUs too, as pairs of registers) with 1 and 2
   threads; small products (the direct kernel) among them. */
static void test_codegen_matmul_tiles(void) {
  static const int64_t mkn[][3] = {{1, 1, 1},     {6, 5, 16},    {7, 9, 17},    {13, 3, 33},
                                   {15, 300, 31}, {150, 40, 65}, {29, 64, 100}, {64, 513, 48}};
  static const int bits[] = {256, 512, 128};
  for (size_t b = 0; b < MC_COUNTOF(bits); b++)
    for (int threads = 1; threads <= 2; threads++)
      for (int f = 0; f < 2; f++) {
        IrDtype dt = f ? IR_F64 : IR_F32;
        char what[64];
        snprintf(what, sizeof what, "matmul %d-bit %d threads %s", bits[b], threads,
                 ir_dtype_name(dt));
        Case *c = case_new(dt, what);
        c->opts.vector_bits = bits[b];
        c->opts.threads = threads;
        for (size_t i = 0; i < MC_COUNTOF(mkn); i++)
          matmul_case(c, SHAPE(mkn[i][0], mkn[i][1]), SHAPE(mkn[i][1], mkn[i][2]));
        matmul_case(c, SHAPE(4, 37, 19), SHAPE(4, 19, 23));    /* small, batched */
        matmul_case(c, SHAPE(3, 1, 40, 50), SHAPE(2, 50, 31)); /* batches broadcast, over threads */
        matmul_case(c, SHAPE(1, 100, 200), SHAPE(200, 120));   /* big enough to split */
        check(c, f ? F64_TOL : F32_TOL);
        case_free(c);
      }
}

/* ---- transposed matmul operands ------------------------------------------------------- */

static IrRef transpose(Case *c, IrRef x) {
  static const uint8_t swap[2] = {1, 0};
  return must(c, ir_permute(c->g, x, swap, noloc));
}

/* Matmuls reading 2-D transposes (which their packing reads in place) at
   odd sizes: A, B or both transposed, a transpose of an intermediate whose
   storage must outlive it, and transposes that are also an output or read
   by another op (those are still copied). */
static void build_transposed_matmuls(Case *c) {
  IrDtype dt = c->dt;
  IrRef a = input(c, DOM_ANY, dt, SHAPE(45, 37)), b = input(c, DOM_ANY, dt, SHAPE(29, 45));
  output(c, ir_matmul(c->g, transpose(c, a), input(c, DOM_ANY, dt, SHAPE(45, 29)), noloc));
  output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(37, 45)), transpose(c, b), noloc));
  output(c, ir_matmul(c->g, transpose(c, a), transpose(c, b), noloc));
  IrRef t = must(c, ir_unary(c->g, IR_OP_TANH, input(c, DOM_ANY, dt, SHAPE(70, 33)), noloc));
  IrRef tt = transpose(c, t);
  IrRef u = must(c, ir_unary(c->g, IR_OP_EXP, input(c, DOM_ANY, dt, SHAPE(70, 33)), noloc));
  output(c, ir_matmul(c->g, tt, input(c, DOM_ANY, dt, SHAPE(70, 19)), noloc));
  output(c, u);
  IrRef shown = transpose(c, input(c, DOM_ANY, dt, SHAPE(41, 40)));
  output(c, shown);
  output(c, ir_matmul(c->g, shown, input(c, DOM_ANY, dt, SHAPE(41, 40)), noloc));
  IrRef shared = transpose(c, input(c, DOM_ANY, dt, SHAPE(50, 40)));
  output(c, ir_unary(c->g, IR_OP_NEG, shared, noloc));
  output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(33, 40)), shared, noloc));
  /* transposed products, computed as B^T A^T: plain, with a transposed
     operand (a weight gradient), one an intermediate, one read twice */
  IrRef g = input(c, DOM_ANY, dt, SHAPE(45, 29));
  output(c, transpose(c, ir_matmul(c->g, b, g, noloc)));
  output(c, transpose(c, ir_matmul(c->g, transpose(c, a), g, noloc)));
  IrRef pt = transpose(c, ir_matmul(c->g, transpose(c, g), transpose(c, b), noloc));
  output(c, ir_unary(c->g, IR_OP_NEG, pt, noloc));
  IrRef twice = ir_matmul(c->g, b, g, noloc);
  output(c, transpose(c, twice));
  output(c, ir_unary(c->g, IR_OP_EXP, twice, noloc));
  /* batched: every matrix of a batch transposed (a convolution's weight
     gradient reads its unfolded input so), A or B, B broadcast */
  static const uint8_t swap3[3] = {0, 2, 1};
  IrRef ub = input(c, DOM_ANY, dt, SHAPE(3, 36, 50));
  output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(3, 16, 50)),
                      must(c, ir_permute(c->g, ub, swap3, noloc)), noloc));
  IrRef v = input(c, DOM_ANY, dt, SHAPE(3, 50, 16));
  output(c, ir_matmul(c->g, must(c, ir_permute(c->g, v, swap3, noloc)),
                      input(c, DOM_ANY, dt, SHAPE(3, 50, 36)), noloc));
  output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(3, 16, 50)),
                      transpose(c, input(c, DOM_ANY, dt, SHAPE(36, 50))), noloc));
  /* skinny: 1 to 4 rows times a transposed weight (no packing; a weight of
     more than 4096 elements by dot products, one row by the row kernel;
     37 x 97 by register transposes), K with and without a remainder of the
     vector width, N with and without a remainder of the column block, with
     an epilogue */
  static const int64_t skinny[][3] = {{1, 300, 70}, {3, 37, 97}, {4, 64, 129}, {2, 1000, 5},
                                      {1, 128, 2100}, {3, 200, 1400}}; /* the last two: in parts */
  for (size_t i = 0; i < MC_COUNTOF(skinny); i++) {
    IrRef w = input(c, DOM_ANY, dt, SHAPE(skinny[i][2], skinny[i][1]));
    IrRef y = ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(skinny[i][0], skinny[i][1])),
                        transpose(c, w), noloc);
    output(c, ir_unary(c->g, IR_OP_TANH, ir_binary(c->g, IR_OP_ADD, y, input(c, DOM_ANY, dt,
                       SHAPE(skinny[i][2])), noloc), noloc));
  }
  /* few columns of a transposed weight (W transposed into the part's
     buffer, A read in place): rows in panels of MR, of 4 and single ones
     (64 = 4 x 14 + 2 x 4, 67, 87, 150), N within one vector or over it (2,
     10, 20, 40), K over one cache block (600), with a bias and relu
     epilogue, and batched with W broadcast */
  static const int64_t small_bt[][3] = {{64, 10, 20}, {67, 20, 10}, {87, 100, 2},
                                        {150, 33, 40}, {70, 600, 12}};
  for (size_t i = 0; i < MC_COUNTOF(small_bt); i++) {
    IrRef w = input(c, DOM_ANY, dt, SHAPE(small_bt[i][2], small_bt[i][1]));
    IrRef y = ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(small_bt[i][0], small_bt[i][1])),
                        transpose(c, w), noloc);
    output(c, ir_unary(c->g, IR_OP_RELU, ir_binary(c->g, IR_OP_ADD, y, input(c, DOM_ANY, dt,
                       SHAPE(small_bt[i][2])), noloc), noloc));
  }
  output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(3, 30, 50)),
                      transpose(c, input(c, DOM_ANY, dt, SHAPE(12, 50))), noloc));
}

static void test_codegen_matmul_transposed_operands(void) {
  static const int bits[] = {256, 512, 128};
  for (size_t k = 0; k < MC_COUNTOF(bits); k++)
    for (int threads = 1; threads <= 2; threads++)
      for (int f = 0; f < 2; f++) {
        IrDtype dt = f ? IR_F64 : IR_F32;
        char what[80];
        snprintf(what, sizeof what, "transposed matmul %d-bit %d threads %s", bits[k], threads,
                 ir_dtype_name(dt));
        Case *c = case_new(dt, what);
        c->opts.vector_bits = bits[k];
        c->opts.threads = threads;
        build_transposed_matmuls(c);
        check(c, f ? F64_TOL : F32_TOL);
        McStr s = llvm_of(c);
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "gemm_pack_at_") : NULL);
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "gemm_pack_bt_") : NULL);
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "_sbt") : NULL);
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "gemm_ukernel_narrow1v1_") : NULL);
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "gemm_dot_row_") : NULL);
        /* packing and transposing move rows and columns by vectors,
           register transposes or single elements, never by scatters
           (which AMD cores run element by element), and the packers by
           no gathers either */
        CU_ASSERT_FALSE(s.s && body_calls(s.s, "@gemm_", "@llvm.masked.scatter"));
        CU_ASSERT_FALSE(s.s && body_calls(s.s, "@gemm_pack_", "@llvm.masked.gather"));
        mc_str_free(&s);
        case_free(c);
      }
}

/* A batched product whose B is one matrix for every batch (a linear layer
   on [B, T, C]) runs as one product of B * T rows (its task has no batch
   axis, b0), also at a batch of one; a product batched in both operands
   keeps its batch axis (b1). Both against the evaluator, which also checks
   the narrow kernels that take the last rows of a tile. */
static void test_codegen_batched_rows_merge(void) {
  for (int threads = 1; threads <= 2; threads++)
    for (int f = 0; f < 2; f++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      char what[80];
      snprintf(what, sizeof what, "batched rows merge %d threads %s", threads, ir_dtype_name(dt));
      Case *c = case_new(dt, what);
      c->opts.threads = threads;
      IrRef w = input(c, DOM_ANY, dt, SHAPE(100, 50));
      IrRef y = ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(4, 37, 50)), transpose(c, w), noloc);
      output(c, ir_unary(c->g, IR_OP_RELU, ir_binary(c->g, IR_OP_ADD, y, input(c, DOM_ANY, dt,
                         SHAPE(100)), noloc), noloc));
      output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(1, 29, 50)), transpose(c, w), noloc));
      output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(2, 3, 33, 40)),
                          input(c, DOM_ANY, dt, SHAPE(40, 70)), noloc));
      output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(4, 37, 50)),
                          input(c, DOM_ANY, dt, SHAPE(4, 50, 30)), noloc));
      CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
      check(c, f ? F64_TOL : F32_TOL);
      McStr s = llvm_of(c);
      CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "gemm_task_f") : NULL);
      CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "_b0_") : NULL);
      CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "_b1_") : NULL);
      CU_ASSERT_PTR_NULL(s.s ? strstr(s.s, "_b2_") : NULL);
      /* a tile's last rows (148 = 10 x 14 + 8 with AVX-512) go to narrow
         microkernels over the packed panels, not to a whole panel */
      CU_ASSERT_TRUE(s.s && body_calls(s.s, "@gemm_task_f", "@gemm_ukernel_narrow1_"));
      mc_str_free(&s);
      case_free(c);
    }
}

/* A fixed M of fewer than two microkernel panels is cut into equal ones (16
   rows as 8 + 8, a convolution's weight gradient with 16 filters); an M of
   two panels or more keeps the target's. Against the evaluator, batched
   and not, 1 and 2 threads. */
static void test_codegen_equal_panels(void) {
  for (int threads = 1; threads <= 2; threads++)
    for (int f = 0; f < 2; f++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      char what[80];
      snprintf(what, sizeof what, "equal panels %d threads %s", threads, ir_dtype_name(dt));
      Case *c = case_new(dt, what);
      c->opts.threads = threads;
      static const uint8_t swap3[3] = {0, 2, 1};
      IrRef cols = input(c, DOM_ANY, dt, SHAPE(5, 150, 100));
      output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(5, 16, 100)),
                          must(c, ir_permute(c->g, cols, swap3, noloc)), noloc));
      output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(60, 100)),
                          transpose(c, input(c, DOM_ANY, dt, SHAPE(150, 100))), noloc));
      CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
      check(c, f ? F64_TOL : F32_TOL);
      McStr s = llvm_of(c);
      char want[40];
      snprintf(want, sizeof want, "gemm_ukernel_%s_m8", ir_dtype_name(dt));
      CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, want) : NULL);
      mc_str_free(&s);
      case_free(c);
    }
}

/* fold as one kernel: zeros, then every tap's windows added in tap order;
   big ones in parts over their leading rows (a convolution's input
   gradient, 3x3 taps, and a 2x2 stride-2 pool's, whose windows do not
   overlap), a small one whole. Against the evaluator; with two threads
   the big ones run through part functions. */
static void test_codegen_fold_kernel(void) {
  for (int threads = 1; threads <= 2; threads++)
    for (int f = 0; f < 2; f++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      char what[80];
      snprintf(what, sizeof what, "fold kernel %d threads %s", threads, ir_dtype_name(dt));
      Case *c = case_new(dt, what);
      c->opts.threads = threads;
      IrRef y = input(c, DOM_ANY, dt, SHAPE(4, 8, 3, 3, 48, 48));
      output(c, ir_fold(c->g, y, 2, (IrDim[]){ir_dim_const(50), ir_dim_const(50)},
                        (int64_t[]){1, 1}, (int64_t[]){1, 1}, noloc));
      IrRef p = input(c, DOM_ANY, dt, SHAPE(2, 16, 2, 2, 32, 32));
      output(c, ir_fold(c->g, p, 2, (IrDim[]){ir_dim_const(64), ir_dim_const(64)},
                        (int64_t[]){2, 2}, (int64_t[]){1, 1}, noloc));
      IrRef small = input(c, DOM_ANY, dt, SHAPE(2, 3, 5, 5, 6, 6));
      output(c, ir_fold(c->g, small, 2, (IrDim[]){ir_dim_const(10), ir_dim_const(10)},
                        (int64_t[]){1, 1}, (int64_t[]){1, 1}, noloc));
      /* one tap, stride 2 (a strided 1 x 1 convolution's input gradient):
         its walk's rows are an image's row pairs, which tile the result */
      IrRef one = input(c, DOM_ANY, dt, SHAPE(2, 16, 1, 1, 32, 32));
      output(c, ir_fold(c->g, one, 2, (IrDim[]){ir_dim_const(64), ir_dim_const(64)},
                        (int64_t[]){2, 2}, (int64_t[]){1, 1}, noloc));
      CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
      check(c, f ? F64_TOL : F32_TOL);
      McStr s = llvm_of(c);
      int parts = 0;
      for (const char *at = s.s; at && (at = strstr(at, "_fold_part(")); at++) parts++;
      if (parts != (threads == 2 ? 3 : 0)) fprintf(stderr, "\n  %s: %d part functions", what, parts);
      CU_ASSERT_EQUAL(parts, threads == 2 ? 3 : 0);
      mc_str_free(&s);
      case_free(c);
    }
}

/* ---- narrow products -----------------------------------------------------------------
   Products of at most 64 rows with B stored as is read A and B in place
   (convolutions: filters times unfolded input): rows below, at and above
   the microkernel's, a last panel of fewer rows, N with a masked last
   column panel, K over one cache block, A transposed, batched with A
   broadcast, a transposed product, and an epilogue (bias and relu); and
   the dot path (B transposed, k long). */
static void build_narrow_matmuls(Case *c) {
  IrDtype dt = c->dt;
  static const int64_t mkn[][3] = {{8, 10, 512}, {6, 25, 784}, {14, 300, 33}, {16, 150, 100},
                                   {29, 7, 65},  {64, 40, 48}, {3, 520, 17}};
  for (size_t i = 0; i < MC_COUNTOF(mkn); i++)
    matmul_case(c, SHAPE(mkn[i][0], mkn[i][1]), SHAPE(mkn[i][1], mkn[i][2]));
  matmul_case(c, SHAPE(6, 25), SHAPE(3, 25, 100));     /* a convolution's shape */
  matmul_case(c, SHAPE(2, 16, 30), SHAPE(2, 30, 70));  /* batched both */
  IrRef a = input(c, DOM_ANY, dt, SHAPE(8, 10));       /* A transposed: M = 10 */
  output(c, ir_matmul(c->g, transpose(c, a), input(c, DOM_ANY, dt, SHAPE(8, 512)), noloc));
  IrRef g = input(c, DOM_ANY, dt, SHAPE(8, 10)), h = input(c, DOM_ANY, dt, SHAPE(8, 256));
  output(c, transpose(c, ir_matmul(c->g, transpose(c, h), g, noloc))); /* as g^T h */
  /* dot products: few rows times B transposed over a long k (a weight
     gradient of a convolution), k with and without a last partial vector,
     rows and columns not multiples of the block, batched */
  static const int64_t dot[][3] = {{6, 784, 25}, {7, 130, 9}, {16, 128, 150}, {1, 300, 3}};
  for (size_t i = 0; i < MC_COUNTOF(dot); i++) {
    IrRef bt = input(c, DOM_ANY, dt, SHAPE(dot[i][2], dot[i][1]));
    output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(dot[i][0], dot[i][1])),
                        transpose(c, bt), noloc));
  }
  static const uint8_t swap3[3] = {0, 2, 1};
  IrRef ub = input(c, DOM_ANY, dt, SHAPE(3, 37, 200));
  output(c, ir_matmul(c->g, input(c, DOM_ANY, dt, SHAPE(3, 16, 200)),
                      must(c, ir_permute(c->g, ub, swap3, noloc)), noloc));
  IrRef w = input(c, DOM_ANY, dt, SHAPE(6, 25));
  IrRef y = ir_matmul(c->g, w, input(c, DOM_ANY, dt, SHAPE(2, 25, 81)), noloc);
  IrShape bs = SHAPE(6, 1);
  IrRef bias = ir_reshape(c->g, input(c, DOM_ANY, dt, SHAPE(6)), &bs, noloc);
  output(c, ir_unary(c->g, IR_OP_RELU, ir_binary(c->g, IR_OP_ADD, y, bias, noloc), noloc));
}

static void test_codegen_matmul_narrow(void) {
  static const int bits[] = {256, 512, 128};
  for (size_t k = 0; k < MC_COUNTOF(bits); k++)
    for (int threads = 1; threads <= 2; threads++)
      for (int f = 0; f < 2; f++) {
        IrDtype dt = f ? IR_F64 : IR_F32;
        char what[80];
        snprintf(what, sizeof what, "narrow matmul %d-bit %d threads %s", bits[k], threads,
                 ir_dtype_name(dt));
        Case *c = case_new(dt, what);
        c->opts.vector_bits = bits[k];
        c->opts.threads = threads;
        build_narrow_matmuls(c);
        check(c, f ? F64_TOL : F32_TOL);
        McStr s = llvm_of(c);
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "gemm_ukernel_narrow") : NULL);
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "gemm_dot_") : NULL);

        mc_str_free(&s);
        case_free(c);
      }
}

/* ---- elementwise kernels in parts ---------------------------------------------------------- */

/* Elementwise nodes big enough to run in parts on the pool (split along
   the outermost axis): contiguous, broadcast along either axis, a merged
   rank-1 walk, with 1 and 2 threads; results must match the evaluator. */
static void test_codegen_elementwise_in_parts(void) {
  for (int threads = 1; threads <= 2; threads++)
    for (int f = 0; f < 2; f++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      char what[64];
      snprintf(what, sizeof what, "elementwise in parts %d threads %s", threads, ir_dtype_name(dt));
      Case *c = case_new(dt, what);
      c->opts.threads = threads;
      IrRef x = input(c, DOM_ANY, dt, SHAPE(301, 257)), y = input(c, DOM_ANY, dt, SHAPE(301, 257));
      IrRef row = input(c, DOM_ANY, dt, SHAPE(257)), col = input(c, DOM_ANY, dt, SHAPE(301, 1));
      output(c, ir_binary(c->g, IR_OP_ADD, x, y, noloc));
      output(c, ir_binary(c->g, IR_OP_MUL, x, row, noloc));
      output(c, ir_binary(c->g, IR_OP_SUB, col, y, noloc));
      output(c, ir_unary(c->g, IR_OP_EXP, x, noloc));
      IrRef big = input(c, DOM_ANY, dt, SHAPE(70001));
      output(c, ir_binary(c->g, IR_OP_MUL, big, input(c, DOM_ANY, dt, scalar), noloc));
      check(c, f ? F64_TOL : F32_TOL);
      case_free(c);
    }
}

static void each_cpu_case(const char *name, void (*body)(Case *c));
static double tol_of(const Case *c);

/* Reductions whose outermost axis is reduced but that keep one further in
   (batch norm's per-channel sums of [B, C, H, W]) run in parts along that
   kept axis: sums and maxima over axes {0, 2, 3} and {0, 2}, kept dims or
   not, 1 and 2 threads on each CPU; results must match the evaluator, and
   the 2-thread program must have the part function. */
static void reductions_in_parts_body(Case *c) {
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(17, 6, 29, 31));
  output(c, ir_reduce(c->g, IR_OP_SUM, x, 0xd, true, noloc));
  output(c, ir_reduce(c->g, IR_OP_SUM, x, 0xd, false, noloc));
  output(c, ir_reduce(c->g, IR_OP_MAX, x, 0xd, true, noloc));
  output(c, ir_reduce(c->g, IR_OP_SUM, x, 0x5, false, noloc));
  CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
  McStr s = llvm_of(c);
  bool parts = s.s && strstr(s.s, "_sum_part(") && strstr(s.s, "_max_part(");
  if (parts != (c->opts.threads == 2))
    fprintf(stderr, "\n  %s: part functions %s", c->what, parts ? "present" : "missing");
  CU_ASSERT_EQUAL(parts, c->opts.threads == 2);
  mc_str_free(&s);
  check(c, tol_of(c));
}

static void test_codegen_reductions_in_parts(void) {
  each_cpu_case("reductions in parts", reductions_in_parts_body);
}

/* Movements big enough to run in parts, with rows long enough for whole
   vectors and a tail (26 = 3 x 8 + 2 f32 at 256 bits): a convolution's
   windows of a padded image, their fold (accumulating copies with scalar
   tails), integer windows; 128- and host-width vectors, 1 and 2 threads. */
static void test_codegen_moves_in_parts(void) {
  static const int bits[] = {0, 128};
  for (size_t b = 0; b < MC_COUNTOF(bits); b++)
    for (int threads = 1; threads <= 2; threads++)
      for (int f = 0; f < 2; f++) {
        IrDtype dt = f ? IR_F64 : IR_F32;
        char what[80];
        snprintf(what, sizeof what, "moves in parts %d-bit %d threads %s", bits[b], threads,
                 ir_dtype_name(dt));
        Case *c = case_new(dt, what);
        c->opts.vector_bits = bits[b];
        c->opts.threads = threads;
        IrRef x = input(c, DOM_ANY, dt, SHAPE(4, 3, 28, 28));
        IrRef padded = must(c, ir_pad(c->g, x, (int64_t[]){0, 0, 1, 1}, (int64_t[]){0, 0, 1, 1},
                                      noloc));
        output(c, padded);
        IrRef win = must(c, ir_unfold(c->g, padded, 2, (int64_t[]){5, 5}, (int64_t[]){1, 1},
                                      (int64_t[]){1, 1}, noloc));
        output(c, win);
        IrRef y = input(c, DOM_ANY, dt, SHAPE(8, 3, 5, 5, 26, 26));
        output(c, ir_fold(c->g, y, 2, (IrDim[]){ir_dim_const(30), ir_dim_const(30)},
                          (int64_t[]){1, 1}, (int64_t[]){1, 1}, noloc));
        IrRef k = input(c, DOM_INT, IR_I32, SHAPE(2, 3, 40, 45));
        output(c, ir_unfold(c->g, k, 2, (int64_t[]){3, 3}, (int64_t[]){1, 1}, (int64_t[]){1, 1},
                            noloc));
        CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
        CgProgram *p = compile(c);
        CU_ASSERT_EQUAL(check_runs(c, p, f ? F64_TOL : F32_TOL, 1000), 0);
        CgStats st;
        cg_program_stats(p, &st);
        CU_ASSERT_EQUAL(st.threads, threads); /* only moves, and still the pool */
        McStr s = llvm_of(c); /* the pad is one pass (its own kernel), not zeros + a copy */
        CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "_pad") : NULL);
        mc_str_free(&s);
        cg_program_free(p);
        case_free(c);
      }
}

/* ---- fusion ---------------------------------------------------------------------------------
   Each graph runs through the fuse pass (kernel groups, no buffers for
   what a group keeps inside) and is checked against the evaluator; it must
   run in at most `calls` kernel calls. Sizes 1, 3, 17, 33, 129 on both
   axes of the rows. */

typedef IrRef (*FuseBuild)(Case *c, int64_t rows, int64_t cols);

static int fuse_and_count_calls(Case *c, const char *pipeline, double rtol) {
  PassCtx cx = {.diag = &c->d, .verify_each = true};
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&c->g, pipeline, &cx));
  CgProgram *p = compile(c);
  CU_ASSERT_EQUAL(check_runs(c, p, rtol, 1000), 0);
  CgStats st;
  cg_program_stats(p, &st);
  cg_program_free(p);
  return st.ncalls;
}

/* Builds each case at every size in f32 and f64, runs `pipeline` (ending
   in fuse), checks the values against the evaluator and that the program
   makes at most `calls` kernel calls. */
static void check_pipeline(const char *name, FuseBuild build, const char *pipeline, int calls,
                           int threads) {
  for (int f = 0; f < 2; f++)
    for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      int64_t rows = sizes[i], cols = sizes[(i + 2) % MC_COUNTOF(sizes)];
      char what[96];
      snprintf(what, sizeof what, "fused %s %lldx%lld %s threads %d", name, (long long)rows,
               (long long)cols, ir_dtype_name(dt), threads);
      Case *c = case_new(dt, what);
      c->opts.threads = threads;
      output(c, build(c, rows, cols));
      CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
      int got = fuse_and_count_calls(c, pipeline, f ? F64_TOL : F32_TOL);
      if (got > calls)
        fprintf(stderr, "\n  %s: %d calls, expected at most %d", what, got, calls);
      CU_ASSERT_TRUE(got <= calls);
      case_free(c);
    }
}

static void check_fusion(const char *name, FuseBuild build, int calls, int threads) {
  check_pipeline(name, build, "fuse", calls, threads);
}


static IrRef fuse_softmax(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(rows, cols));
  IrRef z = ir_binary(g, IR_OP_SUB, x, ir_reduce(g, IR_OP_MAX, x, 2, true, noloc), noloc);
  IrRef e = ir_unary(g, IR_OP_EXP, z, noloc);
  return ir_binary(g, IR_OP_DIV, e, ir_reduce(g, IR_OP_SUM, e, 2, true, noloc), noloc);
}

static IrRef fuse_log_softmax(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(rows, cols));
  IrRef z = ir_binary(g, IR_OP_SUB, x, ir_reduce(g, IR_OP_MAX, x, 2, true, noloc), noloc);
  IrRef s = ir_reduce(g, IR_OP_SUM, ir_unary(g, IR_OP_EXP, z, noloc), 2, true, noloc);
  return ir_binary(g, IR_OP_SUB, z, ir_unary(g, IR_OP_LOG, s, noloc), noloc);
}

static IrRef fuse_layer_norm(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(rows, cols));
  IrRef w = param(c, DOM_ANY, SHAPE(cols)), b = param(c, DOM_ANY, SHAPE(cols));
  IrRef inv_n = ir_const(g, 1.0 / (double)cols, c->dt, noloc);
  IrRef mu = ir_binary(g, IR_OP_MUL, ir_reduce(g, IR_OP_SUM, x, 2, true, noloc), inv_n, noloc);
  IrRef xc = ir_binary(g, IR_OP_SUB, x, mu, noloc);
  IrRef var = ir_binary(
      g, IR_OP_MUL, ir_reduce(g, IR_OP_SUM, ir_binary(g, IR_OP_MUL, xc, xc, noloc), 2, true, noloc),
      inv_n, noloc);
  IrRef inv = ir_unary(g, IR_OP_RSQRT,
                       ir_binary(g, IR_OP_ADD, var, ir_const(g, 1e-5, c->dt, noloc), noloc), noloc);
  IrRef y = ir_binary(g, IR_OP_MUL, ir_binary(g, IR_OP_MUL, xc, inv, noloc), w, noloc);
  return ir_binary(g, IR_OP_ADD, y, b, noloc);
}

static IrRef linear_act(Case *c, int64_t rows, int64_t cols, IrOp act) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(rows, 33));
  IrRef w = param(c, DOM_ANY, SHAPE(33, cols)), b = param(c, DOM_ANY, SHAPE(cols));
  return ir_unary(g, act, ir_binary(g, IR_OP_ADD, ir_matmul(g, x, w, noloc), b, noloc), noloc);
}

static IrRef fuse_linear_relu(Case *c, int64_t rows, int64_t cols) {
  return linear_act(c, rows, cols, IR_OP_RELU);
}

static IrRef fuse_linear_gelu(Case *c, int64_t rows, int64_t cols) {
  return linear_act(c, rows, cols, IR_OP_GELU);
}

/* The product and the pre-activation are read elsewhere (outputs here, a
   gradient in training): the epilogue stores them too, still 1 call. */
static IrRef fuse_linear_stores(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(2, rows, 33));
  IrRef w = param(c, DOM_ANY, SHAPE(33, cols)), b = param(c, DOM_ANY, SHAPE(cols));
  IrRef mm = ir_matmul(g, x, w, noloc);
  IrRef h = ir_binary(g, IR_OP_ADD, mm, b, noloc);
  output(c, mm);
  output(c, h);
  return ir_unary(g, IR_OP_RELU, h, noloc);
}

/* [3, rows, 33] @ [33, cols] + bias, tanh, scaled: batched, 1 call */
static IrRef fuse_batched_linear(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(3, rows, 33));
  IrRef w = param(c, DOM_ANY, SHAPE(33, cols)), b = param(c, DOM_ANY, SHAPE(1, cols));
  IrRef h = ir_binary(g, IR_OP_ADD, b, ir_matmul(g, x, w, noloc), noloc);
  return ir_binary(g, IR_OP_MUL, ir_unary(g, IR_OP_TANH, h, noloc),
                   input(c, DOM_ANY, c->dt, scalar), noloc);
}

/* gelu's backward through a linear layer: dh = gelu_grad(h, dy @ W)
   with h of the product's shape, read by the epilogue at each element;
   then a residual add of another such value: batched (rows merged), 1
   call. */
static IrRef fuse_linear_full_operands(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef dy = input(c, DOM_ANY, c->dt, SHAPE(2, rows, 33));
  IrRef w = param(c, DOM_ANY, SHAPE(33, cols));
  IrRef h = input(c, DOM_ANY, c->dt, SHAPE(2, rows, cols));
  IrRef r = input(c, DOM_ANY, c->dt, SHAPE(2, rows, cols));
  IrRef mm = ir_matmul(g, dy, w, noloc);
  return ir_binary(g, IR_OP_ADD, r, ir_binary(g, IR_OP_GELU_GRAD, h, mm, noloc), noloc);
}

/* A convolution's product W [rows, 33] times windows [2, 33, 2*cols],
   viewed as [2, rows, 2, cols], then a per-channel scale [rows, 1, 1] and
   shift [1, rows, 1, 1], relu, a per-position row [2, cols] and a value
   of the viewed shape: after sink, all in the product's epilogue (the
   channel values as column operands): 1 call. */
static IrRef conv_view(Case *c, int64_t rows, int64_t cols) {
  IrRef w = param(c, DOM_ANY, SHAPE(rows, 33));
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(2, 33, 2 * cols));
  IrShape view = SHAPE(2, rows, 2, cols);
  return ir_reshape(c->g, ir_matmul(c->g, w, x, noloc), &view, noloc);
}
static IrRef fuse_conv_channels(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef y = conv_view(c, rows, cols);
  y = ir_binary(g, IR_OP_MUL, y, param(c, DOM_ANY, SHAPE(rows, 1, 1)), noloc);
  y = ir_binary(g, IR_OP_ADD, y, param(c, DOM_ANY, SHAPE(1, rows, 1, 1)), noloc);
  y = ir_unary(g, IR_OP_RELU, y, noloc);
  y = ir_binary(g, IR_OP_SUB, y, input(c, DOM_ANY, c->dt, SHAPE(2, cols)), noloc);
  return ir_binary(g, IR_OP_ADD, input(c, DOM_ANY, c->dt, SHAPE(2, rows, 2, cols)), y, noloc);
}

/* The same view with an operand that varies along one of the two split
   axes only ([2, 1]): no shape of the product's reads it alike, so the op
   stays in the view's shape, its own kernel: 2 calls, same values. */
static IrRef fuse_conv_split_operand(Case *c, int64_t rows, int64_t cols) {
  return ir_binary(c->g, IR_OP_MUL, conv_view(c, rows, cols), input(c, DOM_ANY, c->dt, SHAPE(2, 1)),
                   noloc);
}

/* A batched linear layer whose rows merge the batch's ([2, rows, 33]
   times [33, cols] as one product of 2*rows rows) scaled per row of each
   batch ([rows, 1]): the column operand is read at the row within its
   batch; 1 call. */
static IrRef fuse_merged_rows_column(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(2, rows, 33));
  IrRef mm = ir_matmul(g, x, param(c, DOM_ANY, SHAPE(33, cols)), noloc);
  return ir_binary(g, IR_OP_MUL, mm, input(c, DOM_ANY, c->dt, SHAPE(rows, 1)), noloc);
}

/* A chain member reading the product itself besides the previous member
   (relu(p) * p): the product is no outside operand, so the member stays
   out of the epilogue; 2 calls. */
static IrRef fuse_linear_reads_product(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(rows, 33));
  IrRef mm = ir_matmul(g, x, param(c, DOM_ANY, SHAPE(33, cols)), noloc);
  return ir_binary(g, IR_OP_MUL, ir_unary(g, IR_OP_RELU, mm, noloc), mm, noloc);
}

/* (x - row) * col, a [rows,1] member computed per element, where, cast */
static IrRef fuse_broadcast_chain(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(rows, cols));
  IrRef row = input(c, DOM_ANY, c->dt, SHAPE(cols));
  IrRef col = input(c, DOM_POS, c->dt, SHAPE(rows, 1));
  IrRef scale = ir_unary(g, IR_OP_RSQRT, col, noloc);
  IrRef y = ir_binary(g, IR_OP_MUL, ir_binary(g, IR_OP_SUB, x, row, noloc), scale, noloc);
  IrRef zero = ir_const(g, 0, c->dt, noloc);
  IrRef pos = ir_binary(g, IR_OP_GT, y, zero, noloc);
  IrRef t = ir_unary(g, IR_OP_TANH, y, noloc);
  IrRef w = ir_where(g, pos, t, ir_binary(g, IR_OP_MUL, y, ir_const(g, 0.5, c->dt, noloc), noloc),
                     noloc);
  return ir_binary(g, IR_OP_ADD, w, ir_cast(g, pos, c->dt, noloc), noloc);
}

/* Reductions reading a chain inline: over everything, over the rows'
   outer axis (the result moves along the row) and max without keepdims. */
static IrRef fuse_reduce_chain(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(rows, cols)), y = input(c, DOM_ANY, c->dt, SHAPE(cols));
  IrRef d = ir_binary(g, IR_OP_SUB, x, y, noloc);
  IrRef total = ir_reduce(g, IR_OP_SUM, ir_binary(g, IR_OP_MUL, d, d, noloc), 3, false, noloc);
  IrRef d2 = ir_binary(g, IR_OP_MUL, x, y, noloc);
  IrRef down = ir_reduce(g, IR_OP_SUM, ir_unary(g, IR_OP_EXP, d2, noloc), 1, false, noloc);
  IrRef d3 = ir_binary(g, IR_OP_ADD, x, y, noloc);
  IrRef across = ir_reduce(g, IR_OP_MAX, ir_unary(g, IR_OP_ABS, d3, noloc), 2, false, noloc);
  output(c, down);
  output(c, across);
  return total;
}

/* Adam's update of one param: three stores from one kernel. */
static IrRef fuse_adam(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrShape s = SHAPE(rows, cols);
  IrRef p = param(c, DOM_ANY, s), m = param(c, DOM_ANY, s), v = param(c, DOM_POS, s);
  IrRef grad = input(c, DOM_ANY, c->dt, s);
  IrRef b1 = input(c, DOM_ANY, c->dt, scalar), omb1 = input(c, DOM_ANY, c->dt, scalar);
  IrRef b2 = input(c, DOM_POS, c->dt, scalar), omb2 = input(c, DOM_POS, c->dt, scalar);
  IrRef step = input(c, DOM_ANY, c->dt, scalar), bc2 = input(c, DOM_POS, c->dt, scalar);
  IrRef eps = input(c, DOM_POS, c->dt, scalar);
  IrRef m1 = ir_binary(g, IR_OP_ADD, ir_binary(g, IR_OP_MUL, m, b1, noloc),
                       ir_binary(g, IR_OP_MUL, grad, omb1, noloc), noloc);
  IrRef v1 = ir_binary(
      g, IR_OP_ADD, ir_binary(g, IR_OP_MUL, v, b2, noloc),
      ir_binary(g, IR_OP_MUL, ir_binary(g, IR_OP_MUL, omb2, grad, noloc), grad, noloc), noloc);
  IrRef den = ir_binary(
      g, IR_OP_ADD, ir_binary(g, IR_OP_DIV, ir_unary(g, IR_OP_SQRT, v1, noloc), bc2, noloc), eps,
      noloc);
  IrRef p1 = ir_binary(
      g, IR_OP_SUB, p, ir_binary(g, IR_OP_DIV, ir_binary(g, IR_OP_MUL, step, m1, noloc), den, noloc),
      noloc);
  output(c, m1);
  output(c, v1);
  return p1;
}

static void test_codegen_fused_softmax(void) { check_fusion("softmax", fuse_softmax, 2, 1); }
static void test_codegen_fused_log_softmax(void) {
  check_fusion("log_softmax", fuse_log_softmax, 2, 1);
}
static void test_codegen_fused_layer_norm(void) { check_fusion("layer_norm", fuse_layer_norm, 2, 1); }
static void test_codegen_fused_linear(void) {
  for (int threads = 1; threads <= 2; threads++) {
    check_fusion("linear+relu", fuse_linear_relu, 1, threads);
    check_fusion("linear+gelu", fuse_linear_gelu, 1, threads);
    check_fusion("batched linear", fuse_batched_linear, 1, threads);
    check_fusion("linear storing its product", fuse_linear_stores, 1, threads);
    check_fusion("linear with operands of its shape", fuse_linear_full_operands, 1, threads);
    check_fusion("linear whose chain reads it", fuse_linear_reads_product, 2, threads);
    check_fusion("merged rows with a column", fuse_merged_rows_column, 1, threads);
    check_pipeline("conv channels", fuse_conv_channels, "sink,fuse", 2, threads);
    check_pipeline("conv split operand", fuse_conv_split_operand, "sink,fuse", 2, threads);
  }
}
/* Distinct kernel groups in g (fuse's annotations). */
static int kernel_groups(const IrGraph *g) {
  int n = 0;
  for (uint32_t i = 0; i < g->nnodes; i++) {
    uint32_t k = ir_node(g, i)->kernel;
    bool seen = k == 0;
    for (uint32_t j = 0; j < i && !seen; j++) seen = ir_node(g, j)->kernel == k;
    n += !seen;
  }
  return n;
}

/* sink,fuse on a convolution's product viewed as [B, C, H, W]: the ops
   after it land in its kernel group (the program's second call copies
   the output, a view of that group's last value), or not. */
static void test_codegen_sink_into_epilogue(void) {
  struct { FuseBuild build; int groups; } cases[] = {{fuse_conv_channels, 1},
                                                     {fuse_conv_split_operand, 2}};
  for (size_t i = 0; i < MC_COUNTOF(cases); i++) {
    Case *c = case_new(IR_F32, "sink");
    output(c, cases[i].build(c, 17, 5));
    PassCtx cx = {.diag = &c->d, .verify_each = true};
    CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&c->g, "sink,fuse", &cx));
    CU_ASSERT_EQUAL(kernel_groups(c->g), cases[i].groups);
    case_free(c);
  }
}
static void test_codegen_fused_broadcast_chain(void) {
  check_fusion("broadcast chain", fuse_broadcast_chain, 1, 1);
}
static void test_codegen_fused_reductions(void) {
  check_fusion("reductions of chains", fuse_reduce_chain, 3, 1);
}
static void test_codegen_fused_adam(void) { check_fusion("adam", fuse_adam, 1, 1); }

/* A group big enough to run in parts on the pool. */
static IrRef fuse_big(Case *c, int64_t rows, int64_t cols) {
  (void)rows;
  (void)cols;
  return fuse_broadcast_chain(c, 301, 257);
}
/* 40 ops over 20 inputs, every third value also an output: more than a
   group holds (32 members, 16 buffers), so the chain splits. */
static IrRef fuse_long_chain(Case *c, int64_t rows, int64_t cols) {
  IrGraph *g = c->g;
  IrRef in[20];
  for (int i = 0; i < 20; i++)
    in[i] = input(c, DOM_ANY, c->dt, i % 2 ? SHAPE(rows, cols) : SHAPE(cols));
  IrRef y = in[0];
  for (int i = 0; i < 40; i++) {
    y = ir_binary(g, i % 3 ? IR_OP_ADD : IR_OP_MUL, y, in[(i * 7) % 20], noloc);
    if (i % 3 == 2) {
      y = ir_unary(g, IR_OP_TANH, y, noloc);
      output(c, y);
    }
  }
  return y;
}
static void test_codegen_fused_long_chain(void) {
  check_fusion("long chain", fuse_long_chain, 6, 1);
}

static IrRef fuse_big_layer_norm(Case *c, int64_t rows, int64_t cols) {
  (void)rows;
  (void)cols;
  return fuse_layer_norm(c, 301, 257);
}
static void test_codegen_fused_in_parts(void) {
  check_fusion("in parts", fuse_big, 1, 2);
  check_fusion("layer_norm in parts", fuse_big_layer_norm, 2, 2);
}

/* Reductions over outer axes in parts (each part folds every batch into its
   own range of results): relu's backward summed over the batch (a bias
   gradient, the backward stored too), over batch and space with keepdims,
   and a middle axis folded (a pooling window's backward). With two threads
   each runs through a part function; the sums agree with the evaluator's. */
static void build_outer_reductions(Case *c) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(64, 6, 16, 16));
  IrRef dy = input(c, DOM_ANY, c->dt, SHAPE(64, 6, 16, 16));
  IrRef zero = ir_const(g, 0, c->dt, noloc);
  IrRef back = ir_where(g, ir_binary(g, IR_OP_GT, x, zero, noloc), dy, zero, noloc);
  output(c, back);
  output(c, ir_reduce(g, IR_OP_SUM, back, 1u, false, noloc));
  IrRef sq = ir_binary(g, IR_OP_MUL, dy, ir_unary(g, IR_OP_TANH, x, noloc), noloc);
  output(c, ir_reduce(g, IR_OP_SUM, sq, 1u | 4u | 8u, true, noloc));
  IrRef win = input(c, DOM_ANY, c->dt, SHAPE(96, 4, 13, 14));
  output(c, ir_reduce(g, IR_OP_SUM, ir_unary(g, IR_OP_EXP, win, noloc), 2u, true, noloc));
}

static void test_codegen_outer_reductions_in_parts(void) {
  for (int threads = 1; threads <= 2; threads++)
    for (int f = 0; f < 2; f++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      char what[80];
      snprintf(what, sizeof what, "outer reductions in parts %d threads %s", threads,
               ir_dtype_name(dt));
      Case *c = case_new(dt, what);
      c->opts.threads = threads;
      build_outer_reductions(c);
      CU_ASSERT_EQUAL_FATAL(c->d.nerrors, 0);
      int calls = fuse_and_count_calls(c, "fuse", f ? F64_TOL : F32_TOL);
      CU_ASSERT_TRUE(calls <= 3);
      McStr s = llvm_of(c);
      int parts = 0;
      for (const char *at = s.s; at && (at = strstr(at, "_part(")); at++) parts++;
      if (threads == 2 && parts < 3)
        fprintf(stderr, "\n  %s: %d part functions, expected 3", what, parts);
      CU_ASSERT_EQUAL(parts, threads == 2 ? 3 : 0);
      mc_str_free(&s);
      case_free(c);
    }
}

/* Reductions whose innermost reduced axis is short (a pooling window's
   rows, reshaped: [.., O1, K1, O2, K2] over K1 and K2) fold each short row
   into a vector of results; a big one runs in parts. Against the
   evaluator: 2x2 max and sum pools (one in parts at 2 threads), a 3-wide
   window with a tail of results shorter than a vector, and a keepdims
   (each result folded whole in registers, from the identity), and one
   also over the outermost axis (results folded into memory, one step of
   the outer walk at a time); for the host's vectors and those of
   test_cpus. */
static void build_short_rows(Case *c) {
  IrGraph *g = c->g;
  IrRef big = input(c, DOM_ANY, c->dt, SHAPE(64, 8, 14, 2, 14, 2));
  output(c, ir_reduce(g, IR_OP_MAX, big, 0x28u, false, noloc));
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(3, 5, 6, 2, 7, 3));
  output(c, ir_reduce(g, IR_OP_MAX, x, 0x28u, false, noloc));
  output(c, ir_reduce(g, IR_OP_SUM, x, 0x28u, true, noloc));
  output(c, ir_reduce(g, IR_OP_SUM, x, 0x20u, false, noloc));
  output(c, ir_reduce(g, IR_OP_MAX, x, 0x29u, false, noloc));
}

/* CPUs besides the host to compile a case for: the x86-64 baseline
   (16-byte vectors) everywhere, and haswell (32-byte vectors, AVX2) where
   the host runs AVX2 code, so that an AVX-512 machine also runs the AVX2
   paths. Returns their count, the host (NULL) first. */
static int test_cpus(const char **cpus) {
  int n = 0;
  cpus[n++] = NULL;
  cpus[n++] = "x86-64";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) cpus[n++] = "haswell";
  return n;
}

/* Runs body on a fresh case for each CPU of test_cpus, 1 and 2 threads,
   f32 and f64; the case is named after `name` and its settings. */
static void each_cpu_case(const char *name, void (*body)(Case *c)) {
  const char *cpus[3];
  int ncpus = test_cpus(cpus);
  for (int k = 0; k < 2 * ncpus; k++)
    for (int f = 0; f < 2; f++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      char what[96];
      snprintf(what, sizeof what, "%s %d threads %s cpu %s", name, 1 + k % 2, ir_dtype_name(dt),
               cpus[k / 2] ? cpus[k / 2] : "host");
      Case *c = case_new(dt, what);
      c->opts.threads = 1 + k % 2;
      c->opts.cpu = cpus[k / 2];
      body(c);
      case_free(c);
    }
}

static double tol_of(const Case *c) { return c->dt == IR_F64 ? F64_TOL : F32_TOL; }

static void short_row_body(Case *c) {
  build_short_rows(c);
  check(c, tol_of(c));
  McStr s = llvm_of(c);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.s, "shufflevector"));
  CU_ASSERT_EQUAL(strstr(s.s, "_part(") != NULL, c->opts.threads == 2);
  mc_str_free(&s);
}

/* Rows for max_rows_body: a smooth wave, then rows of zeros of both signs
   (in either order, and all -0), a nan mid-row, +inf, all -inf. */
enum { MAXR = 40, MAXC = 67 };
static void max_rows_values(double *v) {
  for (int i = 0; i < MAXR * MAXC; i++)
    v[i] = 3 * sin(0.37 * i);
  for (int j = 0; j < MAXC; j++) {
    v[0 * MAXC + j] = j % 2 ? 0.0 : -0.0;
    v[1 * MAXC + j] = j % 2 ? -0.0 : 0.0;
    v[2 * MAXC + j] = -0.0;
    v[7 * MAXC + j] = -INFINITY;
  }
  v[5 * MAXC + 33] = NAN;
  v[6 * MAXC + 50] = INFINITY;
}

/* Max reductions fold by IEEE maximum (nan wins, +0 above -0), so the
   loop vectorizer folds a row a vector at a time (with the select form it
   left softmax's row max a scalar loop). A fused softmax's rows, row
   maxima and column maxima (folded into memory), against the evaluator;
   then the signs of the row maxima of zeros, read from the program. */
static void max_rows_body(Case *c) {
  static double v[MAXR * MAXC];
  max_rows_values(v);
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(MAXR, MAXC));
  set_values(c, x, v);
  IrRef z = ir_binary(c->g, IR_OP_SUB, x, ir_reduce(c->g, IR_OP_MAX, x, 2, true, noloc), noloc);
  output(c, ir_unary(c->g, IR_OP_EXP, z, noloc));
  output(c, ir_reduce(c->g, IR_OP_MAX, x, 2, false, noloc));
  output(c, ir_reduce(c->g, IR_OP_MAX, x, 1, false, noloc));
  PassCtx pc = {.diag = &c->d, .verify_each = true};
  CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&c->g, "fuse", &pc));
  check(c, tol_of(c));
  CgProgram *p = compile(c);
  IrEval *e = ir_eval_new(c->g, c->dt == IR_F64);
  void **bufs = make_buffers(c, p, e, 1);
  CU_ASSERT_TRUE(cg_program_run(p, bufs, &c->d));
  const void *rowmax = bufs[cg_program_output_slot(p, 1)];
  for (int r = 0; r < 3; r++) {
    double m = get(c->dt, rowmax, r);
    if (m != 0 || signbit(m) != (r == 2))
      fprintf(stderr, "\n  %s: max of zero row %d is %g", c->what, r, m);
    CU_ASSERT_TRUE(m == 0 && signbit(m) == (r == 2));
  }
  free_buffers(bufs, cg_program_nslots(p));
  ir_eval_free(e);
  cg_program_free(p);
  McStr s = llvm_of(c);
  if (c->opts.cpu == NULL) /* the host's vectors */
    CU_ASSERT_PTR_NOT_NULL(s.s ? strstr(s.s, "llvm.vector.reduce.fmaximum") : NULL);
  mc_str_free(&s);
}

static void test_codegen_max_rows(void) { each_cpu_case("max rows", max_rows_body); }

static void test_codegen_short_row_reductions(void) {
  each_cpu_case("short-row reductions", short_row_body);
}

/* A convolution as the front end writes it: W [M, C*KH*KW] times the
   unfolded windows of x [B, C, H, W], reshaped to [B, C*KH*KW, OH*OW]. */
static void conv_case(Case *c, int64_t B, int64_t C, int64_t H, int64_t W, int64_t M, int64_t k,
                      int64_t sy, int64_t sx, int64_t dil) {
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(B, C, H, W));
  IrRef u = ir_unfold(c->g, x, 2, (const int64_t[]){k, k}, (const int64_t[]){sy, sx},
                      (const int64_t[]){dil, dil}, noloc);
  const IrShape *us = &ir_node(c->g, u)->shape;
  IrShape rs = SHAPE(B, C * k * k, us->d[4].n * us->d[5].n);
  IrRef w = param(c, DOM_ANY, SHAPE(M, C * k * k));
  output(c, ir_matmul(c->g, w, ir_reshape(c->g, u, &rs, noloc), noloc));
}

/* Convolutions whose product reads the windows from the image (no unfold
   is written): rows wider than a vector (28) and rows of a vector each
   (10), a dilated one, rows two apart, a k longer than a KC block (the
   offsets table restarts mid-window), one image with two threads (tiles
   along M), a filter count that leaves a last panel, rows of 7, 5 and 3
   (several output rows to a vector where they fit), windows two apart
   along a row (stride 2: rows of 7 two to a vector, of 20 wider than a
   vector, a 1 x 1 convolution); f32 and f64, the host's vectors, 16-byte
   and (on AVX2 hosts) 32-byte ones, against the evaluator; each program
   is its twelve products, no unfold. */
static void conv_windows_body(Case *c) {
  conv_case(c, 3, 1, 32, 32, 6, 5, 1, 1, 1);   /* lenet's first: OW 28 */
  conv_case(c, 3, 6, 14, 14, 16, 5, 1, 1, 1);  /* lenet's second: OW 10 */
  conv_case(c, 2, 3, 20, 19, 13, 3, 1, 1, 2);  /* dilated, OW 15 */
  conv_case(c, 2, 4, 21, 18, 9, 3, 2, 1, 1);   /* rows two apart */
  conv_case(c, 2, 60, 12, 12, 20, 3, 1, 1, 1); /* k = 540, over one KC block on every CPU */
  conv_case(c, 1, 8, 18, 18, 40, 3, 1, 1, 1);  /* one image */
  conv_case(c, 2, 5, 9, 9, 24, 3, 1, 1, 1);    /* OW 7: two rows to a 16-lane vector */
  conv_case(c, 2, 3, 7, 7, 10, 3, 1, 1, 1);    /* OW 5: three */
  conv_case(c, 3, 8, 5, 5, 16, 3, 1, 1, 1);    /* OW 3: four, the last vector short */
  conv_case(c, 2, 4, 15, 15, 9, 3, 2, 2, 1);   /* stride 2, OW 7 */
  conv_case(c, 2, 3, 9, 41, 8, 3, 1, 2, 1);    /* two apart along rows of 20 */
  conv_case(c, 2, 8, 14, 14, 16, 1, 2, 2, 1);  /* 1 x 1, stride 2 */
  check(c, tol_of(c));
  CgProgram *p = compile(c);
  CgStats st;
  cg_program_stats(p, &st);
  CU_ASSERT_EQUAL(st.ncalls, 12); /* the products only, no unfold */
  cg_program_free(p);
}

static void test_codegen_conv_windows_in_place(void) {
  each_cpu_case("conv windows in place", conv_windows_body);
}

static bool has_kernel_key(CgProgram *p, const char *what);
static bool has_kernel_keys(CgProgram *p, const char *what, const char *also);

/* The same product over the windows of a padded image (pad rows by pt
   and pb, columns by pl and pr, as a convolution's padding is written;
   pc channels of zeros in front). */
static IrRef conv_pad_case(Case *c, int64_t B, int64_t C, int64_t H, int64_t W, int64_t M,
                           int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t pc,
                           bool grad) {
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(B, C, H, W));
  IrRef xp = ir_pad(c->g, x, (const int64_t[]){0, pc, pt, pl}, (const int64_t[]){0, 0, pb, pr},
                    noloc);
  IrRef u = ir_unfold(c->g, xp, 2, (const int64_t[]){3, 3}, (const int64_t[]){2, 2},
                      (const int64_t[]){1, 1}, noloc);
  const IrShape *us = &ir_node(c->g, u)->shape;
  IrShape rs = SHAPE(B, (C + pc) * 9, us->d[4].n * us->d[5].n);
  IrRef w = param(c, DOM_ANY, SHAPE(M, (C + pc) * 9));
  IrRef r = ir_reshape(c->g, u, &rs, noloc);
  output(c, ir_matmul(c->g, w, r, noloc));
  if (grad) { /* the filter gradient reads the same windows */
    static const uint8_t swap[3] = {0, 2, 1};
    IrRef dy = input(c, DOM_ANY, c->dt, SHAPE(B, M, rs.d[2].n));
    output(c, ir_reduce(c->g, IR_OP_SUM, ir_matmul(c->g, dy, ir_permute(c->g, r, swap, noloc), noloc),
                        1u, false, noloc));
  }
  return xp;
}

/* Stride-2 convolutions of padded images: the pad writes each row's even
   columns, then its odd ones, and the product reads windows one apart in
   each half (key " phases"; no stride-2 loads): output rows of 7 (two to
   a vector), of 14 (one) and of 20 (wider than a vector), a pad only
   below and right (the even columns start at the image's first); an odd
   padded row, a padded image that is also an output, a pad that adds
   channels (not lowered plane by plane) and windows a filter gradient
   reads too (its kernels read the plain layout) keep the plain layout and
   the stride-2 loads (" sx2"). Against the evaluator. */
static void conv_phases_body(Case *c) {
  c->opts.profile = true;
  conv_pad_case(c, 2, 4, 14, 14, 9, 1, 1, 1, 1, 0, false);  /* 16 x 16: OW 7 */
  conv_pad_case(c, 2, 3, 28, 28, 6, 1, 1, 1, 1, 0, false);  /* 30 x 30: OW 14 */
  conv_pad_case(c, 1, 3, 40, 40, 5, 1, 1, 1, 1, 0, false);  /* 42 x 42: OW 20 */
  conv_pad_case(c, 2, 2, 13, 13, 4, 0, 1, 0, 1, 0, false);  /* 14 x 14, padded after only */
  conv_pad_case(c, 2, 3, 9, 9, 4, 1, 1, 1, 1, 0, false);    /* 11 x 11: plain */
  output(c, conv_pad_case(c, 2, 3, 14, 14, 4, 1, 1, 1, 1, 0, false)); /* read twice: plain */
  conv_pad_case(c, 2, 3, 14, 14, 4, 1, 1, 1, 1, 1, false);  /* a channel added: plain */
  conv_pad_case(c, 4, 3, 28, 28, 40, 1, 1, 1, 1, 0, true); /* and a filter gradient: plain */
  check(c, tol_of(c));
  CgProgram *p = compile(c);
  CU_ASSERT_TRUE(has_kernel_key(p, " phases"));
  CU_ASSERT_TRUE(has_kernel_key(p, " sx2"));
  cg_program_free(p);
}

static void test_codegen_conv_phases(void) { each_cpu_case("conv phases", conv_phases_body); }

/* Convolutions by channel vectors (key " cv": filters a multiple of the
   vector's lanes, k of 64 or more, at least an image per thread): rows of
   28, 14 and 7 (one chunk of pixels; 1, 2 and 4 filter vectors at 16
   lanes), rows of 13 and 29 (a shorter last chunk), 48 filters (3
   vectors), a k over one KC block, windows two apart along rows, rows two
   apart, a dilated one,
   a stride-2 padded image read in phases, and a product with a bias and
   a relu after it (fused: the epilogue over the scattered sums); against
   the evaluator, f32 and f64 on each CPU. With AVX-512's 32 registers the
   rows of 28 and 14 (and the 48 filters, the rows two apart) sum by window
   rows (key "_g3"), k 576 with 16 filters by taps, 64 filters over rows of
   7 two output rows a call with 2 vectors (key "_k2", the last row alone;
   k 72 and 576, rows 9 and 18 apart). Beside them, products the narrow
   kernel keeps: k of 18, 20 filters (a multiple of 16-byte vectors' lanes
   only), one image. */
static void conv_cv_body(Case *c) {
  c->opts.profile = true;
  conv_case(c, 2, 8, 30, 30, 16, 3, 1, 1, 1);  /* OW 28 */
  conv_case(c, 2, 16, 16, 16, 32, 3, 1, 1, 1); /* OW 14 */
  conv_case(c, 3, 8, 9, 9, 64, 3, 1, 1, 1);    /* OW 7 */
  conv_case(c, 2, 8, 15, 15, 48, 3, 1, 1, 1);  /* OW 13 */
  conv_case(c, 2, 64, 9, 9, 16, 3, 1, 1, 1);   /* k 576: two KC blocks, the second added */
  conv_case(c, 2, 64, 9, 9, 64, 3, 1, 1, 1);   /* and 64 filters: 2 rows of 7 a call */
  conv_case(c, 2, 8, 9, 9, 64, 3, 2, 1, 1);    /* the same rows 18 apart: a task of its own */
  conv_case(c, 2, 8, 31, 31, 16, 3, 1, 1, 1);  /* OW 29 */
  conv_case(c, 2, 8, 29, 29, 32, 3, 1, 2, 1);  /* two apart along rows: OW 14 */
  conv_case(c, 2, 8, 17, 17, 16, 3, 2, 1, 1);  /* rows two apart */
  conv_case(c, 2, 8, 20, 20, 16, 3, 1, 1, 2);  /* dilated: OW 16 */
  conv_pad_case(c, 2, 8, 14, 14, 32, 1, 1, 1, 1, 0, false); /* phases: OW 7 */
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(2, 8, 12, 12));
  IrRef u = ir_unfold(c->g, x, 2, (const int64_t[]){3, 3}, (const int64_t[]){1, 1},
                      (const int64_t[]){1, 1}, noloc);
  IrShape rs = SHAPE(2, 72, 100);
  IrRef r = ir_reshape(c->g, u, &rs, noloc);
  IrRef y = ir_matmul(c->g, param(c, DOM_ANY, SHAPE(32, 72)), r, noloc);
  IrRef bias = param(c, DOM_ANY, SHAPE(32, 1));
  output(c, ir_unary(c->g, IR_OP_RELU, ir_binary(c->g, IR_OP_ADD, y, bias, noloc), noloc));
  conv_case(c, 2, 2, 10, 10, 16, 3, 1, 1, 1);  /* k 18 */
  conv_case(c, 2, 8, 10, 10, 20, 3, 1, 1, 1);  /* 20 filters */
  conv_case(c, 1, 8, 10, 10, 16, 3, 1, 1, 1);  /* one image */
  check(c, tol_of(c));
  fuse_and_count_calls(c, "fuse", tol_of(c)); /* the bias and relu: an epilogue */
  CgProgram *p = compile(c);
  CU_ASSERT_TRUE(has_kernel_key(p, " cv"));
  CU_ASSERT_TRUE(has_kernel_keys(p, " cv", " epi"));
  if (!c->opts.cpu && cg_host_vector_bits() == 512) { /* 32 registers: window rows */
    CU_ASSERT_TRUE(has_kernel_key(p, "_x1_g3"));     /* by groups of 3 taps */
    /* k 576 (16 filters: 1 vector in f32, 2 in f64): by taps */
    CU_ASSERT_TRUE(has_kernel_key(p, c->dt == IR_F32 ? "cv7_1_0_x1" : "cv7_2_0_x1"));
    CU_ASSERT_TRUE(has_kernel_key(p, "cv14_2_0_x1_k2_7x9"));  /* 64 filters: 2 rows of 7 */
    CU_ASSERT_TRUE(has_kernel_key(p, "cv14_2_0_x1_k2_7x18")); /* rows 18 apart */
  }
  cg_program_free(p);
}

static void test_codegen_conv_cv(void) { each_cpu_case("conv cv", conv_cv_body); }

/* A convolution and its filter gradient as autodiff writes them, sharing
   the windows: the product W @ r and the sum over the batch of dY @ r^T
   (dY [B, M, OH*OW] an input). sx: the windows' step along a row. */
static void conv_grad_case(Case *c, int64_t B, int64_t C, int64_t H, int64_t W, int64_t M,
                           int64_t k, int64_t sy, int64_t sx, int64_t dil) {
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(B, C, H, W));
  IrRef u = ir_unfold(c->g, x, 2, (const int64_t[]){k, k}, (const int64_t[]){sy, sx},
                      (const int64_t[]){dil, dil}, noloc);
  const IrShape *us = &ir_node(c->g, u)->shape;
  int64_t P = us->d[4].n * us->d[5].n;
  IrShape rs = SHAPE(B, C * k * k, P);
  IrRef r = ir_reshape(c->g, u, &rs, noloc);
  output(c, ir_matmul(c->g, param(c, DOM_ANY, SHAPE(M, C * k * k)), r, noloc));
  IrRef dy = input(c, DOM_ANY, c->dt, SHAPE(B, M, P));
  static const uint8_t swap[3] = {0, 2, 1};
  IrRef prod = ir_matmul(c->g, dy, ir_permute(c->g, r, swap, noloc), noloc);
  output(c, ir_reduce(c->g, IR_OP_SUM, prod, 1u, false, noloc));
}

/* Filter gradients summed over the batch inside the product (no batch of
   products written and summed): with the windows read from the images
   (rows wider than a vector, of one vector, dilated, two apart, of 7, 5
   and 3 with several to a vector and a last group short, filter and
   window counts that leave partial blocks, one image), then windows
   stepping 2 along a row (rows of 7 and of 20) and 3 (the unfold written,
   the sum still inside the product) and a plain batch of A @ Bt^T (k of
   40: a masked last vector); then 64 filters, whose gradients read in
   place take the packed microkernel over blocks of whole images (key
   n-5): partial panels of filters and windows, rows of 16 whose images
   come two to a block (several blocks), rows of 20 (wider than a vector
   of 16), and windows stepping 2 (read in place too: packed from 32
   filters, here 64 and 40). Against the evaluator; the calls: two per
   convolution read in place, three for those with an unfold, one for
   the plain sum. */
static void conv_grad_body(Case *c) {
  c->opts.profile = true;
  conv_grad_case(c, 3, 1, 32, 32, 6, 5, 1, 1, 1);   /* OW 28 */
  conv_grad_case(c, 3, 6, 14, 14, 16, 5, 1, 1, 1);  /* OW 10 */
  conv_grad_case(c, 2, 3, 20, 19, 13, 3, 1, 1, 2);  /* dilated, OW 15 */
  conv_grad_case(c, 2, 4, 21, 18, 9, 3, 2, 1, 1);   /* rows two apart */
  conv_grad_case(c, 2, 5, 9, 9, 24, 3, 1, 1, 1);    /* OW 7 */
  conv_grad_case(c, 2, 3, 12, 7, 10, 3, 1, 1, 1);   /* OW 5, 10 rows */
  conv_grad_case(c, 1, 8, 15, 5, 7, 3, 1, 1, 1);    /* OW 3, 13 rows, one image */
  conv_grad_case(c, 2, 4, 15, 15, 9, 3, 2, 2, 1);   /* stride 2, OW 7 */
  conv_grad_case(c, 2, 3, 9, 42, 6, 3, 1, 2, 1);    /* two apart along rows of 20 */
  conv_grad_case(c, 2, 4, 15, 15, 9, 3, 1, 3, 1);   /* stepping 3: unfold written */
  conv_grad_case(c, 3, 5, 9, 9, 64, 3, 1, 1, 1);    /* OW 7 */
  conv_grad_case(c, 5, 2, 18, 18, 64, 3, 1, 1, 1);  /* OW 16, 5 images */
  conv_grad_case(c, 2, 2, 22, 22, 64, 3, 1, 1, 1);  /* OW 20 */
  conv_grad_case(c, 2, 3, 15, 15, 64, 3, 2, 2, 1);  /* stride 2, OW 7 */
  conv_grad_case(c, 3, 2, 30, 30, 40, 3, 2, 2, 1);  /* stride 2, 40 filters, OW 14 */
  IrRef a = input(c, DOM_ANY, c->dt, SHAPE(3, 9, 40));
  IrRef bt = input(c, DOM_ANY, c->dt, SHAPE(3, 13, 40));
  static const uint8_t swap[3] = {0, 2, 1};
  IrRef prod = ir_matmul(c->g, a, ir_permute(c->g, bt, swap, noloc), noloc);
  output(c, ir_reduce(c->g, IR_OP_SUM, prod, 1u, false, noloc));
  check(c, tol_of(c));
  CgProgram *p = compile(c);
  CgStats st;
  cg_program_stats(p, &st);
  CU_ASSERT_EQUAL(st.ncalls, 12 * 2 + 3 * 3 + 1);
  CU_ASSERT_TRUE(has_kernel_key(p, " n-5 ")); /* the packed gradients */
  CU_ASSERT_TRUE(has_kernel_key(p, " n-4 ")); /* and the dot ones */
  cg_program_free(p);
}

/* Filter gradients by channel vectors (key " n-6 ": filters filling one
   or two vectors, whole channels' window rows to a kernel call): rows of
   28, 14 and 7, 36 window rows (a whole call and a shorter last one),
   1 x 1 windows (rows of one), 5 x 5 windows, strides along rows and
   columns, dilation, one image and five, 32 filters (two vectors at 16
   lanes), 64 filters (four vectors: a call takes one row of a channel's
   windows, or 7 rows of 1 x 1 ones), and two big enough to run in parts
   (8 images); against the evaluator, f32 and f64 on each CPU. The key is
   asserted for the host's code on AVX-512 CPUs: with 16 registers (AVX2)
   a call holds too few sums for these gradients to take the path; so are,
   with 2 threads, calls that cut the rows evenly between the parts. */
static void conv_grad_cv_body(Case *c) {
  c->opts.profile = true;
  conv_grad_case(c, 2, 3, 30, 30, 16, 3, 1, 1, 1);  /* OW 28, 27 rows */
  conv_grad_case(c, 2, 4, 16, 16, 32, 3, 1, 1, 1);  /* OW 14, 36 rows */
  conv_grad_case(c, 3, 8, 9, 9, 16, 3, 1, 1, 1);    /* OW 7, 72 rows */
  conv_grad_case(c, 2, 16, 14, 14, 32, 1, 2, 2, 1); /* 1 x 1, stride 2 */
  conv_grad_case(c, 2, 2, 14, 14, 16, 5, 1, 1, 1);  /* 5 x 5 */
  conv_grad_case(c, 2, 4, 17, 17, 16, 3, 2, 1, 1);  /* rows two apart */
  conv_grad_case(c, 2, 4, 15, 31, 16, 3, 1, 2, 1);  /* two apart along rows */
  conv_grad_case(c, 2, 3, 20, 20, 16, 3, 1, 1, 2);  /* dilated */
  conv_grad_case(c, 1, 4, 12, 12, 16, 3, 1, 1, 1);  /* one image */
  conv_grad_case(c, 5, 4, 11, 11, 16, 3, 1, 1, 1);  /* five */
  conv_grad_case(c, 2, 4, 9, 9, 64, 3, 1, 1, 1);    /* 64: a row of windows (ky) a call */
  conv_grad_case(c, 2, 8, 10, 10, 64, 1, 2, 2, 1);  /* 64, 1 x 1 */
  conv_grad_case(c, 8, 3, 30, 30, 16, 3, 1, 1, 1);  /* in parts: 27 rows */
  conv_grad_case(c, 8, 16, 30, 30, 32, 1, 1, 1, 1); /* in parts: 16 rows, 1 x 1 */
  check(c, tol_of(c));
  CgProgram *p = compile(c);
  if (!c->opts.cpu && cg_host_vector_bits() == 512) /* 16 filters fill a vector, 9 rows a call */
    CU_ASSERT_TRUE(has_kernel_key(p, " n-6 "));
  if (!c->opts.cpu && cg_host_vector_bits() == 512 && c->dt == IR_F32 && c->opts.threads == 2) {
    /* the two cases in parts take calls that cut their rows evenly: 27
       rows as 18 + 9 (not 27 + 0), the 1 x 1 case's 16 as 8 + 8 (not 14 + 2) */
    CU_ASSERT_TRUE(has_kernel_key(p, " cvs18"));
    CU_ASSERT_TRUE(has_kernel_key(p, " cvs8"));
  }
  cg_program_free(p);
}

static void test_codegen_conv_grad_cv(void) {
  each_cpu_case("conv filter gradients by channel vectors", conv_grad_cv_body);
}

/* Whether the LLVM IR ir defines the gemm task for operands stored as
   `trans` ("t2": B transposed) with B packed ahead (its name ends in _pp). */
static bool task_prepacked(const char *ir, const char *trans) {
  char want[64];
  snprintf(want, sizeof want, "define internal void @gemm_task_f32_b0_%s_", trans);
  for (const char *d = strstr(ir, want); d; d = strstr(d + 1, want)) {
    const char *paren = strchr(d, '(');
    if (paren && paren - d > 3 && !strncmp(paren - 3, "_pp", 3)) return true;
  }
  return false;
}

/* Runs p on bufs and compares every output with e's; the mismatches. */
static int run_compare(Case *c, CgProgram *p, void **bufs, IrEval *e, const char *what) {
  CU_ASSERT_TRUE(cg_program_run(p, bufs, &c->d));
  int bad = 0;
  for (uint32_t k = 0; k < c->g->nouts; k++)
    bad += compare(c, what, ir_eval_value(e, c->g->outs[k].ref),
                   bufs[cg_program_output_slot(p, (int)k)], IR_F32, F32_TOL);
  return bad;
}

/* Stable params (CgOptions.stable_params): products whose B is a param,
   x @ transpose(W) and x @ W, pack B once and reuse the packed copy, over
   several KC blocks and, on two threads, tiles that start inside N. A run
   after new values were written into the same buffers still computes with
   the old packing until cg_program_params_changed; buffers at another
   address are packed again by themselves; a program that updates a param
   packs nothing ahead; fused products sharing one task keep their own
   packed copies. */
static void test_codegen_stable_params(void) {
  for (int threads = 1; threads <= 2; threads++) {
    Case *c = case_new(IR_F32, "stable params");
    IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(100, 600));
    IrRef w = param(c, DOM_ANY, SHAPE(640, 600)), v = param(c, DOM_ANY, SHAPE(600, 200));
    output(c, ir_matmul(c->g, x, transpose(c, w), noloc));
    output(c, ir_matmul(c->g, x, v, noloc));
    c->opts.threads = threads;
    McStr plain = llvm_of(c);
    c->opts.stable_params = true;
    McStr stable = llvm_of(c);
    CU_ASSERT_FALSE(task_prepacked(plain.s, "t2") || task_prepacked(plain.s, "t0"));
    CU_ASSERT_TRUE(task_prepacked(stable.s, "t2"));
    CU_ASSERT_TRUE(task_prepacked(stable.s, "t0"));
    if (threads == 1) { /* a program that updates a param keeps nothing packed */
      Case *u = case_new(IR_F32, "stable params, with an update");
      IrRef ux = input(u, DOM_ANY, IR_F32, SHAPE(100, 600)), uw = param(u, DOM_ANY, SHAPE(640, 600));
      output(u, ir_matmul(u->g, ux, transpose(u, uw), noloc));
      ir_add_output(u->g, IR_OUT_UPDATE, "p1", must(u, ir_unary(u->g, IR_OP_NEG, uw, noloc)));
      u->opts.stable_params = true;
      McStr ir = llvm_of(u);
      CU_ASSERT_FALSE(task_prepacked(ir.s, "t2"));
      CU_ASSERT_TRUE(strstr(ir.s, "@gemm_task_f32_b0_t2_") != NULL);
      mc_str_free(&ir);
      case_free(u);
    }
    mc_str_free(&plain);
    mc_str_free(&stable);
    CgProgram *p = compile(c);
    CU_ASSERT_EQUAL(check_runs(c, p, F32_TOL, 1000), 0);
    /* freed buffers may come back at the same address: new values there
       need params_changed, as for any buffer written anew */
    cg_program_params_changed(p);
    CU_ASSERT_EQUAL(check_runs(c, p, F32_TOL, 2000), 0);
    cg_program_params_changed(p);
    IrEval *e1 = ir_eval_new(c->g, false), *e2 = ir_eval_new(c->g, false);
    void **b1 = make_buffers(c, p, e1, 3000), **b2 = make_buffers(c, p, e2, 4000);
    CU_ASSERT_TRUE_FATAL(ir_eval_run(e1, &c->d) && ir_eval_run(e2, &c->d));
    /* b1, then b2 (another address: packed again by itself), then b1 again */
    CU_ASSERT_EQUAL(run_compare(c, p, b1, e1, "b1"), 0);
    CU_ASSERT_EQUAL(run_compare(c, p, b2, e2, "b2"), 0);
    CU_ASSERT_EQUAL(run_compare(c, p, b1, e1, "b1 again"), 0);
    /* b2's values written into b1: the old packing until params_changed */
    int ns = cg_program_nslots(p);
    for (int s = 0; s < ns && is_input_slot(c->g, p, s); s++) {
      const IrNode *n = ir_node(c->g, cg_program_slot_node(p, s));
      memcpy(b1[s], b2[s], (size_t)ir_shape_numel(&n->shape) * sizeof(float));
    }
    CU_ASSERT_TRUE(cg_program_run(p, b1, &c->d));
    const IrTensor *want = ir_eval_value(e2, c->g->outs[0].ref);
    const float *got = b1[cg_program_output_slot(p, 0)];
    int64_t differ = 0;
    for (int64_t i = 0; i < want->numel; i++)
      differ += fabs(got[i] - want->data[i]) > 1e-3 * (1 + fabs(want->data[i]));
    CU_ASSERT_TRUE(differ > 0);
    cg_program_params_changed(p);
    CU_ASSERT_EQUAL(run_compare(c, p, b1, e2, "b1 with b2's values"), 0);
    free_buffers(b1, ns);
    free_buffers(b2, ns);
    ir_eval_free(e1);
    ir_eval_free(e2);
    cg_program_free(p);
    case_free(c);
  }
  /* fused: two products share one task (same key) though their epilogues
     read one and two outside operands (a bias; a bias and a residual) */
  for (int threads = 1; threads <= 2; threads++) {
    Case *c = case_new(IR_F32, "stable params, fused");
    IrRef x = input(c, DOM_ANY, IR_F32, SHAPE(100, 128)), r = input(c, DOM_ANY, IR_F32, SHAPE(100, 256));
    IrRef w1 = param(c, DOM_ANY, SHAPE(384, 128)), b1 = param(c, DOM_ANY, SHAPE(384));
    IrRef w2 = param(c, DOM_ANY, SHAPE(256, 384)), b2 = param(c, DOM_ANY, SHAPE(256));
    IrRef h = ir_unary(c->g, IR_OP_RELU,
                       ir_binary(c->g, IR_OP_ADD, ir_matmul(c->g, x, transpose(c, w1), noloc), b1,
                                 noloc), noloc);
    IrRef y = ir_binary(c->g, IR_OP_ADD, ir_matmul(c->g, must(c, h), transpose(c, w2), noloc), b2,
                        noloc);
    output(c, ir_binary(c->g, IR_OP_ADD, must(c, y), r, noloc));
    PassCtx px = {.diag = &c->d, .verify_each = true};
    CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&c->g, "fuse", &px));
    c->opts.threads = threads;
    c->opts.stable_params = true;
    McStr ir = llvm_of(c);
    CU_ASSERT_TRUE(task_prepacked(ir.s, "t2"));
    mc_str_free(&ir);
    CgProgram *p = compile(c);
    CU_ASSERT_EQUAL(check_runs(c, p, F32_TOL, 1000), 0);
    CgStats st;
    cg_program_stats(p, &st);
    CU_ASSERT_EQUAL(st.ncalls, 2); /* each product with its epilogue */
    cg_program_free(p);
    case_free(c);
  }
}

static void test_codegen_conv_filter_grads(void) {
  each_cpu_case("conv filter gradients", conv_grad_body);
}

/* Groups whose walk ends in a short axis (a broadcast operand of [.., 1]
   against [.., 2], as a max's gradient over a pool's windows) compute each
   short row in the body of a loop along the axis outside it (key
   " inner2"): elementwise, a big one in parts and a small one; and the
   count of each 2 x 2 window's maxima (coarse values, so with ties),
   which sums the short axis into its result element. Against the
   evaluator, for the host's vectors and those of test_cpus. */
static void build_short_inner(Case *c) {
  IrGraph *g = c->g;
  IrRef big = input(c, DOM_ANY, c->dt, SHAPE(64, 8, 14, 2, 14, 2));
  IrRef col = input(c, DOM_POS, c->dt, SHAPE(64, 8, 14, 1, 14, 1));
  output(c, ir_binary(g, IR_OP_MUL, big, ir_binary(g, IR_OP_DIV, col, col, noloc), noloc));
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(3, 5, 7, 3));
  IrRef y = input(c, DOM_ANY, c->dt, SHAPE(3, 5, 7, 1));
  output(c, ir_unary(g, IR_OP_TANH, ir_binary(g, IR_OP_SUB, x, y, noloc), noloc));
  IrRef win = input(c, DOM_COARSE, c->dt, SHAPE(16, 6, 14, 2, 14, 2));
  IrRef wmax = input(c, DOM_COARSE, c->dt, SHAPE(16, 6, 14, 1, 14, 1));
  IrRef mask = ir_cast(g, ir_binary(g, IR_OP_EQ, win, wmax, noloc), c->dt, noloc);
  output(c, mask);
  output(c, ir_reduce(g, IR_OP_SUM, mask, 1u << 3 | 1u << 5, true, noloc));
}

/* Whether a kernel of p has `what` and `also` (NULL: anything) in its key. */
static bool has_kernel_keys(CgProgram *p, const char *what, const char *also) {
  int n = cg_program_profile(p, NULL, 0);
  CgCallTime *t = mc_xcalloc((size_t)(n ? n : 1), sizeof *t);
  cg_program_profile(p, t, n);
  bool found = false;
  for (int i = 0; i < n; i++)
    found |= strstr(t[i].kernel, what) && (!also || strstr(t[i].kernel, also));
  free(t);
  return found;
}

static bool has_kernel_key(CgProgram *p, const char *what) { return has_kernel_keys(p, what, NULL); }

static void short_inner_body(Case *c) {
  c->opts.profile = true;
  build_short_inner(c);
  int calls = fuse_and_count_calls(c, "fuse", tol_of(c));
  CU_ASSERT_EQUAL(calls, 3);
  CgProgram *p = compile(c);
  CU_ASSERT_TRUE(has_kernel_key(p, " inner2"));
  CU_ASSERT_TRUE(has_kernel_key(p, " inner3"));
  CU_ASSERT_TRUE(has_kernel_keys(p, ")k1 st1 st2 row0", " inner2")); /* the count */
  cg_program_free(p);
}

static void test_codegen_short_inner_groups(void) {
  each_cpu_case("short inner groups", short_inner_body);
}

/* ---- a gradient program --------------------------------------------------------------------- */

/* mlp: x[8,20] -> linear 20x16 -> relu -> linear 16x5 -> softmax cross
   entropy against one-hot targets, mean over the batch. */
static IrRef build_mlp(Case *c) {
  IrGraph *g = c->g;
  IrRef x = input(c, DOM_ANY, c->dt, SHAPE(8, 20));
  IrRef onehot = input(c, DOM_BOOL, c->dt, SHAPE(8, 5));
  IrRef w1 = param(c, DOM_ANY, SHAPE(20, 16)), b1 = param(c, DOM_ANY, SHAPE(16));
  IrRef w2 = param(c, DOM_ANY, SHAPE(16, 5)), b2 = param(c, DOM_ANY, SHAPE(5));
  IrRef h = ir_unary(g, IR_OP_RELU, ir_binary(g, IR_OP_ADD, ir_matmul(g, x, w1, noloc), b1, noloc),
                     noloc);
  IrRef logits = ir_binary(g, IR_OP_ADD, ir_matmul(g, h, w2, noloc), b2, noloc);
  IrRef m = ir_reduce(g, IR_OP_MAX, logits, 2, true, noloc);
  IrRef z = ir_binary(g, IR_OP_SUB, logits, m, noloc);
  IrRef lse =
      ir_unary(g, IR_OP_LOG,
               ir_reduce(g, IR_OP_SUM, ir_unary(g, IR_OP_EXP, z, noloc), 2, true, noloc), noloc);
  IrRef nll = ir_binary(g, IR_OP_MUL, ir_binary(g, IR_OP_SUB, lse, z, noloc), onehot, noloc);
  IrRef total = ir_reduce(g, IR_OP_SUM, nll, 3, false, noloc);
  IrRef loss = ir_binary(g, IR_OP_DIV, total, ir_const(g, 8, c->dt, noloc), noloc);
  output(c, logits);
  ir_add_output(g, IR_OUT_LOSS, "loss", must(c, loss));
  return loss;
}

static void test_codegen_mlp_gradient(void) {
  static const char *const pipelines[] = {"autodiff", PASS_PIPELINE_GRAD};
  for (size_t pl = 0; pl < MC_COUNTOF(pipelines); pl++)
    for (int f = 0; f < 2; f++) {
      IrDtype dt = f ? IR_F64 : IR_F32;
      char what[64];
      snprintf(what, sizeof what, "mlp gradient (%s) %s", pipelines[pl], ir_dtype_name(dt));
      Case *c = case_new(dt, what);
      build_mlp(c);
      PassCtx cx = {.diag = &c->d, .verify_each = true};
      bool ok = pass_run_pipeline(&c->g, pipelines[pl], &cx);
      if (!ok)
        fprintf(stderr, "\n  %s: %s", what, c->d.buf.s ? c->d.buf.s : "");
      CU_ASSERT_TRUE_FATAL(ok);
      int ngrads = 0;
      for (uint32_t k = 0; k < c->g->nouts; k++)
        ngrads += c->g->outs[k].kind == IR_OUT_GRAD;
      CU_ASSERT_EQUAL(ngrads, 4);
      check(c, f ? F64_TOL : F32_TOL);
      case_free(c);
    }
}

/* Annotations codegen cannot run as written (everything in one group,
   groups striped across the graph, kernels closed before their operands
   exist) fall apart into runnable groups: results still match. */
static void test_codegen_fused_bad_annotations(void) {
  for (int scheme = 0; scheme < 3; scheme++) {
    char what[64];
    snprintf(what, sizeof what, "bad kernel annotations, scheme %d", scheme);
    Case *c = case_new(IR_F32, what);
    build_mlp(c);
    PassCtx cx = {.diag = &c->d};
    CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&c->g, "autodiff,simplify,cse,dce", &cx));
    for (uint32_t i = 0; i < c->g->nnodes; i++)
      c->g->nodes[i].kernel = scheme == 0 ? 1 : scheme == 1 ? 1 + i % 3 : c->g->nnodes - i;
    check(c, F32_TOL);
    case_free(c);
  }
}

/* The mlp's gradient program compiled fused and unfused (annotations
   dropped) gives the same outputs on the same inputs, compared directly. */
static void test_codegen_fused_matches_unfused(void) {
  for (int f = 0; f < 2; f++) {
    IrDtype dt = f ? IR_F64 : IR_F32;
    Case *c = case_new(dt, f ? "fused vs unfused f64" : "fused vs unfused f32");
    build_mlp(c);
    PassCtx cx = {.diag = &c->d};
    CU_ASSERT_TRUE_FATAL(pass_run_pipeline(&c->g, PASS_PIPELINE_GRAD, &cx));
    IrGraph *plain = ir_graph_clone(c->g);
    for (uint32_t i = 0; i < plain->nnodes; i++)
      plain->nodes[i].kernel = 0;
    CgProgram *p[2] = {compile(c), cg_jit_compile(plain, &c->opts, &c->d)};
    CU_ASSERT_PTR_NOT_NULL_FATAL(p[1]);
    CgStats st[2];
    void **bufs[2];
    for (int k = 0; k < 2; k++) {
      IrEval *e = ir_eval_new(c->g, dt == IR_F64);
      bufs[k] = make_buffers(c, p[k], e, 77);
      CU_ASSERT_TRUE(cg_program_run(p[k], bufs[k], &c->d));
      cg_program_stats(p[k], &st[k]);
      ir_eval_free(e);
    }
    CU_ASSERT_TRUE(st[0].ncalls < st[1].ncalls);
    for (uint32_t o = 0; o < c->g->nouts; o++) {
      const IrNode *n = ir_node(c->g, c->g->outs[o].ref);
      int slot = cg_program_output_slot(p[0], (int)o);
      IrTensor want = {.dtype = (IrDtype)n->dtype, .numel = ir_shape_numel(&n->shape)};
      want.data = mc_xmalloc((size_t)(want.numel ? want.numel : 1) * sizeof *want.data);
      for (int64_t i = 0; i < want.numel; i++)
        want.data[i] = get(want.dtype, bufs[1][slot], i);
      CU_ASSERT_EQUAL(compare(c, c->g->outs[o].name, &want, bufs[0][slot], want.dtype,
                              f ? F64_TOL : F32_TOL),
                      0);
      free(want.data);
    }
    for (int k = 0; k < 2; k++) {
      free_buffers(bufs[k], cg_program_nslots(p[k]));
      cg_program_free(p[k]);
    }
    ir_graph_free(plain);
    case_free(c);
  }
}

static const TestCase cases[] = {
    {"test_codegen_every_op_has_a_test", test_codegen_every_op_has_a_test},
    {"test_codegen_every_op_f32", test_codegen_every_op_f32},
    {"test_codegen_every_op_f64", test_codegen_every_op_f64},
    {"test_codegen_edge_values", test_codegen_edge_values},
    {"test_codegen_float_math_accuracy", test_codegen_float_math_accuracy},
    {"test_codegen_empty_tensors", test_codegen_empty_tensors},
    {"test_codegen_bad_index_is_reported", test_codegen_bad_index_is_reported},
    {"test_codegen_missing_buffer_is_reported", test_codegen_missing_buffer_is_reported},
    {"test_codegen_invalid_graph_is_refused", test_codegen_invalid_graph_is_refused},
    {"test_codegen_slots_and_plan", test_codegen_slots_and_plan},
    {"test_codegen_emit_llvm_and_asm", test_codegen_emit_llvm_and_asm},
    {"test_codegen_shards_and_opt_levels", test_codegen_shards_and_opt_levels},
    {"test_codegen_costly_loops_interleave", test_codegen_costly_loops_interleave},
    {"test_codegen_named_cpu", test_codegen_named_cpu},
    {"test_codegen_host_avx512", test_codegen_host_avx512},
    {"test_codegen_matmul_tiles", test_codegen_matmul_tiles},
    {"test_codegen_matmul_transposed_operands", test_codegen_matmul_transposed_operands},
    {"test_codegen_matmul_narrow", test_codegen_matmul_narrow},
    {"test_codegen_elementwise_in_parts", test_codegen_elementwise_in_parts},
    {"test_codegen_reductions_in_parts", test_codegen_reductions_in_parts},
    {"test_codegen_moves_in_parts", test_codegen_moves_in_parts},
    {"test_codegen_mlp_gradient", test_codegen_mlp_gradient},
    {"test_codegen_fused_softmax", test_codegen_fused_softmax},
    {"test_codegen_fused_log_softmax", test_codegen_fused_log_softmax},
    {"test_codegen_fused_layer_norm", test_codegen_fused_layer_norm},
    {"test_codegen_fused_linear", test_codegen_fused_linear},
    {"test_codegen_sink_into_epilogue", test_codegen_sink_into_epilogue},
    {"test_codegen_fused_broadcast_chain", test_codegen_fused_broadcast_chain},
    {"test_codegen_fused_reductions", test_codegen_fused_reductions},
    {"test_codegen_fused_adam", test_codegen_fused_adam},
    {"test_codegen_fused_in_parts", test_codegen_fused_in_parts},
    {"test_codegen_batched_rows_merge", test_codegen_batched_rows_merge},
    {"test_codegen_equal_panels", test_codegen_equal_panels},
    {"test_codegen_fold_kernel", test_codegen_fold_kernel},
    {"test_codegen_outer_reductions_in_parts", test_codegen_outer_reductions_in_parts},
    {"test_codegen_short_row_reductions", test_codegen_short_row_reductions},
    {"test_codegen_max_rows", test_codegen_max_rows},
    {"test_codegen_conv_windows_in_place", test_codegen_conv_windows_in_place},
    {"test_codegen_conv_phases", test_codegen_conv_phases},
    {"test_codegen_conv_cv", test_codegen_conv_cv},
    {"test_codegen_conv_grad_cv", test_codegen_conv_grad_cv},
    {"test_codegen_conv_filter_grads", test_codegen_conv_filter_grads},
    {"test_codegen_stable_params", test_codegen_stable_params},
    {"test_codegen_short_inner_groups", test_codegen_short_inner_groups},
    {"test_codegen_fused_bad_annotations", test_codegen_fused_bad_annotations},
    {"test_codegen_fused_long_chain", test_codegen_fused_long_chain},
    {"test_codegen_fused_matches_unfused", test_codegen_fused_matches_unfused},
};

int main(void) { return test_main("codegen", cases, MC_COUNTOF(cases)); }
