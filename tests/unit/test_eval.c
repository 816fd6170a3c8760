/* test_eval.c -- the reference evaluator op by op against hand-computed
   values and naive loops, its f32/f64 modes and diagnostics, the param
   initializers' statistics and determinism, and ir_int_input_bound. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ir.h"
#include "test_util.h"

static const McLoc NOLOC = {0};

/* ---- fixture: a graph, its diagnostics and an evaluator ------------------- */

typedef struct Fx {
  McDiag d;
  IrGraph *g;
  IrEval *e;
} Fx;

static void fx_init(Fx *f) {
  mc_diag_init(&f->d, NULL, NULL);
  f->g = ir_graph_new("t", &f->d);
  f->e = NULL;
}

static void fx_fini(Fx *f) {
  ir_eval_free(f->e);
  ir_graph_free(f->g);
  mc_diag_fini(&f->d);
}

/* Creates the evaluator (once the graph is complete). */
static void fx_eval(Fx *f, bool f64) {
  CU_ASSERT_EQUAL_FATAL(f->d.nerrors, 0);
  f->e = ir_eval_new(f->g, f64);
}

static void fx_bind(Fx *f, const char *name, const double *x, int64_t n) {
  CU_ASSERT_FATAL(ir_eval_bind(f->e, name, x, n, &f->d));
}

static void fx_run(Fx *f) {
  bool ok = ir_eval_run(f->e, &f->d);
  if (!ok) fprintf(stderr, "%s", f->d.buf.s);
  CU_ASSERT_FATAL(ok);
}

static IrShape make_shape(int rank, const int64_t *dims) {
  IrShape s = {0};
  s.rank = (uint8_t)rank;
  for (int i = 0; i < rank; i++) s.d[i] = ir_dim_const(dims[i]);
  return s;
}
#define SHAPE(...) \
  make_shape((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static IrRef input(Fx *f, const char *name, IrDtype t, IrShape s) {
  IrRef r = ir_input(f->g, name, t, &s, NOLOC);
  CU_ASSERT_NOT_EQUAL_FATAL(r, IR_NONE);
  return r;
}

static IrRef must(IrRef r) {
  CU_ASSERT_NOT_EQUAL_FATAL(r, IR_NONE);
  return r;
}

static void expect_values(const IrTensor *t, const double *want, int64_t n, double tol) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_EQUAL_FATAL(t->numel, n);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (!(fabs(t->data[i] - want[i]) <= tol)) bad = i;
  if (bad >= 0)
    fprintf(stderr, "\n  element %lld: got %.17g, want %.17g\n", (long long)bad, t->data[bad],
            want[bad]);
  CU_ASSERT_EQUAL(bad, -1);
}

static void expect_dims(const IrTensor *t, int rank, const int64_t *dims) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_EQUAL_FATAL(t->rank, rank);
  for (int i = 0; i < rank; i++) CU_ASSERT_EQUAL(t->dims[i], dims[i]);
}

static void fill_random(double *x, int64_t n, uint64_t stream) {
  for (int64_t i = 0; i < n; i++) x[i] = 2.0 * mc_rng_uniform(99, stream, (uint64_t)i) - 1.0;
}

/* ---- ELEM ------------------------------------------------------------------ */

typedef struct UnaryCase {
  IrOp op;
  double want[5];
} UnaryCase;

static void test_eval_unary_ops(void) {
  static const double xs[5] = {-2, -0.5, 0, 0.5, 3};
  static const UnaryCase cases[] = {
      {IR_OP_NEG, {2, 0.5, 0, -0.5, -3}},
      {IR_OP_EXP, {0.1353352832366127, 0.6065306597126334, 1, 1.6487212707001282, 20.085536923187668}},
      {IR_OP_TANH, {-0.9640275800758169, -0.46211715726000974, 0, 0.46211715726000974, 0.9950547536867305}},
      {IR_OP_SIGMOID, {0.11920292202211755, 0.3775406687981454, 0.5, 0.6224593312018546, 0.9525741268224334}},
      {IR_OP_RELU, {0, 0, 0, 0.5, 3}},
      {IR_OP_GELU, {-0.04550026389635842, -0.15426876936299344, 0, 0.34573123063700656, 2.99595030590511}},
      {IR_OP_ERF, {-0.9953222650189527, -0.5204998778130465, 0, 0.5204998778130465, 0.9999779095030014}},
      {IR_OP_ABS, {2, 0.5, 0, 0.5, 3}},
      {IR_OP_SIGN, {-1, -1, 0, 1, 1}},
      {IR_OP_CAST, {-2, -0.5, 0, 0.5, 3}},
  };
  for (size_t c = 0; c < MC_COUNTOF(cases); c++) {
    Fx f;
    fx_init(&f);
    IrRef x = input(&f, "x", IR_F64, SHAPE(5));
    IrRef y = must(cases[c].op == IR_OP_CAST ? ir_cast(f.g, x, IR_F64, NOLOC)
                                             : ir_unary(f.g, cases[c].op, x, NOLOC));
    fx_eval(&f, true);
    fx_bind(&f, "x", xs, 5);
    fx_run(&f);
    expect_values(ir_eval_value(f.e, y), cases[c].want, 5, 1e-15);
    fx_fini(&f);
  }
}

static void test_eval_unary_ops_on_positive_domain(void) {
  static const double xs[3] = {0.25, 1, 4};
  static const UnaryCase cases[] = {
      {IR_OP_LOG, {-1.3862943611198906, 0, 1.3862943611198906}},
      {IR_OP_SQRT, {0.5, 1, 2}},
      {IR_OP_RSQRT, {2, 1, 0.5}},
  };
  for (size_t c = 0; c < MC_COUNTOF(cases); c++) {
    Fx f;
    fx_init(&f);
    IrRef x = input(&f, "x", IR_F64, SHAPE(3));
    IrRef y = must(ir_unary(f.g, cases[c].op, x, NOLOC));
    fx_eval(&f, false);
    fx_bind(&f, "x", xs, 3);
    fx_run(&f);
    expect_values(ir_eval_value(f.e, y), cases[c].want, 3, 1e-15);
    fx_fini(&f);
  }
}

