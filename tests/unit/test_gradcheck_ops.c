/* test_gradcheck_ops.c -- finite-difference check of every gradient rule,
   through the real autodiff pass and the reference evaluator (f64): for each
   op a graph loss = sum(op(params...) * w) with fixed random weights w is
   differentiated, and each GRAD output is compared with central differences
   of the forward graph. The op table below is indexed by op: an op added to
   ir_ops.def without a row here (or in no_grad_ops) fails the coverage test.
   To add an op: write a build_* function (or reuse one) and add its row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"
#include "test_util.h"

#define STEP 1e-5        /* central-difference step */
#define TOLERANCE 1e-6   /* on |g - fd| / max(|g|, |fd|, FLOOR) */
#define FLOOR 1e-2       /* below this a gradient is compared absolutely */
#define MAX_SOURCES 8

/* How a source's values are drawn, keeping every op away from its kinks. */
typedef enum {
  DOM_ANY,       /* uniform [-1, 1] */
  DOM_POS,       /* uniform [0.5, 2]: log, sqrt, rsqrt, pow base */
  DOM_AWAY0,     /* +-[0.2, 1]: relu, abs, sign, divisors */
  DOM_QUARTER,   /* k + 0.25 +- 0.05: never within 0.4 of a DOM_3QUARTER value */
  DOM_3QUARTER,  /* k + 0.75 +- 0.05 */
  DOM_DISTINCT,  /* a shuffle of 0.1 * i (+ noise): max has no ties */
  DOM_INDEX,     /* i32 in [0, bound) */
  DOM_BOOL,      /* 0 or 1 */
} Domain;

typedef struct Source {
  char name[16];
  Domain dom;
  int64_t bound;   /* DOM_INDEX */
} Source;

/* One graph under test: its sources are bound with deterministic values. */
typedef struct Fixture {
  IrGraph *g;
  Source src[MAX_SOURCES];
  int nsrc;
  const char *what;  /* for failure messages */
} Fixture;

static const McLoc noloc = {0};

static IrShape shape_of(int rank, const int64_t *dims) {
  IrShape s = {.rank = (uint8_t)rank};
  for (int i = 0; i < rank; i++) s.d[i] = ir_dim_const(dims[i]);
  return s;
}

#define SHAPE(...) shape_of(MC_COUNTOF(((int64_t[]){__VA_ARGS__})), (int64_t[]){__VA_ARGS__})
static const IrShape scalar_shape = {0};

static void fixture_init(Fixture *f, const char *what) {
  memset(f, 0, sizeof *f);
  f->g = ir_graph_new("gradcheck", NULL);
  f->what = what;
}

static Source *add_source(Fixture *f, Domain dom) {
  MC_ASSERT(f->nsrc < MAX_SOURCES);
  Source *s = &f->src[f->nsrc];
  snprintf(s->name, sizeof s->name, "s%d", f->nsrc);
  s->dom = dom;
  f->nsrc++;
  return s;
}

static IrRef param(Fixture *f, Domain dom, IrShape s) {
  Source *src = add_source(f, dom);
  return ir_param(f->g, src->name, IR_F64, &s, (IrInit){IR_INIT_NONE, 0, 0, false}, noloc);
}

static IrRef param_f32(Fixture *f, Domain dom, IrShape s) {
  Source *src = add_source(f, dom);
  return ir_param(f->g, src->name, IR_F32, &s, (IrInit){IR_INIT_NONE, 0, 0, false}, noloc);
}

static IrRef input(Fixture *f, Domain dom, IrDtype t, IrShape s, int64_t bound) {
  Source *src = add_source(f, dom);
  src->bound = bound;
  return ir_input(f->g, src->name, t, &s, noloc);
}