/* a[3,1] op b[1,4]: each operand broadcasts along a different axis. */
static void test_eval_binary_broadcast_both_sides(void) {
  static const double a[3] = {1, 2, 3}, b[4] = {10, 20, 30, 40};
  Fx f;
  fx_init(&f);
  IrRef x = input(&f, "a", IR_F32, SHAPE(3, 1));
  IrRef y = input(&f, "b", IR_F32, SHAPE(1, 4));
  IrRef sub = must(ir_binary(f.g, IR_OP_SUB, x, y, NOLOC));
  IrRef sub_rev = must(ir_binary(f.g, IR_OP_SUB, y, x, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "a", a, 3);
  fx_bind(&f, "b", b, 4);
  fx_run(&f);
  const double want[12] = {-9, -19, -29, -39, -8, -18, -28, -38, -7, -17, -27, -37};
  double rev[12];
  for (int i = 0; i < 12; i++) rev[i] = -want[i];
  expect_dims(ir_eval_value(f.e, sub), 2, (int64_t[]){3, 4});
  expect_values(ir_eval_value(f.e, sub), want, 12, 0);
  expect_values(ir_eval_value(f.e, sub_rev), rev, 12, 0);
  fx_fini(&f);
}

/* Lower-rank operands are right-aligned, on either side; rank 0 broadcasts
   to everything. */
static void test_eval_binary_rank_mismatch_and_scalar(void) {
  static const double m[6] = {1, 2, 3, 4, 5, 6}, v[3] = {2, 4, 8};
  Fx f;
  fx_init(&f);
  IrRef x = input(&f, "m", IR_F32, SHAPE(2, 3));
  IrRef y = input(&f, "v", IR_F32, SHAPE(3));
  IrRef s = must(ir_const(f.g, 10, IR_F32, NOLOC));
  IrRef div = must(ir_binary(f.g, IR_OP_DIV, x, y, NOLOC));
  IrRef div_rev = must(ir_binary(f.g, IR_OP_DIV, y, x, NOLOC));
  IrRef from_scalar = must(ir_binary(f.g, IR_OP_SUB, s, x, NOLOC));
  IrRef scalar_only = must(ir_binary(f.g, IR_OP_MUL, s, s, NOLOC));
  fx_eval(&f, true);
  fx_bind(&f, "m", m, 6);
  fx_bind(&f, "v", v, 3);
  fx_run(&f);
  expect_values(ir_eval_value(f.e, div), (double[]){0.5, 0.5, 0.375, 2, 1.25, 0.75}, 6, 1e-15);
  expect_values(ir_eval_value(f.e, div_rev), (double[]){2, 2, 8 / 3.0, 0.5, 0.8, 8 / 6.0}, 6,
                1e-15);
  expect_values(ir_eval_value(f.e, from_scalar), (double[]){9, 8, 7, 6, 5, 4}, 6, 0);
  const IrTensor *sc = ir_eval_value(f.e, scalar_only);
  CU_ASSERT_EQUAL(sc->rank, 0);
  expect_values(sc, (double[]){100}, 1, 0);
  fx_fini(&f);
}

static void test_eval_binary_scalar_table(void) {
  static const double a[4] = {2, -3, 0.5, 4}, b[4] = {3, -3, 2, -1};
  static const struct {
    IrOp op;
    double want[4];
  } cases[] = {
      {IR_OP_ADD, {5, -6, 2.5, 3}},         {IR_OP_MUL, {6, 9, 1, -4}},
      {IR_OP_POW, {8, -1 / 27.0, 0.25, 0.25}}, {IR_OP_MAXIMUM, {3, -3, 2, 4}},
      {IR_OP_MINIMUM, {2, -3, 0.5, -1}},    {IR_OP_LT, {1, 0, 1, 0}},
      {IR_OP_LE, {1, 1, 1, 0}},             {IR_OP_GT, {0, 0, 0, 1}},
      {IR_OP_GE, {0, 1, 0, 1}},             {IR_OP_EQ, {0, 1, 0, 0}},
      {IR_OP_NE, {1, 0, 1, 1}},
  };
  for (size_t c = 0; c < MC_COUNTOF(cases); c++) {
    Fx f;
    fx_init(&f);
    IrRef x = input(&f, "a", IR_F32, SHAPE(4));
    IrRef y = input(&f, "b", IR_F32, SHAPE(4));
    IrRef z = must(ir_binary(f.g, cases[c].op, x, y, NOLOC));
    fx_eval(&f, true);
    fx_bind(&f, "a", a, 4);
    fx_bind(&f, "b", b, 4);
    fx_run(&f);
    expect_values(ir_eval_value(f.e, z), cases[c].want, 4, 1e-15);
    if (ir_ops[cases[c].op].flags & IR_F_CMP) CU_ASSERT_EQUAL(ir_eval_value(f.e, z)->dtype, IR_BOOL);
    fx_fini(&f);
  }
}

/* x[2,1,3,17] + y[4,1,17] -> [2,4,3,17] and y * z[17,1]... against index
   formulas, at odd sizes so no axis merges by accident. */
static void test_eval_broadcast_rank4_odd_sizes(void) {
  double x[2 * 3 * 17], y[4 * 17], z[3];
  fill_random(x, 2 * 3 * 17, 1);
  fill_random(y, 4 * 17, 2);
  fill_random(z, 3, 3);
  Fx f;
  fx_init(&f);
  IrRef X = input(&f, "x", IR_F64, SHAPE(2, 1, 3, 17));
  IrRef Y = input(&f, "y", IR_F64, SHAPE(4, 1, 17));
  IrRef Z = input(&f, "z", IR_F64, SHAPE(3, 1));
  IrRef sum = must(ir_binary(f.g, IR_OP_ADD, X, Y, NOLOC));
  IrRef prod = must(ir_binary(f.g, IR_OP_MUL, Y, Z, NOLOC));
  fx_eval(&f, true);
  fx_bind(&f, "x", x, 2 * 3 * 17);
  fx_bind(&f, "y", y, 4 * 17);
  fx_bind(&f, "z", z, 3);
  fx_run(&f);
  static double want_sum[2 * 4 * 3 * 17], want_prod[4 * 3 * 17];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 3; k++)
        for (int l = 0; l < 17; l++)
          want_sum[((i * 4 + j) * 3 + k) * 17 + l] = x[(i * 3 + k) * 17 + l] + y[j * 17 + l];
  for (int j = 0; j < 4; j++)
    for (int k = 0; k < 3; k++)
      for (int l = 0; l < 17; l++) want_prod[(j * 3 + k) * 17 + l] = y[j * 17 + l] * z[k];
  expect_dims(ir_eval_value(f.e, sum), 4, (int64_t[]){2, 4, 3, 17});
  expect_values(ir_eval_value(f.e, sum), want_sum, 2 * 4 * 3 * 17, 0);
  expect_dims(ir_eval_value(f.e, prod), 3, (int64_t[]){4, 3, 17});
  expect_values(ir_eval_value(f.e, prod), want_prod, 4 * 3 * 17, 0);
  fx_fini(&f);
}