static double draw(const Source *s, int64_t i, int64_t n) {
  uint64_t stream = mc_hash_str(s->name) + (uint64_t)s->dom;
  double u = mc_rng_uniform(42, stream, (uint64_t)i);
  double sign = mc_rng_uniform(43, stream, (uint64_t)i) < 0.5 ? -1.0 : 1.0;
  double k = floor(mc_rng_uniform(44, stream, (uint64_t)i) * 4.0) - 2.0;
  switch (s->dom) {
  case DOM_ANY: return 2.0 * u - 1.0;
  case DOM_POS: return 0.5 + 1.5 * u;
  case DOM_AWAY0: return sign * (0.2 + 0.8 * u);
  case DOM_QUARTER: return k + 0.25 + 0.1 * (u - 0.5);
  case DOM_3QUARTER: return k + 0.75 + 0.1 * (u - 0.5);
  case DOM_DISTINCT: return 0.1 * (double)i + 0.03 * u - 0.05 * (double)n;
  case DOM_INDEX: return floor(u * (double)s->bound);
  case DOM_BOOL: return u < 0.5 ? 0.0 : 1.0;
  }
  return 0.0;
}

/* Deterministic values for source s (shuffled for DOM_DISTINCT). */
static double *source_values(const Source *s, int64_t n) {
  double *v = mc_xmalloc((size_t)(n ? n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++) v[i] = draw(s, i, n);
  if (s->dom == DOM_DISTINCT) {
    for (int64_t i = n - 1; i > 0; i--) {
      double u = mc_rng_uniform(45, mc_hash_str(s->name), (uint64_t)i);
      int64_t j = (int64_t)(u * (double)(i + 1));
      double t = v[i];
      v[i] = v[j];
      v[j] = t;
    }
  }
  return v;
}

static int64_t numel_of(const IrGraph *g, const char *name) {
  IrRef r = ir_find_param(g, name);
  if (r == IR_NONE) r = ir_find_input(g, name);
  return ir_shape_numel(&ir_node(g, r)->shape);
}

static IrEval *bound_eval(const IrGraph *g, const Fixture *f, McDiag *d) {
  IrEval *e = ir_eval_new(g, true);
  for (int i = 0; i < f->nsrc; i++) {
    int64_t n = numel_of(g, f->src[i].name);
    double *v = source_values(&f->src[i], n);
    CU_ASSERT_TRUE(ir_eval_bind(e, f->src[i].name, v, n, d));
    free(v);
  }
  return e;
}

static double loss_value(IrEval *e, McDiag *d) {
  CU_ASSERT_TRUE_FATAL(ir_eval_run(e, d));
  const IrTensor *l = ir_eval_output(e, IR_OUT_LOSS, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  return l->data[0];
}

/* Compares the GRAD output of param `name` with central differences. */
static int check_param(const Fixture *f, const char *name, IrEval *grad_eval, IrEval *fwd,
                       McDiag *d) {
  const IrTensor *g = ir_eval_output(grad_eval, IR_OUT_GRAD, name);
  IrTensor *x = ir_eval_binding(fwd, name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  CU_ASSERT_EQUAL_FATAL(g->numel, x->numel);
  int bad = 0;
  for (int64_t i = 0; i < x->numel; i++) {
    double keep = x->data[i];
    x->data[i] = keep + STEP;
    double up = loss_value(fwd, d);
    x->data[i] = keep - STEP;
    double down = loss_value(fwd, d);
    x->data[i] = keep;
    double fd = (up - down) / (2 * STEP), an = g->data[i];
    double err = fabs(an - fd) / fmax(fmax(fabs(an), fabs(fd)), FLOOR);
    if (err >= TOLERANCE || isnan(err)) {
      if (bad++ < 3)
        fprintf(stderr, "\n  %s: d loss / d %s[%lld]: autodiff %.12g, finite diff %.12g",
                f->what, name, (long long)i, an, fd);
    }
  }
  return bad;
}

/* loss = sum(y * w) over every axis, w a fixed random input. */
static IrRef weighted_loss(Fixture *f, IrRef y) {
  CU_ASSERT_NOT_EQUAL_FATAL(y, IR_NONE);
  IrNode n = *ir_node(f->g, y);
  IrRef w = input(f, DOM_ANY, (IrDtype)n.dtype, n.shape, 0);
  IrRef p = ir_binary(f->g, IR_OP_MUL, y, w, noloc);
  return n.shape.rank ? ir_reduce(f->g, IR_OP_SUM, p, (1u << n.shape.rank) - 1, false, noloc) : p;
}

/* Differentiates f's graph with output y and checks every param. */
static void gradcheck(Fixture *f, IrRef y) {
  McDiag d;
  mc_diag_init(&d, NULL, NULL);
  f->g->diag = &d;
  IrRef loss = weighted_loss(f, y);
  CU_ASSERT_NOT_EQUAL_FATAL(loss, IR_NONE);
  ir_add_output(f->g, IR_OUT_LOSS, "loss", loss);
  IrGraph *fwd = ir_graph_clone(f->g);
  PassCtx cx = {.diag = &d, .verify_each = true};
  bool ok = pass_run_pipeline(&f->g, "autodiff", &cx);
  if (!ok) fprintf(stderr, "\n  %s: %s", f->what, d.buf.s ? d.buf.s : "");
  CU_ASSERT_TRUE_FATAL(ok);
  IrEval *ge = bound_eval(f->g, f, &d), *fe = bound_eval(fwd, f, &d);
  CU_ASSERT_TRUE_FATAL(ir_eval_run(ge, &d));
  int bad = 0;
  for (uint32_t i = 0; i < fwd->nnodes; i++)
    if (ir_node(fwd, i)->op == IR_OP_PARAM)
      bad += check_param(f, ir_node(fwd, i)->name, ge, fe, &d);
  CU_ASSERT_EQUAL(bad, 0);
  if (d.nerrors) fprintf(stderr, "\n  %s: %s", f->what, d.buf.s);
  CU_ASSERT_EQUAL(d.nerrors, 0);
  ir_eval_free(ge);
  ir_eval_free(fe);
  ir_graph_free(fwd);
  ir_graph_free(f->g);
  mc_diag_fini(&d);
}

/* ---- one runner per kind of op ------------------------------------------------- */

typedef struct OpTest OpTest;
struct OpTest {
  void (*run)(IrOp op, const OpTest *t);
  Domain a, b;   /* value domains of the first two operands */
};

static const int64_t sizes[] = {1, 3, 17};

static void run_unary(IrOp op, const OpTest *t) {
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    Fixture f;
    fixture_init(&f, ir_ops[op].name);
    gradcheck(&f, ir_unary(f.g, op, param(&f, t->a, SHAPE(sizes[i])), noloc));
  }
  Fixture f;
  fixture_init(&f, ir_ops[op].name);
  gradcheck(&f, ir_unary(f.g, op, param(&f, t->a, scalar_shape), noloc));
}

/* Ops whose float result carries no gradient (sign, comparisons): the check
   is that autodiff's zero matches the (zero) finite difference. */
static IrRef as_float(Fixture *f, IrRef y) {
  return ir_node(f->g, y)->dtype == IR_BOOL ? ir_cast(f->g, y, IR_F64, noloc) : y;
}

/* Shape pairs: same shape at each size, then the broadcasting variants. */
static void binary_case(IrOp op, const OpTest *t, IrShape sa, IrShape sb) {
  Fixture f;
  fixture_init(&f, ir_ops[op].name);
  IrRef a = param(&f, t->a, sa), b = param(&f, t->b, sb);
  gradcheck(&f, as_float(&f, ir_binary(f.g, op, a, b, noloc)));
}

static void run_binary(IrOp op, const OpTest *t) {
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++)
    binary_case(op, t, SHAPE(sizes[i]), SHAPE(sizes[i]));
  binary_case(op, t, SHAPE(17, 1), SHAPE(1, 3));
  binary_case(op, t, SHAPE(3), SHAPE(2, 3));
  binary_case(op, t, SHAPE(2, 3), SHAPE(3));
  binary_case(op, t, scalar_shape, SHAPE(3));
  binary_case(op, t, SHAPE(3), scalar_shape);
}

static void where_case(IrShape sc, IrShape sa, IrShape sb) {
  Fixture f;
  fixture_init(&f, "where");
  IrRef c = input(&f, DOM_BOOL, IR_BOOL, sc, 0);
  IrRef a = param(&f, DOM_ANY, sa), b = param(&f, DOM_ANY, sb);
  gradcheck(&f, ir_where(f.g, c, a, b, noloc));
}

static void run_where(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++)
    where_case(SHAPE(sizes[i]), SHAPE(sizes[i]), SHAPE(sizes[i]));
  where_case(SHAPE(17, 1), SHAPE(1, 3), SHAPE(17, 3));
  where_case(SHAPE(3), SHAPE(2, 3), scalar_shape);
  where_case(scalar_shape, SHAPE(3), SHAPE(2, 1));
}

static void reduce_case(IrOp op, const OpTest *t, int64_t n, uint32_t axes, bool keep) {
  Fixture f;
  fixture_init(&f, ir_ops[op].name);
  IrRef x = param(&f, t->a, SHAPE(n, 3));
  gradcheck(&f, ir_reduce(f.g, op, x, axes, keep, noloc));
}

static void run_reduce(IrOp op, const OpTest *t) {
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    reduce_case(op, t, sizes[i], 2, false);
    reduce_case(op, t, sizes[i], 1, true);
    reduce_case(op, t, sizes[i], 3, false);
  }
}

static void matmul_case(IrShape sa, IrShape sb) {
  Fixture f;
  fixture_init(&f, "matmul");
  IrRef a = param(&f, DOM_ANY, sa), b = param(&f, DOM_ANY, sb);
  gradcheck(&f, ir_matmul(f.g, a, b, noloc));
}

static void run_matmul(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    int64_t n = sizes[i];
    matmul_case(SHAPE(n, 4), SHAPE(4, n));
    matmul_case(SHAPE(2, n, 3), SHAPE(3, 2));      /* b broadcast over the batch */
    matmul_case(SHAPE(2, 1, 3, n), SHAPE(3, n, 2)); /* both batch axes broadcast */
  }
}

/* A single-operand op on a param of shape `in`, built by fn. */
typedef IrRef (*MoveFn)(Fixture *f, IrRef x, int64_t n);