static void test_eval_size_one_axes(void) {
  Fx f;
  fx_init(&f);
  IrRef x = input(&f, "x", IR_F32, SHAPE(1, 1));
  IrRef y = input(&f, "y", IR_F32, SHAPE(1, 3, 1));
  IrRef z = must(ir_binary(f.g, IR_OP_MUL, x, y, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", (double[]){-2}, 1);
  fx_bind(&f, "y", (double[]){1, 2, 3}, 3);
  fx_run(&f);
  expect_dims(ir_eval_value(f.e, z), 3, (int64_t[]){1, 3, 1});
  expect_values(ir_eval_value(f.e, z), (double[]){-2, -4, -6}, 3, 0);
  fx_fini(&f);
}

/* f32 mode rounds after each op; f64 mode keeps double whatever the dtype. */
static void test_eval_f32_rounding_vs_f64(void) {
  for (int mode = 0; mode < 2; mode++) {
    Fx f;
    fx_init(&f);
    IrRef x = input(&f, "x", IR_F32, SHAPE(2));
    IrRef one = must(ir_const(f.g, 1, IR_F32, NOLOC));
    IrRef y = must(ir_binary(f.g, IR_OP_ADD, x, one, NOLOC));
    IrRef d = must(ir_binary(f.g, IR_OP_SUB, y, one, NOLOC));
    fx_eval(&f, mode == 1);
    fx_bind(&f, "x", (double[]){1e-10, 0.1}, 2);
    fx_run(&f);
    const IrTensor *tx = ir_eval_value(f.e, x), *ty = ir_eval_value(f.e, y),
                   *td = ir_eval_value(f.e, d);
    if (mode == 0) {
      CU_ASSERT_EQUAL(tx->data[1], (double)0.1f); /* bound values are rounded too */
      CU_ASSERT_EQUAL(ty->data[0], 1.0);
      CU_ASSERT_EQUAL(td->data[0], 0.0);
      CU_ASSERT_EQUAL(ty->data[1], (double)(float)(1.0 + (double)0.1f));
    } else {
      CU_ASSERT_EQUAL(tx->data[1], 0.1);
      CU_ASSERT_NOT_EQUAL(ty->data[0], 1.0);
      CU_ASSERT_DOUBLE_EQUAL(td->data[0], 1e-10, 1e-16);
      CU_ASSERT_EQUAL(ty->data[1], 1.1);
    }
    fx_fini(&f);
  }
}

/* An f64 tensor is never rounded, in either mode. */
static void test_eval_f64_dtype_not_rounded_in_f32_mode(void) {
  Fx f;
  fx_init(&f);
  IrRef x = input(&f, "x", IR_F64, SHAPE(1));
  IrRef one = must(ir_const(f.g, 1, IR_F64, NOLOC));
  IrRef y = must(ir_binary(f.g, IR_OP_ADD, x, one, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", (double[]){1e-10}, 1);
  fx_run(&f);
  CU_ASSERT_EQUAL(ir_eval_value(f.e, y)->data[0], 1.0 + 1e-10);
  fx_fini(&f);
}

static void test_eval_cast_truncates_and_tests_nonzero(void) {
  Fx f;
  fx_init(&f);
  IrRef x = input(&f, "x", IR_F32, SHAPE(6));
  IrRef xi = must(ir_cast(f.g, x, IR_I32, NOLOC));
  IrRef xb = must(ir_cast(f.g, x, IR_BOOL, NOLOC));
  IrRef back = must(ir_cast(f.g, xb, IR_F32, NOLOC));
  IrRef one = must(ir_const(f.g, 1, IR_I32, NOLOC));
  IrRef isub = must(ir_binary(f.g, IR_OP_SUB, xi, one, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", (double[]){2.7, -2.7, 0.0, -5.5, 3e9, NAN}, 6);
  fx_run(&f);
  /* to i32: toward zero, saturating, NaN -> 0; to bool: nonzero (NaN too) */
  expect_values(ir_eval_value(f.e, xi), (double[]){2, -2, 0, -5, 2147483647, 0}, 6, 0);
  expect_values(ir_eval_value(f.e, xb), (double[]){1, 1, 0, 1, 1, 1}, 6, 0);
  expect_values(ir_eval_value(f.e, back), (double[]){1, 1, 0, 1, 1, 1}, 6, 0);
  expect_values(ir_eval_value(f.e, isub), (double[]){1, -3, -1, -6, 2147483646, -1}, 6, 0);
  CU_ASSERT_EQUAL(ir_eval_value(f.e, isub)->dtype, IR_I32);
  fx_fini(&f);
}

/* where(cond[3,1], a[1,4], b[]) broadcasts all three operands. */
static void test_eval_where_broadcasts_three_operands(void) {
  Fx f;
  fx_init(&f);
  IrRef c = input(&f, "c", IR_F32, SHAPE(3, 1));
  IrRef a = input(&f, "a", IR_F32, SHAPE(1, 4));
  IrRef zero = must(ir_const(f.g, 0, IR_F32, NOLOC));
  IrRef cond = must(ir_binary(f.g, IR_OP_GT, c, zero, NOLOC));
  IrRef minus = must(ir_const(f.g, -1, IR_F32, NOLOC));
  IrRef w = must(ir_where(f.g, cond, a, minus, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "c", (double[]){1, -1, 0.5}, 3);
  fx_bind(&f, "a", (double[]){1, 2, 3, 4}, 4);
  fx_run(&f);
  expect_values(ir_eval_value(f.e, w), (double[]){1, 2, 3, 4, -1, -1, -1, -1, 1, 2, 3, 4}, 12,
                0);
  fx_fini(&f);
}

/* ---- SOURCE ----------------------------------------------------------------- */

static void test_eval_iota_and_const(void) {
  Fx f;
  fx_init(&f);
  IrShape s = SHAPE(2, 3);
  IrRef cols = must(ir_iota(f.g, &s, 1, IR_I32, NOLOC));
  IrRef rows = must(ir_iota(f.g, &s, 0, IR_F32, NOLOC));
  IrRef c = must(ir_const(f.g, 0.1, IR_F32, NOLOC));
  fx_eval(&f, false);
  fx_run(&f);
  expect_values(ir_eval_value(f.e, cols), (double[]){0, 1, 2, 0, 1, 2}, 6, 0);
  expect_values(ir_eval_value(f.e, rows), (double[]){0, 0, 0, 1, 1, 1}, 6, 0);
  expect_values(ir_eval_value(f.e, c), (double[]){(double)0.1f}, 1, 0);
  CU_ASSERT_EQUAL(ir_eval_value(f.e, c)->rank, 0);
  fx_fini(&f);
}

/* ---- REDUCE ----------------------------------------------------------------- */

static void test_eval_reduce_axes_and_keepdims(void) {
  double x[24];
  for (int i = 0; i < 24; i++) x[i] = i;
  Fx f;
  fx_init(&f);
  IrRef X = input(&f, "x", IR_F32, SHAPE(2, 3, 4));
  IrRef s02k = must(ir_reduce(f.g, IR_OP_SUM, X, 1u | 4u, true, NOLOC));
  IrRef s02 = must(ir_reduce(f.g, IR_OP_SUM, X, 1u | 4u, false, NOLOC));
  IrRef m1 = must(ir_reduce(f.g, IR_OP_MAX, X, 2u, false, NOLOC));
  IrRef all = must(ir_reduce(f.g, IR_OP_SUM, X, 7u, false, NOLOC));
  IrRef last = must(ir_reduce(f.g, IR_OP_SUM, X, 4u, true, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", x, 24);
  fx_run(&f);
  /* sum over i, k of 12i + 4j + k = 8*4j + 4*12 + 2*6 */
  expect_dims(ir_eval_value(f.e, s02k), 3, (int64_t[]){1, 3, 1});
  expect_values(ir_eval_value(f.e, s02k), (double[]){60, 92, 124}, 3, 0);
  expect_dims(ir_eval_value(f.e, s02), 1, (int64_t[]){3});
  expect_values(ir_eval_value(f.e, s02), (double[]){60, 92, 124}, 3, 0);
  expect_dims(ir_eval_value(f.e, m1), 2, (int64_t[]){2, 4});
  expect_values(ir_eval_value(f.e, m1), (double[]){8, 9, 10, 11, 20, 21, 22, 23}, 8, 0);
  CU_ASSERT_EQUAL(ir_eval_value(f.e, all)->rank, 0);
  expect_values(ir_eval_value(f.e, all), (double[]){276}, 1, 0);
  expect_dims(ir_eval_value(f.e, last), 3, (int64_t[]){2, 3, 1});
  expect_values(ir_eval_value(f.e, last), (double[]){6, 22, 38, 54, 70, 86}, 6, 0);
  fx_fini(&f);
}

/* Max of negative numbers (the fold does not start at 0) and a middle axis of
   odd size against loops. */
static void test_eval_reduce_max_negative_and_middle_axis(void) {
  double x[3 * 17 * 5];
  fill_random(x, 3 * 17 * 5, 4);
  for (int i = 0; i < 3 * 17 * 5; i++) x[i] -= 2.0;
  Fx f;
  fx_init(&f);
  IrRef X = input(&f, "x", IR_F64, SHAPE(3, 17, 5));
  IrRef mx = must(ir_reduce(f.g, IR_OP_MAX, X, 1u | 4u, false, NOLOC));
  IrRef sm = must(ir_reduce(f.g, IR_OP_SUM, X, 2u, false, NOLOC));
  fx_eval(&f, true);
  fx_bind(&f, "x", x, 3 * 17 * 5);
  fx_run(&f);
  double want_max[17], want_sum[15];
  for (int j = 0; j < 17; j++) {
    want_max[j] = -INFINITY;
    for (int i = 0; i < 3; i++)
      for (int k = 0; k < 5; k++) want_max[j] = fmax(want_max[j], x[(i * 17 + j) * 5 + k]);
  }
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 5; k++) {
      want_sum[i * 5 + k] = 0;
      for (int j = 0; j < 17; j++) want_sum[i * 5 + k] += x[(i * 17 + j) * 5 + k];
    }
  CU_ASSERT(want_max[0] < 0);
  expect_values(ir_eval_value(f.e, mx), want_max, 17, 0);
  expect_values(ir_eval_value(f.e, sm), want_sum, 15, 1e-13);
  fx_fini(&f);
}

/* The max combiner is IEEE maximum: nan from either side, +0 above -0 in
   either order (so no fold order shows), -0 only from -0s. */
static void test_eval_max_combiner_zeros_and_nan(void) {
  CU_ASSERT(!signbit(ir_scalar(IR_OP_MAX, -0.0, 0.0, 0)));
  CU_ASSERT(!signbit(ir_scalar(IR_OP_MAX, 0.0, -0.0, 0)));
  CU_ASSERT(signbit(ir_scalar(IR_OP_MAX, -0.0, -0.0, 0)));
  CU_ASSERT(isnan(ir_scalar(IR_OP_MAX, NAN, 1.0, 0)));
  CU_ASSERT(isnan(ir_scalar(IR_OP_MAX, 1.0, NAN, 0)));
  CU_ASSERT_EQUAL(ir_scalar(IR_OP_MAX, -INFINITY, -3.0, 0), -3.0);
  CU_ASSERT_EQUAL(ir_scalar(IR_OP_MAX, 2.0, -3.0, 0), 2.0);
}

/* ---- CONTRACT --------------------------------------------------------------- */

/* c[b..., M, N] from a and b with broadcast batch dims, by a naive loop.
   abat/bbat give each result batch index's operand batch index. */
static void naive_matmul(const double *a, const double *b, double *c, int nb, const int *abat,
                         const int *bbat, int M, int K, int N) {
  for (int q = 0; q < nb; q++)
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += a[(abat[q] * M + i) * K + k] * b[(bbat[q] * K + k) * N + j];
        c[(q * M + i) * N + j] = s;
      }
}

static void test_eval_matmul_odd_sizes(void) {
  static const int sizes[3] = {1, 3, 17};
  for (int mi = 0; mi < 3; mi++)
    for (int ki = 0; ki < 3; ki++)
      for (int ni = 0; ni < 3; ni++) {
        int M = sizes[mi], K = sizes[ki], N = sizes[ni];
        double a[17 * 17], b[17 * 17], want[17 * 17];
        fill_random(a, M * K, 10);
        fill_random(b, K * N, 11);
        naive_matmul(a, b, want, 1, (int[]){0}, (int[]){0}, M, K, N);
        Fx f;
        fx_init(&f);
        IrRef A = input(&f, "a", IR_F32, SHAPE(M, K));
        IrRef B = input(&f, "b", IR_F32, SHAPE(K, N));
        IrRef C = must(ir_matmul(f.g, A, B, NOLOC));
        fx_eval(&f, true);
        fx_bind(&f, "a", a, M * K);
        fx_bind(&f, "b", b, K * N);
        fx_run(&f);
        expect_dims(ir_eval_value(f.e, C), 2, (int64_t[]){M, N});
        expect_values(ir_eval_value(f.e, C), want, M * N, 1e-13);
        fx_fini(&f);
      }
}

/* a[2,1,5,3] @ b[4,3,7] -> [2,4,5,7]: batch dims broadcast on both sides. */
static void test_eval_matmul_batched_broadcast(void) {
  enum { M = 5, K = 3, N = 7 };
  static double a[2 * M * K], b[4 * K * N], want[8 * M * N];
  fill_random(a, 2 * M * K, 12);
  fill_random(b, 4 * K * N, 13);
  int abat[8], bbat[8];
  for (int q = 0; q < 8; q++) {
    abat[q] = q / 4;
    bbat[q] = q % 4;
  }
  naive_matmul(a, b, want, 8, abat, bbat, M, K, N);
  Fx f;
  fx_init(&f);
  IrRef A = input(&f, "a", IR_F32, SHAPE(2, 1, M, K));
  IrRef B = input(&f, "b", IR_F32, SHAPE(4, K, N));
  IrRef C = must(ir_matmul(f.g, A, B, NOLOC));
  /* and one operand batched, the other a plain matrix */
  IrRef B0 = input(&f, "b0", IR_F32, SHAPE(K, N));
  IrRef C2 = must(ir_matmul(f.g, A, B0, NOLOC));
  fx_eval(&f, true);
  fx_bind(&f, "a", a, 2 * M * K);
  fx_bind(&f, "b", b, 4 * K * N);
  fx_bind(&f, "b0", b, K * N);
  fx_run(&f);
  expect_dims(ir_eval_value(f.e, C), 4, (int64_t[]){2, 4, M, N});
  expect_values(ir_eval_value(f.e, C), want, 8 * M * N, 1e-13);
  static double want2[2 * M * N];
  naive_matmul(a, b, want2, 2, (int[]){0, 1}, (int[]){0, 0}, M, K, N);
  expect_dims(ir_eval_value(f.e, C2), 4, (int64_t[]){2, 1, M, N});
  expect_values(ir_eval_value(f.e, C2), want2, 2 * M * N, 1e-13);
  fx_fini(&f);
}

/* f32 mode rounds the matmul result once (accumulation in double). */
static void test_eval_matmul_f32_result_is_float(void) {
  Fx f;
  fx_init(&f);
  IrRef A = input(&f, "a", IR_F32, SHAPE(1, 2));
  IrRef B = input(&f, "b", IR_F32, SHAPE(2, 1));
  IrRef C = must(ir_matmul(f.g, A, B, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "a", (double[]){1, 1}, 2);
  fx_bind(&f, "b", (double[]){1, 1e-10}, 2);
  fx_run(&f);
  CU_ASSERT_EQUAL(ir_eval_value(f.e, C)->data[0], 1.0);
  fx_fini(&f);
}

/* ---- MOVE ------------------------------------------------------------------- */

static void test_eval_reshape_and_permute(void) {
  double x[24];
  for (int i = 0; i < 24; i++) x[i] = i;
  Fx f;
  fx_init(&f);
  IrRef X = input(&f, "x", IR_F32, SHAPE(2, 3, 4));
  IrShape s = SHAPE(6, 4);
  IrRef r = must(ir_reshape(f.g, X, &s, NOLOC));
  IrRef p = must(ir_permute(f.g, X, (uint8_t[]){2, 0, 1}, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", x, 24);
  fx_run(&f);
  expect_dims(ir_eval_value(f.e, r), 2, (int64_t[]){6, 4});
  expect_values(ir_eval_value(f.e, r), x, 24, 0);
  /* result[a][b][c] = x[b][c][a] */
  double want[24];
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 2; b++)
      for (int c = 0; c < 3; c++) want[(a * 2 + b) * 3 + c] = x[(b * 3 + c) * 4 + a];
  expect_dims(ir_eval_value(f.e, p), 3, (int64_t[]){4, 2, 3});
  expect_values(ir_eval_value(f.e, p), want, 24, 0);
  fx_fini(&f);
}

static void test_eval_expand(void) {
  Fx f;
  fx_init(&f);
  IrRef X = input(&f, "x", IR_F32, SHAPE(3, 1));
  IrShape s = SHAPE(2, 3, 4);
  IrRef y = must(ir_expand(f.g, X, &s, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", (double[]){7, 8, 9}, 3);
  fx_run(&f);
  double want[24];
  for (int i = 0; i < 24; i++) want[i] = 7 + (i / 4) % 3;
  expect_dims(ir_eval_value(f.e, y), 3, (int64_t[]){2, 3, 4});
  expect_values(ir_eval_value(f.e, y), want, 24, 0);
  fx_fini(&f);
}

static void test_eval_slice_with_steps(void) {
  double x[30];
  for (int i = 0; i < 30; i++) x[i] = i;
  Fx f;
  fx_init(&f);
  IrRef X = input(&f, "x", IR_F32, SHAPE(5, 6));
  IrRef y = must(ir_slice(f.g, X, (int64_t[]){1, 0}, (int64_t[]){2, 3}, (int64_t[]){2, 2}, NOLOC));
  IrRef z = must(ir_slice(f.g, X, (int64_t[]){4, 5}, (int64_t[]){1, 1}, (int64_t[]){1, 1}, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", x, 30);
  fx_run(&f);
  expect_dims(ir_eval_value(f.e, y), 2, (int64_t[]){2, 2});
  expect_values(ir_eval_value(f.e, y), (double[]){6, 9, 18, 21}, 4, 0);
  expect_values(ir_eval_value(f.e, z), (double[]){29}, 1, 0);
  fx_fini(&f);
}

static void test_eval_pad(void) {
  Fx f;
  fx_init(&f);
  IrRef X = input(&f, "x", IR_F32, SHAPE(2, 2));
  IrRef y = must(ir_pad(f.g, X, (int64_t[]){1, 0}, (int64_t[]){0, 2}, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "x", (double[]){1, 2, 3, 4}, 4);
  fx_run(&f);
  expect_dims(ir_eval_value(f.e, y), 2, (int64_t[]){3, 4});
  expect_values(ir_eval_value(f.e, y), (double[]){0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}, 12, 0);
  fx_fini(&f);
}

static void test_eval_concat(void) {
  Fx f;
  fx_init(&f);
  IrRef a = input(&f, "a", IR_F32, SHAPE(2, 1));
  IrRef b = input(&f, "b", IR_F32, SHAPE(2, 3));
  IrRef c = input(&f, "c", IR_F32, SHAPE(2, 2));
  IrRef y = must(ir_concat(f.g, (IrRef[]){a, b, c}, 3, 1, NOLOC));
  IrRef z = must(ir_concat(f.g, (IrRef[]){b, b}, 2, 0, NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "a", (double[]){1, 2}, 2);
  fx_bind(&f, "b", (double[]){10, 11, 12, 20, 21, 22}, 6);
  fx_bind(&f, "c", (double[]){-1, -2, -3, -4}, 4);
  fx_run(&f);
  expect_dims(ir_eval_value(f.e, y), 2, (int64_t[]){2, 6});
  expect_values(ir_eval_value(f.e, y), (double[]){1, 10, 11, 12, -1, -2, 2, 20, 21, 22, -3, -4},
                12, 0);
  expect_values(ir_eval_value(f.e, z),
                (double[]){10, 11, 12, 20, 21, 22, 10, 11, 12, 20, 21, 22}, 12, 0);
  fx_fini(&f);
}

/* ---- INDEX ------------------------------------------------------------------- */

/* <gather(T, i), Y> == <T, scatter_add(Y, i)>, with repeated indices. */
static void test_eval_gather_scatter_adjoint(void) {
  static const double idx[8] = {0, 9, 3, 3, 7, 0, 1, 3};
  double t[30], y[24];
  fill_random(t, 30, 20);
  fill_random(y, 24, 21);
  Fx f;
  fx_init(&f);
  IrRef T = input(&f, "t", IR_F64, SHAPE(10, 3));
  IrRef I = input(&f, "i", IR_I32, SHAPE(2, 4));
  IrRef Y = input(&f, "y", IR_F64, SHAPE(2, 4, 3));
  IrRef G = must(ir_gather(f.g, T, I, NOLOC));
  IrRef S = must(ir_scatter_add(f.g, Y, I, ir_dim_const(10), NOLOC));
  fx_eval(&f, true);
  fx_bind(&f, "t", t, 30);
  fx_bind(&f, "i", idx, 8);
  fx_bind(&f, "y", y, 24);
  fx_run(&f);
  const IrTensor *g = ir_eval_value(f.e, G), *s = ir_eval_value(f.e, S);
  expect_dims(g, 3, (int64_t[]){2, 4, 3});
  expect_dims(s, 2, (int64_t[]){10, 3});
  for (int j = 0; j < 8; j++)
    for (int c = 0; c < 3; c++) CU_ASSERT_EQUAL(g->data[j * 3 + c], t[(int)idx[j] * 3 + c]);
  /* row 3 collects y rows 2, 3 and 7; row 5 nothing */
  CU_ASSERT_DOUBLE_EQUAL(s->data[3 * 3 + 1], y[2 * 3 + 1] + y[3 * 3 + 1] + y[7 * 3 + 1], 1e-15);
  CU_ASSERT_EQUAL(s->data[5 * 3 + 2], 0.0);
  double lhs = 0, rhs = 0;
  for (int i = 0; i < 24; i++) lhs += g->data[i] * y[i];
  for (int i = 0; i < 30; i++) rhs += t[i] * s->data[i];
  CU_ASSERT_DOUBLE_EQUAL(lhs, rhs, 1e-12);
  fx_fini(&f);
}

static void test_eval_gather_index_out_of_range(void) {
  Fx f;
  fx_init(&f);
  IrRef T = input(&f, "t", IR_F32, SHAPE(10, 2));
  IrRef I = input(&f, "i", IR_I32, SHAPE(3));
  must(ir_gather(f.g, T, I, NOLOC));
  fx_eval(&f, false);
  double t[20] = {0};
  fx_bind(&f, "t", t, 20);
  fx_bind(&f, "i", (double[]){1, 12, 0}, 3);
  CU_ASSERT_FALSE(ir_eval_run(f.e, &f.d));
  CU_ASSERT_STRING_EQUAL(f.d.buf.s,
                         "modelc: error: gather index 12 out of range [0, 10) at node %2\n");
  fx_fini(&f);
}

static void test_eval_scatter_index_out_of_range(void) {
  Fx f;
  fx_init(&f);
  IrRef Y = input(&f, "y", IR_F32, SHAPE(2, 2));
  IrRef I = input(&f, "i", IR_I32, SHAPE(2));
  must(ir_scatter_add(f.g, Y, I, ir_dim_const(4), NOLOC));
  fx_eval(&f, false);
  fx_bind(&f, "y", (double[]){1, 2, 3, 4}, 4);
  fx_bind(&f, "i", (double[]){3, -1}, 2);
  CU_ASSERT_FALSE(ir_eval_run(f.e, &f.d));
  CU_ASSERT_STRING_EQUAL(f.d.buf.s,
                         "modelc: error: scatter_add index -1 out of range [0, 4) at node %2\n");
  fx_fini(&f);
}

/* ---- bindings, outputs, diagnostics ------------------------------------------ */

static void test_eval_unbound_input_reports_at_its_loc(void) {
  McSources src;
  mc_sources_init(&src);
  const char *text = "in x: f32[2]\n";
  uint32_t file = mc_sources_add(&src, "m.model", text, strlen(text));
  McDiag d;
  mc_diag_init(&d, &src, NULL);
  IrGraph *g = ir_graph_new("t", &d);
  IrShape s = SHAPE(2);
  IrRef x = ir_input(g, "x", IR_F32, &s, (McLoc){file, 1, 4, 1});
  must(ir_unary(g, IR_OP_NEG, x, NOLOC));
  IrEval *e = ir_eval_new(g, false);
  CU_ASSERT_FALSE(ir_eval_run(e, &d));
  CU_ASSERT_STRING_EQUAL(d.buf.s,
                         "m.model:1:4: error: input 'x' is not bound\n"
                         "  in x: f32[2]\n"
                         "     ^\n");
  ir_eval_free(e);
  ir_graph_free(g);
  mc_diag_fini(&d);
  mc_sources_free(&src);
}

static void test_eval_bind_errors(void) {
  Fx f;
  fx_init(&f);
  input(&f, "x", IR_F32, SHAPE(2, 3));
  IrShape s = SHAPE(4);
  ir_param(f.g, "w", IR_F32, &s, (IrInit){IR_INIT_NONE, 0, 0, false}, NOLOC);
  fx_eval(&f, false);
  CU_ASSERT_FALSE(ir_eval_bind(f.e, "x", (double[]){1, 2, 3, 4, 5}, 5, &f.d));
  CU_ASSERT_FALSE(ir_eval_bind(f.e, "zz", (double[]){1}, 1, &f.d));
  CU_ASSERT_PTR_NULL(ir_eval_binding(f.e, "x"));
  ir_eval_init_params(f.e, 1); /* IR_INIT_NONE: left for the user to bind */
  CU_ASSERT_PTR_NULL(ir_eval_binding(f.e, "w"));
  fx_bind(&f, "x", (double[]){1, 2, 3, 4, 5, 6}, 6);
  CU_ASSERT_FALSE(ir_eval_run(f.e, &f.d));
  CU_ASSERT_STRING_EQUAL(f.d.buf.s,
                         "modelc: error: input 'x' has 6 elements, 5 given\n"
                         "modelc: error: no input or param named 'zz'\n"
                         "modelc: error: param 'w' is not bound\n");
  fx_fini(&f);
}

/* The gradient check perturbs a binding in place and runs again. */
static void test_eval_outputs_and_perturbed_binding(void) {
  Fx f;
  fx_init(&f);
  IrRef x = input(&f, "x", IR_F64, SHAPE(3));
  IrRef sq = must(ir_binary(f.g, IR_OP_MUL, x, x, NOLOC));
  IrRef loss = must(ir_reduce(f.g, IR_OP_SUM, sq, 1u, false, NOLOC));
  ir_add_output(f.g, IR_OUT_OUTPUT, "sq", sq);
  ir_add_output(f.g, IR_OUT_LOSS, "loss", loss);
  fx_eval(&f, true);
  fx_bind(&f, "x", (double[]){1, 2, 3}, 3);
  fx_run(&f);
  expect_values(ir_eval_output(f.e, IR_OUT_LOSS, "loss"), (double[]){14}, 1, 0);
  expect_values(ir_eval_output(f.e, IR_OUT_LOSS, NULL), (double[]){14}, 1, 0);
  expect_values(ir_eval_output(f.e, IR_OUT_OUTPUT, "sq"), (double[]){1, 4, 9}, 3, 0);
  CU_ASSERT_PTR_NULL(ir_eval_output(f.e, IR_OUT_OUTPUT, "nope"));
  CU_ASSERT_PTR_NULL(ir_eval_value(f.e, 1000));
  IrTensor *b = ir_eval_binding(f.e, "x");
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  b->data[2] += 1e-3;
  fx_run(&f);
  expect_values(ir_eval_output(f.e, IR_OUT_LOSS, "loss"), (double[]){14 + 6e-3 + 1e-6}, 1,
                1e-12);
  fx_fini(&f);
}

/* ---- initializers --------------------------------------------------------------- */

typedef struct Stats {
  double mean, std, min, max;
} Stats;

static Stats stats_of(const double *x, int64_t n) {
  Stats s = {0, 0, INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; i++) {
    s.mean += x[i];
    s.min = fmin(s.min, x[i]);
    s.max = fmax(s.max, x[i]);
  }
  s.mean /= (double)n;
  for (int64_t i = 0; i < n; i++) s.std += (x[i] - s.mean) * (x[i] - s.mean);
  s.std = sqrt(s.std / (double)n);
  return s;
}

typedef struct InitCase {
  IrInit init;
  int rank;
  int64_t dims[4];
  double mean, std;   /* expected */
  double lo, hi;      /* every value in [lo, hi]; lo > hi: unbounded */
} InitCase;

static void test_eval_init_statistics(void) {
  const double k5 = sqrt(2.0 / 6.0); /* kaiming gain with a = sqrt(5) */
  const InitCase cases[] = {
      {{IR_INIT_ZEROS, 0, 0, false}, 2, {256, 128}, 0, 0, 0, 0},
      {{IR_INIT_ONES, 0, 0, false}, 2, {256, 128}, 1, 0, 1, 1},
      {{IR_INIT_CONSTANT, 0.5, 0, false}, 1, {1000}, 0.5, 0, 0.5, 0.5},
      {{IR_INIT_NORMAL, 1, 2, false}, 2, {256, 128}, 1, 2, 1, 0},
      {{IR_INIT_UNIFORM, -1, 3, false}, 2, {256, 128}, 1, 4 / sqrt(12.0), -1, 3},
      {{IR_INIT_XAVIER_UNIFORM, 1, 0, false}, 2, {256, 128}, 0, 0.125 / sqrt(3.0), -0.125, 0.125},
      {{IR_INIT_XAVIER_NORMAL, 2, 0, false}, 2, {256, 128}, 0, 2 * sqrt(2.0 / 384), 1, 0},
      {{IR_INIT_XAVIER_UNIFORM, 1, 0, false}, 1, {4096}, 0, sqrt(6.0 / 8192) / sqrt(3.0),
       -sqrt(6.0 / 8192), sqrt(6.0 / 8192)},
      {{IR_INIT_KAIMING_UNIFORM, sqrt(5.0), 0, false}, 2, {256, 128}, 0, k5 / sqrt(128.0),
       -1 / sqrt(128.0), 1 / sqrt(128.0)},
      {{IR_INIT_KAIMING_UNIFORM, sqrt(5.0), 0, true}, 2, {256, 128}, 0, k5 / sqrt(256.0),
       -1 / sqrt(256.0), 1 / sqrt(256.0)},
      {{IR_INIT_KAIMING_NORMAL, 0, 0, false}, 2, {256, 128}, 0, sqrt(2.0 / 128), 1, 0},
      /* conv-shaped: receptive field 3*3, fan_in = 32*9, fan_out = 64*9 */
      {{IR_INIT_KAIMING_NORMAL, 0, 0, false}, 4, {64, 32, 3, 3}, 0, sqrt(2.0 / 288), 1, 0},
      {{IR_INIT_KAIMING_NORMAL, 0, 0, true}, 4, {64, 32, 3, 3}, 0, sqrt(2.0 / 576), 1, 0},
      {{IR_INIT_XAVIER_NORMAL, 1, 0, false}, 4, {64, 32, 3, 3}, 0, sqrt(2.0 / 864), 1, 0},
  };
  static double x[256 * 128];
  for (size_t c = 0; c < MC_COUNTOF(cases); c++) {
    const InitCase *ic = &cases[c];
    Fx f;
    fx_init(&f);
    IrShape s = make_shape(ic->rank, ic->dims);
    IrRef p = must(ir_param(f.g, "layer.weight", IR_F32, &s, ic->init, NOLOC));
    int64_t n = 1;
    for (int i = 0; i < ic->rank; i++) n *= ic->dims[i];
    ir_init_fill(f.g, ir_node(f.g, p), 42, x);
    Stats st = stats_of(x, n);
    double sd = ic->std > 0 ? ic->std : 1e-12;
    if (!(fabs(st.mean - ic->mean) <= 5 * sd / sqrt((double)n) + 1e-15) ||
        !(fabs(st.std - ic->std) <= 0.03 * ic->std + 1e-15))
      fprintf(stderr, "\n  case %zu: mean %g std %g (want %g, %g)\n", c, st.mean, st.std,
              ic->mean, ic->std);
    CU_ASSERT(fabs(st.mean - ic->mean) <= 5 * sd / sqrt((double)n) + 1e-15);
    CU_ASSERT(fabs(st.std - ic->std) <= 0.03 * ic->std + 1e-15);
    if (ic->lo <= ic->hi) {
      CU_ASSERT(st.min >= ic->lo && st.max <= ic->hi);
      if (ic->lo < ic->hi) /* the range is actually used */
        CU_ASSERT(st.min < ic->lo + 0.01 * (ic->hi - ic->lo) &&
                  st.max > ic->hi - 0.01 * (ic->hi - ic->lo));
    }
    fx_fini(&f);
  }
}

/* Values depend only on (seed, name, index), and the evaluator uses them. */
static void test_eval_init_deterministic_per_seed_and_name(void) {
  Fx f;
  fx_init(&f);
  IrShape s = SHAPE(16, 8);
  IrInit init = {IR_INIT_NORMAL, 0, 1, false};
  IrRef a = must(ir_param(f.g, "a.weight", IR_F32, &s, init, NOLOC));
  IrRef b = must(ir_param(f.g, "b.weight", IR_F32, &s, init, NOLOC));
  double x1[128], x2[128], x3[128], x4[128];
  ir_init_fill(f.g, ir_node(f.g, a), 7, x1);
  ir_init_fill(f.g, ir_node(f.g, a), 7, x2);
  ir_init_fill(f.g, ir_node(f.g, a), 8, x3);
  ir_init_fill(f.g, ir_node(f.g, b), 7, x4);
  CU_ASSERT_EQUAL(memcmp(x1, x2, sizeof x1), 0);
  int same_seed = 0, same_name = 0;
  for (int i = 0; i < 128; i++) {
    same_seed += x1[i] == x3[i];
    same_name += x1[i] == x4[i];
  }
  CU_ASSERT_EQUAL(same_seed, 0);
  CU_ASSERT_EQUAL(same_name, 0);

  IrRef sum = must(ir_binary(f.g, IR_OP_ADD, a, b, NOLOC));
  fx_eval(&f, false);
  ir_eval_init_params(f.e, 7);
  fx_run(&f);
  const IrTensor *ta = ir_eval_binding(f.e, "a.weight");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ta);
  for (int i = 0; i < 128; i++) CU_ASSERT_EQUAL(ta->data[i], (double)(float)x1[i]);
  CU_ASSERT_EQUAL(ir_eval_value(f.e, sum)->data[5], (double)((float)x1[5] + (float)x4[5]));
  /* a bound param is left alone by init_params */
  IrEval *e2 = ir_eval_new(f.g, false);
  double ones[128];
  for (int i = 0; i < 128; i++) ones[i] = 1;
  CU_ASSERT_FATAL(ir_eval_bind(e2, "b.weight", ones, 128, &f.d));
  ir_eval_init_params(e2, 7);
  CU_ASSERT_EQUAL(ir_eval_binding(e2, "b.weight")->data[3], 1.0);
  CU_ASSERT_EQUAL(ir_eval_binding(e2, "a.weight")->data[3], (double)(float)x1[3]);
  ir_eval_free(e2);
  fx_fini(&f);
}

/* ---- ir_int_input_bound ------------------------------------------------------------ */

static void test_eval_int_input_bound(void) {
  Fx f;
  fx_init(&f);
  IrRef tok = input(&f, "tokens", IR_I32, SHAPE(2, 5));
  IrRef lab = input(&f, "labels", IR_I32, SHAPE(6));
  IrRef both = input(&f, "both", IR_I32, SHAPE(6));
  IrRef unused = input(&f, "unused", IR_I32, SHAPE(6));
  IrShape es = SHAPE(10, 4);
  IrRef emb = must(ir_param(f.g, "emb", IR_F32, &es, (IrInit){IR_INIT_ZEROS, 0, 0, false}, NOLOC));
  /* tokens: flattened, then gathered from a 10-row table */
  IrShape flat = SHAPE(10);
  must(ir_gather(f.g, emb, must(ir_reshape(f.g, tok, &flat, NOLOC)), NOLOC));
  /* labels: one-hot against an iota of 7 classes, through reshape and casts */
  IrShape col = SHAPE(6, 1), grid = SHAPE(6, 7);
  IrRef labf = must(ir_cast(f.g, must(ir_reshape(f.g, lab, &col, NOLOC)), IR_F32, NOLOC));
  IrRef cls = must(ir_cast(f.g, must(ir_iota(f.g, &grid, 1, IR_I32, NOLOC)), IR_F32, NOLOC));
  must(ir_binary(f.g, IR_OP_EQ, cls, labf, NOLOC));
  /* both: gathered (10 rows) and compared with an iota of 7: the minimum */
  must(ir_gather(f.g, emb, both, NOLOC));
  IrRef both_col = must(ir_reshape(f.g, both, &col, NOLOC));
  must(ir_binary(f.g, IR_OP_NE, both_col, must(ir_iota(f.g, &grid, 1, IR_I32, NOLOC)), NOLOC));
  /* unused in any bounding way: only added to */
  must(ir_binary(f.g, IR_OP_ADD, unused, unused, NOLOC));
  CU_ASSERT_EQUAL(f.d.nerrors, 0);
  CU_ASSERT_EQUAL(ir_int_input_bound(f.g, tok), 10);
  CU_ASSERT_EQUAL(ir_int_input_bound(f.g, lab), 7);
  CU_ASSERT_EQUAL(ir_int_input_bound(f.g, both), 7);
  CU_ASSERT_EQUAL(ir_int_input_bound(f.g, unused), 0);
  CU_ASSERT_EQUAL(ir_int_input_bound(f.g, emb), 0);
  CU_ASSERT_EQUAL(ir_int_input_bound(f.g, 100000), 0);
  fx_fini(&f);
}

int main(void) {
  static const TestCase cases[] = {
      {"unary_ops", test_eval_unary_ops},
      {"unary_ops_on_positive_domain", test_eval_unary_ops_on_positive_domain},
      {"binary_broadcast_both_sides", test_eval_binary_broadcast_both_sides},
      {"binary_rank_mismatch_and_scalar", test_eval_binary_rank_mismatch_and_scalar},
      {"binary_scalar_table", test_eval_binary_scalar_table},
      {"broadcast_rank4_odd_sizes", test_eval_broadcast_rank4_odd_sizes},
      {"size_one_axes", test_eval_size_one_axes},
      {"f32_rounding_vs_f64", test_eval_f32_rounding_vs_f64},
      {"f64_dtype_not_rounded_in_f32_mode", test_eval_f64_dtype_not_rounded_in_f32_mode},
      {"cast_truncates_and_tests_nonzero", test_eval_cast_truncates_and_tests_nonzero},
      {"where_broadcasts_three_operands", test_eval_where_broadcasts_three_operands},
      {"iota_and_const", test_eval_iota_and_const},
      {"reduce_axes_and_keepdims", test_eval_reduce_axes_and_keepdims},
      {"reduce_max_negative_and_middle_axis", test_eval_reduce_max_negative_and_middle_axis},
      {"max_combiner_zeros_and_nan", test_eval_max_combiner_zeros_and_nan},
      {"matmul_odd_sizes", test_eval_matmul_odd_sizes},
      {"matmul_batched_broadcast", test_eval_matmul_batched_broadcast},
      {"matmul_f32_result_is_float", test_eval_matmul_f32_result_is_float},
      {"reshape_and_permute", test_eval_reshape_and_permute},
      {"expand", test_eval_expand},
      {"slice_with_steps", test_eval_slice_with_steps},
      {"pad", test_eval_pad},
      {"concat", test_eval_concat},
      {"gather_scatter_adjoint", test_eval_gather_scatter_adjoint},
      {"gather_index_out_of_range", test_eval_gather_index_out_of_range},
      {"scatter_index_out_of_range", test_eval_scatter_index_out_of_range},
      {"unbound_input_reports_at_its_loc", test_eval_unbound_input_reports_at_its_loc},
      {"bind_errors", test_eval_bind_errors},
      {"outputs_and_perturbed_binding", test_eval_outputs_and_perturbed_binding},
      {"init_statistics", test_eval_init_statistics},
      {"init_deterministic_per_seed_and_name", test_eval_init_deterministic_per_seed_and_name},
      {"int_input_bound", test_eval_int_input_bound},
  };
  return test_main("eval", cases, MC_COUNTOF(cases));
}