static void move_case(const char *what, IrShape in, MoveFn fn, int64_t n) {
  Fixture f;
  fixture_init(&f, what);
  IrRef x = param(&f, DOM_ANY, in);
  gradcheck(&f, fn(&f, x, n));
}

static IrRef reshape_rows(Fixture *f, IrRef x, int64_t n) {
  IrShape s = SHAPE(3, n);
  return ir_reshape(f->g, x, &s, noloc);
}

static IrRef reshape_flat(Fixture *f, IrRef x, int64_t n) {
  IrShape s = SHAPE(3 * n);
  return ir_reshape(f->g, x, &s, noloc);
}

static void run_reshape(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    move_case("reshape", SHAPE(sizes[i], 3), reshape_rows, sizes[i]);
    move_case("reshape", SHAPE(sizes[i], 3), reshape_flat, sizes[i]);
  }
}

static IrRef permute3(Fixture *f, IrRef x, int64_t n) {
  (void)n;
  return ir_permute(f->g, x, (const uint8_t[]){2, 0, 1}, noloc);
}

static void run_permute(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++)
    move_case("permute", SHAPE(sizes[i], 3, 2), permute3, sizes[i]);
}

static IrRef expand_cols(Fixture *f, IrRef x, int64_t n) {
  IrShape s = SHAPE(n, 3);
  return ir_expand(f->g, x, &s, noloc);
}

static IrRef expand_rank(Fixture *f, IrRef x, int64_t n) {
  IrShape s = SHAPE(2, n);
  return ir_expand(f->g, x, &s, noloc);
}

static void run_expand(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    move_case("expand", SHAPE(sizes[i], 1), expand_cols, sizes[i]);
    move_case("expand", SHAPE(sizes[i]), expand_rank, sizes[i]);
  }
}

/* x[2n+1, 5]: rows 0,2,..,2n (dilated past the end, so trimmed), cols 1,3. */
static IrRef slice_strided(Fixture *f, IrRef x, int64_t n) {
  return ir_slice(f->g, x, (const int64_t[]){0, 1}, (const int64_t[]){2, 2},
                  (const int64_t[]){n + 1, 2}, noloc);
}

/* x[n+2, 7]: rows 1..n, cols 0,3,6. */
static IrRef slice_block(Fixture *f, IrRef x, int64_t n) {
  return ir_slice(f->g, x, (const int64_t[]){1, 0}, (const int64_t[]){1, 3},
                  (const int64_t[]){n, 3}, noloc);
}

/* x[2n+2, 5]: rows 2n+1, 2n-1, .., 1 (backwards), cols 4..0 (a flip). */
static IrRef slice_backwards(Fixture *f, IrRef x, int64_t n) {
  return ir_slice(f->g, x, (const int64_t[]){2 * n + 1, 4}, (const int64_t[]){-2, -1},
                  (const int64_t[]){n + 1, 5}, noloc);
}

static void run_slice(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    int64_t n = sizes[i];
    move_case("slice", SHAPE(2 * n + 1, 5), slice_strided, n);
    move_case("slice", SHAPE(n + 2, 7), slice_block, n);
    move_case("slice", SHAPE(2 * n + 2, 5), slice_backwards, n);
  }
}

static IrRef pad2(Fixture *f, IrRef x, int64_t n) {
  (void)n;
  return ir_pad(f->g, x, (const int64_t[]){1, 0}, (const int64_t[]){2, 3}, noloc);
}

static void run_pad(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++)
    move_case("pad", SHAPE(sizes[i], 2), pad2, sizes[i]);
}

/* 2-D windows, overlapping (3x2, stride 1, dilation 2 on one axis) and
   strided (2x2, stride 2); 1-D windows with stride 3 (gaps). */
static IrRef unfold_overlap(Fixture *f, IrRef x, int64_t n) {
  (void)n;
  return ir_unfold(f->g, x, 2, (const int64_t[]){3, 2}, (const int64_t[]){1, 1},
                   (const int64_t[]){1, 2}, noloc);
}

static IrRef unfold_strided(Fixture *f, IrRef x, int64_t n) {
  (void)n;
  return ir_unfold(f->g, x, 2, (const int64_t[]){2, 2}, (const int64_t[]){2, 2},
                   (const int64_t[]){1, 1}, noloc);
}

static IrRef unfold_gaps(Fixture *f, IrRef x, int64_t n) {
  (void)n;
  return ir_unfold(f->g, x, 1, (const int64_t[]){2}, (const int64_t[]){3}, (const int64_t[]){1},
                   noloc);
}

static void run_unfold(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    int64_t n = sizes[i];
    move_case("unfold", SHAPE(n, 2, 5, 6), unfold_overlap, n);
    move_case("unfold", SHAPE(2, n, 5, 5), unfold_strided, n);
    move_case("unfold", SHAPE(n, 8), unfold_gaps, n);
  }
}

/* fold of a [lead, K, O] tensor back into images of the given sizes. */
static IrRef fold_overlap(Fixture *f, IrRef y, int64_t n) {
  (void)n;
  return ir_fold(f->g, y, 2, (const IrDim[]){ir_dim_const(5), ir_dim_const(6)},
                 (const int64_t[]){1, 1}, (const int64_t[]){1, 2}, noloc);
}

static IrRef fold_gaps(Fixture *f, IrRef y, int64_t n) {
  (void)n;
  return ir_fold(f->g, y, 1, (const IrDim[]){ir_dim_const(9)}, (const int64_t[]){3},
                 (const int64_t[]){1}, noloc);
}

static void run_fold(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    int64_t n = sizes[i];
    move_case("fold", SHAPE(n, 3, 2, 3, 4), fold_overlap, n);
    move_case("fold", SHAPE(n, 2, 3), fold_gaps, n);
  }
}

static void run_concat(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    int64_t n = sizes[i];
    Fixture f;
    fixture_init(&f, "concat");
    IrRef two[2] = {param(&f, DOM_ANY, SHAPE(n, 2)), param(&f, DOM_ANY, SHAPE(n, 3))};
    gradcheck(&f, ir_concat(f.g, two, 2, 1, noloc));
    fixture_init(&f, "concat");
    IrRef three[3] = {param(&f, DOM_ANY, SHAPE(1, 3)), param(&f, DOM_ANY, SHAPE(n, 3)),
                      param(&f, DOM_ANY, SHAPE(2, 3))};
    gradcheck(&f, ir_concat(f.g, three, 3, 0, noloc));
  }
}

/* Indices drawn from [0, 4): with n = 17 rows repeat, so gradients add up. */
static void run_gather(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    int64_t n = sizes[i];
    Fixture f;
    fixture_init(&f, "gather");
    IrRef table = param(&f, DOM_ANY, SHAPE(4, n));
    IrRef idx = input(&f, DOM_INDEX, IR_I32, SHAPE(n), 4);
    gradcheck(&f, ir_gather(f.g, table, idx, noloc));
    fixture_init(&f, "gather");
    table = param(&f, DOM_ANY, SHAPE(4));
    idx = input(&f, DOM_INDEX, IR_I32, SHAPE(2, n), 4);
    gradcheck(&f, ir_gather(f.g, table, idx, noloc));
  }
}

static void run_scatter_add(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    int64_t n = sizes[i];
    Fixture f;
    fixture_init(&f, "scatter_add");
    IrRef src = param(&f, DOM_ANY, SHAPE(n, 3));
    IrRef idx = input(&f, DOM_INDEX, IR_I32, SHAPE(n), 4);
    gradcheck(&f, ir_scatter_add(f.g, src, idx, ir_dim_const(4), noloc));
  }
}

/* f32 <-> f64 both ways; an int operand gets no gradient (checked by the
   pass tests). */
static void run_cast(IrOp op, const OpTest *t) {
  (void)op, (void)t;
  for (size_t i = 0; i < MC_COUNTOF(sizes); i++) {
    Fixture f;
    fixture_init(&f, "cast");
    gradcheck(&f, ir_cast(f.g, param_f32(&f, DOM_ANY, SHAPE(sizes[i])), IR_F64, noloc));
    fixture_init(&f, "cast");
    gradcheck(&f, ir_cast(f.g, param(&f, DOM_ANY, SHAPE(sizes[i])), IR_F32, noloc));
  }
}

/* ---- the table ------------------------------------------------------------------ */

static const OpTest op_tests[IR_OP_COUNT] = {
    [IR_OP_NEG] = {run_unary, DOM_ANY, DOM_ANY},
    [IR_OP_EXP] = {run_unary, DOM_ANY, DOM_ANY},
    [IR_OP_LOG] = {run_unary, DOM_POS, DOM_ANY},
    [IR_OP_SQRT] = {run_unary, DOM_POS, DOM_ANY},
    [IR_OP_RSQRT] = {run_unary, DOM_POS, DOM_ANY},
    [IR_OP_TANH] = {run_unary, DOM_ANY, DOM_ANY},
    [IR_OP_SIGMOID] = {run_unary, DOM_ANY, DOM_ANY},
    [IR_OP_RELU] = {run_unary, DOM_AWAY0, DOM_ANY},
    [IR_OP_GELU] = {run_unary, DOM_ANY, DOM_ANY},
    [IR_OP_ERF] = {run_unary, DOM_ANY, DOM_ANY},
    [IR_OP_GELU_GRAD] = {run_binary, DOM_ANY, DOM_ANY},
    [IR_OP_ABS] = {run_unary, DOM_AWAY0, DOM_ANY},
    [IR_OP_SIGN] = {run_unary, DOM_AWAY0, DOM_ANY},
    [IR_OP_CAST] = {run_cast, DOM_ANY, DOM_ANY},
    [IR_OP_ADD] = {run_binary, DOM_ANY, DOM_ANY},
    [IR_OP_SUB] = {run_binary, DOM_ANY, DOM_ANY},
    [IR_OP_MUL] = {run_binary, DOM_ANY, DOM_ANY},
    [IR_OP_DIV] = {run_binary, DOM_ANY, DOM_AWAY0},
    [IR_OP_POW] = {run_binary, DOM_POS, DOM_ANY},
    [IR_OP_MAXIMUM] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_MINIMUM] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_LT] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_HASH] = {run_binary, DOM_ANY, DOM_ANY},
    [IR_OP_LE] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_GT] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_GE] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_EQ] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_NE] = {run_binary, DOM_QUARTER, DOM_3QUARTER},
    [IR_OP_WHERE] = {run_where, DOM_ANY, DOM_ANY},
    [IR_OP_SUM] = {run_reduce, DOM_ANY, DOM_ANY},
    [IR_OP_MAX] = {run_reduce, DOM_DISTINCT, DOM_ANY},
    [IR_OP_MATMUL] = {run_matmul, DOM_ANY, DOM_ANY},
    [IR_OP_RESHAPE] = {run_reshape, DOM_ANY, DOM_ANY},
    [IR_OP_PERMUTE] = {run_permute, DOM_ANY, DOM_ANY},
    [IR_OP_EXPAND] = {run_expand, DOM_ANY, DOM_ANY},
    [IR_OP_SLICE] = {run_slice, DOM_ANY, DOM_ANY},
    [IR_OP_PAD] = {run_pad, DOM_ANY, DOM_ANY},
    [IR_OP_CONCAT] = {run_concat, DOM_ANY, DOM_ANY},
    [IR_OP_UNFOLD] = {run_unfold, DOM_ANY, DOM_ANY},
    [IR_OP_FOLD] = {run_fold, DOM_ANY, DOM_ANY},
    [IR_OP_GATHER] = {run_gather, DOM_ANY, DOM_ANY},
    [IR_OP_SCATTER_ADD] = {run_scatter_add, DOM_ANY, DOM_ANY},
    [IR_OP_PART_SUM] = {run_unary, DOM_ANY, DOM_ANY}, /* one copy; test_split: parts */
};

/* Ops whose gradient is nothing: sources (no operands) and the ops flagged
   IR_F_NOGRAD. The ones with operands are still run above (zero gradient). */
static const IrOp no_grad_ops[] = {IR_OP_INPUT, IR_OP_PARAM, IR_OP_CONST, IR_OP_IOTA,
                                   IR_OP_SIGN,  IR_OP_LT,    IR_OP_LE,    IR_OP_GT,
                                   IR_OP_GE,    IR_OP_EQ,    IR_OP_NE,    IR_OP_HASH};

static bool in_no_grad_list(int op) {
  for (size_t i = 0; i < MC_COUNTOF(no_grad_ops); i++)
    if ((int)no_grad_ops[i] == op) return true;
  return false;
}

static void test_gradcheck_ops_every_op_is_covered(void) {
  for (int op = 0; op < IR_OP_COUNT; op++) {
    bool listed = in_no_grad_list(op);
    bool nograd = (ir_ops[op].flags & IR_F_NOGRAD) || ir_ops[op].cls == IR_CLASS_SOURCE;
    if (listed != nograd || (!listed && !op_tests[op].run))
      fprintf(stderr, "\n  op '%s' has no gradient test (or its no-gradient status changed)",
              ir_ops[op].name);
    CU_ASSERT_EQUAL(listed, nograd);
    CU_ASSERT_TRUE(listed || op_tests[op].run != NULL);
  }
}

static void test_gradcheck_ops_every_op(void) {
  for (int op = 0; op < IR_OP_COUNT; op++)
    if (op_tests[op].run) op_tests[op].run((IrOp)op, &op_tests[op]);
}

/* ---- composites ----------------------------------------------------------------- */

/* x used three times: loss = sum((x * x + exp(x)) * x * w). */
static void test_gradcheck_ops_fan_out(void) {
  Fixture f;
  fixture_init(&f, "fan-out");
  IrRef x = param(&f, DOM_ANY, SHAPE(3, 4));
  IrRef xx = ir_binary(f.g, IR_OP_MUL, x, x, noloc);
  IrRef s = ir_binary(f.g, IR_OP_ADD, xx, ir_unary(f.g, IR_OP_EXP, x, noloc), noloc);
  gradcheck(&f, ir_binary(f.g, IR_OP_MUL, s, x, noloc));
}

/* log(softmax(x @ w1 + b)) along the last axis, then a tanh layer. */
static void test_gradcheck_ops_matmul_softmax(void) {
  Fixture f;
  fixture_init(&f, "matmul+softmax");
  IrRef x = param(&f, DOM_ANY, SHAPE(5, 4)), w1 = param(&f, DOM_ANY, SHAPE(4, 6));
  IrRef b = param(&f, DOM_ANY, SHAPE(6));
  IrRef h = ir_binary(f.g, IR_OP_ADD, ir_matmul(f.g, x, w1, noloc), b, noloc);
  IrRef m = ir_reduce(f.g, IR_OP_MAX, h, 2, true, noloc);
  IrRef e = ir_unary(f.g, IR_OP_EXP, ir_binary(f.g, IR_OP_SUB, h, m, noloc), noloc);
  IrRef z = ir_reduce(f.g, IR_OP_SUM, e, 2, true, noloc);
  IrRef p = ir_binary(f.g, IR_OP_DIV, e, z, noloc);
  IrRef w2 = param(&f, DOM_ANY, SHAPE(6, 3));
  IrRef logp = ir_unary(f.g, IR_OP_LOG, p, noloc);
  gradcheck(&f, ir_unary(f.g, IR_OP_TANH, ir_matmul(f.g, logp, w2, noloc), noloc));
}

/* Every index of a 3-row table used several times. */
static void test_gradcheck_ops_gather_repeated(void) {
  Fixture f;
  fixture_init(&f, "gather repeated");
  IrRef table = param(&f, DOM_ANY, SHAPE(3, 2));
  IrRef idx = input(&f, DOM_INDEX, IR_I32, SHAPE(4, 5), 3);
  IrRef rows = ir_gather(f.g, table, idx, noloc);
  gradcheck(&f, ir_binary(f.g, IR_OP_MUL, rows, rows, noloc));
}

/* cond [4,1] broadcast against a [4,3] and b [3], both differentiated. */
static void test_gradcheck_ops_where_broadcast_cond(void) {
  Fixture f;
  fixture_init(&f, "where broadcast");
  IrRef c = input(&f, DOM_BOOL, IR_BOOL, SHAPE(4, 1), 0);
  IrRef a = param(&f, DOM_ANY, SHAPE(4, 3)), b = param(&f, DOM_ANY, SHAPE(3));
  IrRef y = ir_where(f.g, c, a, b, noloc);
  gradcheck(&f, ir_binary(f.g, IR_OP_MUL, y, b, noloc));
}

int main(void) {
  static const TestCase cases[] = {
      {"every_op_is_covered", test_gradcheck_ops_every_op_is_covered},
      {"every_op", test_gradcheck_ops_every_op},
      {"fan_out", test_gradcheck_ops_fan_out},
      {"matmul_softmax", test_gradcheck_ops_matmul_softmax},
      {"gather_repeated", test_gradcheck_ops_gather_repeated},
      {"where_broadcast_cond", test_gradcheck_ops_where_broadcast_cond},
  };
  return test_main("gradcheck_ops", cases, MC_COUNTOF(cases));
}
