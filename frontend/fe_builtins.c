/* fe_builtins.c -- the builtin functions of the language, one table row
   each (name, parameters, lowering). Composites (softmax, layer_norm,
   cross_entropy, ...) are built from IR primitives in their numerically
   stable forms; math functions also fold on compile-time numbers. */
#include <math.h>
#include <string.h>

#include "fe_int.h"

/* ---- argument checks: each reports "NAME expects ... for 'ARG', got ..." -- */

static const IrNode *node_of(FeLower *cx, IrRef r) { return ir_node(cx->g, r); }

static const char *type_str(FeLower *cx, IrRef r) {
  const IrNode *n = node_of(cx, r);
  return ir_type_str(cx->g, (IrDtype)n->dtype, &n->shape);
}

static int rank_of(FeLower *cx, IrRef r) { return node_of(cx, r)->shape.rank; }

static IrDtype dtype_of(FeLower *cx, IrRef r) { return (IrDtype)node_of(cx, r)->dtype; }

static const char *got(FeLower *cx, const FeValue *v) { return fe_value_str(cx, v); }

static bool want_tensor(FeLower *cx, const FeArgs *a, int i, IrRef *out) {
  const FeValue *v = &a->v[i];
  if (v->kind == FE_V_TENSOR) {
    *out = v->t;
    return true;
  }
  mc_error(cx->diag, a->at[i], "%s expects a tensor for '%s', got %s", a->callee, a->names[i],
           fe_value_kind(v));
  return false;
}

static bool want_float_tensor(FeLower *cx, const FeArgs *a, int i, IrRef *out) {
  if (!want_tensor(cx, a, i, out)) return false;
  if (ir_dtype_is_float(dtype_of(cx, *out))) return true;
  mc_error(cx->diag, a->at[i], "%s expects a float tensor for '%s', got %s%s", a->callee,
           a->names[i], type_str(cx, *out),
           dtype_of(cx, *out) == IR_BOOL ? "" : "; convert it with float(...)");
  return false;
}

static bool want_int(FeLower *cx, const FeArgs *a, int i, int64_t dflt, int64_t *out) {
  const FeValue *v = &a->v[i];
  if (!a->given[i]) {
    *out = dflt;
    return true;
  }
  if (v->kind == FE_V_INT) {
    *out = v->i;
    return true;
  }
  mc_error(cx->diag, a->at[i], "%s expects an integer for '%s', got %s", a->callee, a->names[i],
           got(cx, v));
  return false;
}

static bool want_number(FeLower *cx, const FeArgs *a, int i, double dflt, double *out) {
  if (!a->given[i]) {
    *out = dflt;
    return true;
  }
  if (fe_is_number(&a->v[i])) {
    *out = fe_number(&a->v[i]);
    return true;
  }
  mc_error(cx->diag, a->at[i], "%s expects a number for '%s', got %s", a->callee, a->names[i],
           fe_value_kind(&a->v[i]));
  return false;
}

/* Normalizes an axis of a rank-`rank` tensor (negative counts from the end). */
static bool norm_axis(FeLower *cx, const FeArgs *a, int i, int64_t axis, int rank, IrRef x,
                      int *out) {
  if (axis < -rank || axis >= rank) {
    mc_error(cx->diag, a->at[i], "%s: axis %lld is out of range for %s", a->callee,
             (long long)axis, type_str(cx, x));
    return false;
  }
  *out = (int)(axis < 0 ? axis + rank : axis);
  return true;
}

static bool want_axis(FeLower *cx, const FeArgs *a, int i, int64_t dflt, IrRef x, int *out) {
  int64_t axis;
  return want_int(cx, a, i, dflt, &axis) && norm_axis(cx, a, i, axis, rank_of(cx, x), x, out);
}

/* An integer or a list of integers, into out[0..*n). */
static bool want_ints(FeLower *cx, const FeArgs *a, int i, int64_t *out, int *n) {
  const FeValue *v = &a->v[i];
  if (v->kind == FE_V_INT) {
    out[0] = v->i;
    *n = 1;
    return true;
  }
  bool ok = v->kind == FE_V_LIST && v->n <= IR_MAX_RANK;
  for (int k = 0; ok && k < v->n; k++) ok = v->items[k].kind == FE_V_INT;
  if (!ok) {
    mc_error(cx->diag, a->at[i], "%s expects an integer or a list of at most %d integers for "
             "'%s', got %s", a->callee, IR_MAX_RANK, a->names[i], fe_value_kind(v));
    return false;
  }
  for (int k = 0; k < v->n; k++) out[k] = v->items[k].i;
  *n = v->n;
  return true;
}

/* The dims of a list argument (for shapes), keeping symbolic forms: -1 is
   returned as a dim with n == -1. */
static bool want_dims(FeLower *cx, const FeArgs *a, int i, IrDim *out, int *n) {
  const FeValue *v = &a->v[i];
  bool ok = v->kind == FE_V_LIST && v->n <= IR_MAX_RANK;
  for (int k = 0; ok && k < v->n; k++)
    ok = v->items[k].kind == FE_V_INT && (v->items[k].i >= 1 || v->items[k].i == -1);
  if (!ok) {
    mc_error(cx->diag, a->at[i],
             "%s expects a list of positive integers (and at most one -1) for '%s', got %s",
             a->callee, a->names[i], fe_value_kind(v));
    return false;
  }
  int holes = 0;
  for (int k = 0; k < v->n; k++) {
    const FeValue *d = &v->items[k];
    out[k] = d->i == -1 ? (IrDim){.n = -1} : d->dim.n == d->i ? d->dim : ir_dim_const(d->i);
    holes += d->i == -1;
  }
  if (holes > 1) {
    mc_error(cx->diag, a->at[i], "%s: only one dim may be -1", a->callee);
    return false;
  }
  *n = v->n;
  return true;
}

/* Fills a -1 in dims[0..n) so that their product is `total`. */
static bool infer_hole(FeLower *cx, const FeArgs *a, IrDim total, IrDim *dims, int n,
                       const char *what) {
  IrDim known = ir_dim_const(1);
  int hole = -1;
  for (int k = 0; k < n; k++) {
    if (dims[k].n == -1) hole = k;
    else known = ir_dim_mul(cx->g, known, dims[k]);
  }
  if (hole < 0) {
    if (known.n == total.n) return true;
    mc_error(cx->diag, a->loc, "%s: %s has %lld elements, the new dims %lld", a->callee, what,
             (long long)total.n, (long long)known.n);
    return false;
  }
  if (!ir_dim_div(cx->g, total, known, &dims[hole])) {
    mc_error(cx->diag, a->loc, "%s: %s has %lld elements, not divisible by %lld", a->callee, what,
             (long long)total.n, (long long)known.n);
    return false;
  }
  return true;
}

static IrDim dims_product(FeLower *cx, const IrShape *s, int from, int to) {
  IrDim p = ir_dim_const(1);
  for (int i = from; i < to; i++) p = ir_dim_mul(cx->g, p, s->d[i]);
  return p;
}

static IrRef const_of(FeLower *cx, double v, IrRef like, McLoc loc) {
  return ir_const(cx->g, v, dtype_of(cx, like), loc);
}

/* ---- elementwise -------------------------------------------------------------- */

typedef struct Unary {
  const char *name;
  IrOp op;
  double (*fold)(double);
} Unary;

static double relu_d(double x) { return x > 0 ? x : 0; }
static double gelu_d(double x) { return 0.5 * x * (1 + erf(x * 0.70710678118654752440)); }
static double sigmoid_d(double x) { return 1 / (1 + exp(-x)); }
static double rsqrt_d(double x) { return 1 / sqrt(x); }

static const Unary unaries[] = {
    {"relu", IR_OP_RELU, relu_d},   {"gelu", IR_OP_GELU, gelu_d}, {"tanh", IR_OP_TANH, tanh},
    {"sigmoid", IR_OP_SIGMOID, sigmoid_d}, {"exp", IR_OP_EXP, exp}, {"log", IR_OP_LOG, log},
    {"sqrt", IR_OP_SQRT, sqrt},     {"rsqrt", IR_OP_RSQRT, rsqrt_d}, {"abs", IR_OP_ABS, fabs},
    {"erf", IR_OP_ERF, erf},
};

static FeValue unary(FeLower *cx, FeArgs *a) {
  const Unary *u = NULL;
  for (size_t i = 0; i < MC_COUNTOF(unaries); i++)
    if (strcmp(unaries[i].name, a->callee) == 0) u = &unaries[i];
  const FeValue *v = &a->v[0];
  if (u->op == IR_OP_ABS && v->kind == FE_V_INT) return fe_int(v->i < 0 ? -v->i : v->i);
  if (fe_is_number(v)) return fe_float(u->fold(fe_number(v)));
  IrRef x;
  bool int_ok = u->op == IR_OP_ABS && v->kind == FE_V_TENSOR && dtype_of(cx, v->t) == IR_I32;
  if (!int_ok && !want_float_tensor(cx, a, 0, &x)) return fe_poison();
  return fe_tensor(ir_unary(cx->g, u->op, v->t, a->loc));
}

/* float(x): a number as a float, a tensor cast to f32. */
static FeValue to_float(FeLower *cx, FeArgs *a) {
  const FeValue *v = &a->v[0];
  if (fe_is_number(v)) return fe_float(fe_number(v));
  IrRef x;
  if (!want_tensor(cx, a, 0, &x)) return fe_poison();
  if (dtype_of(cx, x) == IR_F32) return *v;
  return fe_tensor(ir_cast(cx->g, x, IR_F32, a->loc));
}

static FeValue power(FeLower *cx, FeArgs *a) {
  return fe_binop(cx, FE_OP_POW, a->v[0], a->v[1], a->loc);
}

/* The dtype two operands share (numbers follow the tensor); false after
   reporting a mismatch. */
static bool common_dtype(FeLower *cx, const FeArgs *a, int i, int j, IrDtype *t) {
  const FeValue *x = &a->v[i], *y = &a->v[j];
  for (int k = 0; k < 2; k++) {
    const FeValue *v = k ? y : x;
    if (v->kind != FE_V_TENSOR && !fe_is_number(v)) {
      mc_error(cx->diag, a->at[k ? j : i], "%s expects a tensor or a number for '%s', got %s",
               a->callee, a->names[k ? j : i], fe_value_kind(v));
      return false;
    }
  }
  const FeValue *tv = x->kind == FE_V_TENSOR ? x : y->kind == FE_V_TENSOR ? y : NULL;
  *t = tv ? dtype_of(cx, tv->t) : IR_F32;
  if (x->kind == FE_V_TENSOR && y->kind == FE_V_TENSOR && dtype_of(cx, y->t) != *t) {
    mc_error(cx->diag, a->loc, "%s: operands have different types %s and %s", a->callee,
             type_str(cx, x->t), type_str(cx, y->t));
    return false;
  }
  const FeValue *nv = tv == x ? y : x;
  if (tv && *t == IR_I32 && nv->kind == FE_V_FLOAT) {
    mc_error(cx->diag, a->loc,
             "%s: cannot combine %s with the float %s; convert it with float(...)", a->callee,
             type_str(cx, tv->t), fe_value_str(cx, nv));
    return false;
  }
  if (*t == IR_BOOL) {
    mc_error(cx->diag, a->loc, "%s does not accept bool tensors", a->callee);
    return false;
  }
  return true;
}

static FeValue max_min(FeLower *cx, FeArgs *a, bool is_max) {
  const FeValue *x = &a->v[0], *y = &a->v[1];
  if (x->kind == FE_V_INT && y->kind == FE_V_INT)
    return fe_int(is_max ? (x->i > y->i ? x->i : y->i) : (x->i < y->i ? x->i : y->i));
  if (fe_is_number(x) && fe_is_number(y))
    return fe_float(is_max ? fmax(fe_number(x), fe_number(y)) : fmin(fe_number(x), fe_number(y)));
  IrDtype t;
  if (!common_dtype(cx, a, 0, 1, &t)) return fe_poison();
  IrRef p = fe_as_tensor(cx, x, t, a->loc), q = fe_as_tensor(cx, y, t, a->loc);
  return fe_tensor(ir_binary(cx->g, is_max ? IR_OP_MAXIMUM : IR_OP_MINIMUM, p, q, a->loc));
}

static FeValue maximum(FeLower *cx, FeArgs *a) { return max_min(cx, a, true); }
static FeValue minimum(FeLower *cx, FeArgs *a) { return max_min(cx, a, false); }

static FeValue where(FeLower *cx, FeArgs *a) {
  const FeValue *c = &a->v[0];
  if (fe_is_number(c)) return fe_number(c) != 0 ? a->v[1] : a->v[2];
  if (c->kind != FE_V_TENSOR || dtype_of(cx, c->t) != IR_BOOL) {
    mc_error(cx->diag, a->at[0], "where expects a condition such as x > 0 for 'cond', got %s",
             c->kind == FE_V_TENSOR ? type_str(cx, c->t) : fe_value_kind(c));
    return fe_poison();
  }
  IrDtype t;
  if (!common_dtype(cx, a, 1, 2, &t)) return fe_poison();
  IrRef p = fe_as_tensor(cx, &a->v[1], t, a->loc), q = fe_as_tensor(cx, &a->v[2], t, a->loc);
  return fe_tensor(ir_where(cx->g, c->t, p, q, a->loc));
}

/* ---- reductions ----------------------------------------------------------------- */

/* axis (an integer or a list; all axes when absent) as a bit mask. */
static bool want_axes(FeLower *cx, const FeArgs *a, int i, IrRef x, uint32_t *mask) {
  int rank = rank_of(cx, x);
  if (!a->given[i]) {
    *mask = rank ? (1u << rank) - 1 : 0;
    return true;
  }
  int64_t axes[IR_MAX_RANK];
  int n;
  if (!want_ints(cx, a, i, axes, &n)) return false;
  *mask = 0;
  for (int k = 0; k < n; k++) {
    int ax;
    if (!norm_axis(cx, a, i, axes[k], rank, x, &ax)) return false;
    if (*mask & (1u << ax)) {
      mc_error(cx->diag, a->at[i], "%s: axis %d is listed twice", a->callee, ax);
      return false;
    }
    *mask |= 1u << ax;
  }
  return true;
}

static IrRef reduce_to(FeLower *cx, IrOp op, IrRef x, uint32_t mask, bool keep, bool mean,
                       McLoc loc) {
  if (!mask) return x;
  IrRef r = ir_reduce(cx->g, op, x, mask, keep, loc);
  if (!mean || r == IR_NONE) return r;
  const IrShape shape_copy = node_of(cx, x)->shape, *s = &shape_copy;  /* builders may move nodes */
  double count = 1;
  for (int i = 0; i < s->rank; i++)
    if (mask & (1u << i)) count *= (double)s->d[i].n;
  return ir_binary(cx->g, IR_OP_DIV, r, const_of(cx, count, x, loc), loc);
}

static FeValue reduction(FeLower *cx, FeArgs *a, IrOp op, bool mean) {
  IrRef x;
  int64_t keep;
  uint32_t mask;
  bool ok = mean ? want_float_tensor(cx, a, 0, &x) : want_tensor(cx, a, 0, &x);
  if (!ok || !want_axes(cx, a, 1, x, &mask) || !want_int(cx, a, 2, 0, &keep)) return fe_poison();
  if (dtype_of(cx, x) == IR_BOOL) {
    mc_error(cx->diag, a->at[0], "%s does not accept %s; convert it with float(...)", a->callee,
             type_str(cx, x));
    return fe_poison();
  }
  return fe_tensor(reduce_to(cx, op, x, mask, keep != 0, mean, a->loc));
}

static FeValue sum(FeLower *cx, FeArgs *a) { return reduction(cx, a, IR_OP_SUM, false); }
static FeValue mean(FeLower *cx, FeArgs *a) { return reduction(cx, a, IR_OP_SUM, true); }
static FeValue max_(FeLower *cx, FeArgs *a) { return reduction(cx, a, IR_OP_MAX, false); }

/* ---- shapes ----------------------------------------------------------------------- */

static IrRef reshape_to(FeLower *cx, IrRef x, const IrDim *dims, int n, McLoc loc) {
  IrShape s = {.rank = (uint8_t)n};
  for (int i = 0; i < n; i++) s.d[i] = dims[i];
  return ir_reshape(cx->g, x, &s, loc);
}

static FeValue reshape(FeLower *cx, FeArgs *a) {
  IrRef x;
  IrDim dims[IR_MAX_RANK];
  int n;
  if (!want_tensor(cx, a, 0, &x) || !want_dims(cx, a, 1, dims, &n)) return fe_poison();
  const IrShape shape_copy = node_of(cx, x)->shape, *s = &shape_copy;  /* builders may move nodes */
  if (!infer_hole(cx, a, dims_product(cx, s, 0, s->rank), dims, n, type_str(cx, x)))
    return fe_poison();
  return fe_tensor(reshape_to(cx, x, dims, n, a->loc));
}

/* flatten(x, start=1, end=-1): merges axes start..end into one. */
static FeValue flatten(FeLower *cx, FeArgs *a) {
  IrRef x;
  int start, end;
  if (!want_tensor(cx, a, 0, &x) || !want_axis(cx, a, 1, 1, x, &start) ||
      !want_axis(cx, a, 2, -1, x, &end))
    return fe_poison();
  if (start > end) {
    mc_error(cx->diag, a->loc, "flatten: start axis %d is after end axis %d", start, end);
    return fe_poison();
  }
  const IrShape shape_copy = node_of(cx, x)->shape, *s = &shape_copy;  /* builders may move nodes */
  IrDim dims[IR_MAX_RANK];
  int n = 0;
  for (int i = 0; i < start; i++) dims[n++] = s->d[i];
  dims[n++] = dims_product(cx, s, start, end + 1);
  for (int i = end + 1; i < s->rank; i++) dims[n++] = s->d[i];
  return fe_tensor(reshape_to(cx, x, dims, n, a->loc));
}

/* unflatten(x, axis, [sizes]): splits one axis into several (-1 inferred). */
static FeValue unflatten(FeLower *cx, FeArgs *a) {
  IrRef x;
  int axis, k;
  IrDim sizes[IR_MAX_RANK];
  if (!want_tensor(cx, a, 0, &x) || !want_axis(cx, a, 1, 0, x, &axis) ||
      !want_dims(cx, a, 2, sizes, &k))
    return fe_poison();
  const IrShape shape_copy = node_of(cx, x)->shape, *s = &shape_copy;  /* builders may move nodes */
  if (s->rank - 1 + k > IR_MAX_RANK) {
    mc_error(cx->diag, a->loc, "unflatten: the result would have more than %d dims", IR_MAX_RANK);
    return fe_poison();
  }
  const char *what = mc_arena_printf(cx->arena, "axis %d of %s", axis, type_str(cx, x));
  if (!infer_hole(cx, a, s->d[axis], sizes, k, what)) return fe_poison();
  IrDim dims[IR_MAX_RANK];
  int n = 0;
  for (int i = 0; i < s->rank; i++) {
    if (i != axis) dims[n++] = s->d[i];
    else for (int j = 0; j < k; j++) dims[n++] = sizes[j];
  }
  return fe_tensor(reshape_to(cx, x, dims, n, a->loc));
}

static IrRef swap_axes(FeLower *cx, IrRef x, int p, int q, McLoc loc) {
  uint8_t perm[IR_MAX_RANK];
  for (int i = 0; i < IR_MAX_RANK; i++) perm[i] = (uint8_t)i;
  perm[p] = (uint8_t)q;
  perm[q] = (uint8_t)p;
  return ir_permute(cx->g, x, perm, loc);
}

/* transpose(x) swaps the last two axes; transpose(x, a, b) axes a and b. */
static FeValue transpose(FeLower *cx, FeArgs *a) {
  IrRef x;
  if (!want_tensor(cx, a, 0, &x)) return fe_poison();
  if (rank_of(cx, x) < 2 && !a->given[1]) {
    mc_error(cx->diag, a->loc, "transpose needs at least 2 dims, got %s", type_str(cx, x));
    return fe_poison();
  }
  int p, q;
  if (!want_axis(cx, a, 1, -2, x, &p) || !want_axis(cx, a, 2, -1, x, &q)) return fe_poison();
  if (p == q) return a->v[0];
  return fe_tensor(swap_axes(cx, x, p, q, a->loc));
}

static FeValue permute(FeLower *cx, FeArgs *a) {
  IrRef x;
  int64_t axes[IR_MAX_RANK];
  int n;
  if (!want_tensor(cx, a, 0, &x) || !want_ints(cx, a, 1, axes, &n)) return fe_poison();
  int rank = rank_of(cx, x);
  uint8_t perm[IR_MAX_RANK];
  uint32_t seen = 0;
  bool ok = n == rank;
  for (int i = 0; ok && i < n; i++) {
    int ax;
    ok = axes[i] >= -rank && axes[i] < rank;
    ax = ok ? (int)(axes[i] < 0 ? axes[i] + rank : axes[i]) : 0;
    ok = ok && !(seen & (1u << ax));
    seen |= 1u << ax;
    perm[i] = (uint8_t)ax;
  }
  if (!ok) {
    mc_error(cx->diag, a->at[1], "permute expects a permutation of the %d axes of %s", rank,
             type_str(cx, x));
    return fe_poison();
  }
  return fe_tensor(ir_permute(cx->g, x, perm, a->loc));
}

static FeValue unsqueeze(FeLower *cx, FeArgs *a) {
  IrRef x;
  int64_t axis;
  if (!want_tensor(cx, a, 0, &x) || !want_int(cx, a, 1, 0, &axis)) return fe_poison();
  const IrShape shape_copy = node_of(cx, x)->shape, *s = &shape_copy;  /* builders may move nodes */
  if (axis < -(s->rank + 1) || axis > s->rank || s->rank >= IR_MAX_RANK) {
    mc_error(cx->diag, a->at[1], "unsqueeze: axis %lld is out of range for %s", (long long)axis,
             type_str(cx, x));
    return fe_poison();
  }
  int at = (int)(axis < 0 ? axis + s->rank + 1 : axis);
  IrDim dims[IR_MAX_RANK];
  int n = 0;
  for (int i = 0; i <= s->rank; i++) {
    if (i == at) dims[n++] = ir_dim_const(1);
    if (i < s->rank) dims[n++] = s->d[i];
  }
  return fe_tensor(reshape_to(cx, x, dims, n, a->loc));
}

static FeValue concat(FeLower *cx, FeArgs *a) {
  const FeValue *l = &a->v[0];
  const FeValue *bad = l->kind == FE_V_LIST && l->n >= 1 ? NULL : l;
  for (int i = 0; !bad && i < l->n; i++)
    if (l->items[i].kind != FE_V_TENSOR) bad = &l->items[i];
  if (bad) {
    mc_error(cx->diag, a->at[0], "concat expects a list of tensors for 'xs', got %s%s",
             bad == l ? "" : "a list holding ", bad == l && l->kind == FE_V_LIST ? "an empty list"
                                                                              : fe_value_kind(bad));
    return fe_poison();
  }
  IrRef *xs = mc_arena_alloc(cx->arena, (size_t)l->n * sizeof *xs);
  for (int i = 0; i < l->n; i++) xs[i] = l->items[i].t;
  int axis;
  if (!want_axis(cx, a, 1, -1, xs[0], &axis)) return fe_poison();
  for (int i = 1; i < l->n; i++) {
    if (dtype_of(cx, xs[i]) != dtype_of(cx, xs[0])) {
      mc_error(cx->diag, a->at[0], "concat: tensors have different types %s and %s",
               type_str(cx, xs[0]), type_str(cx, xs[i]));
      return fe_poison();
    }
  }
  return fe_tensor(ir_concat(cx->g, xs, l->n, axis, a->loc));
}

/* split(x, N or [sizes], axis=-1): a list of slices along the axis. */
static FeValue split(FeLower *cx, FeArgs *a) {
  IrRef x;
  int axis;
  if (!want_tensor(cx, a, 0, &x) || !want_axis(cx, a, 2, -1, x, &axis)) return fe_poison();
  const IrShape shape_copy = node_of(cx, x)->shape, *s = &shape_copy;  /* builders may move nodes */
  int64_t n = s->d[axis].n, sizes[IR_MAX_RANK * 8];
  int parts = 0;
  const FeValue *sec = &a->v[1];
  if (sec->kind == FE_V_INT) {
    if (sec->i < 1 || sec->i > (int64_t)MC_COUNTOF(sizes) || n % sec->i != 0) {
      mc_error(cx->diag, a->at[1], "split: cannot split axis %d of %s into %lld equal parts", axis,
               type_str(cx, x), (long long)sec->i);
      return fe_poison();
    }
    parts = (int)sec->i;
    for (int i = 0; i < parts; i++) sizes[i] = n / sec->i;
  } else {
    bool ok = sec->kind == FE_V_LIST && sec->n >= 1 && sec->n <= (int)MC_COUNTOF(sizes);
    int64_t total = 0;
    for (int i = 0; ok && i < sec->n; i++) {
      ok = sec->items[i].kind == FE_V_INT && sec->items[i].i >= 1 &&
           !__builtin_add_overflow(total, sec->items[i].i, &total);
      sizes[i] = ok ? sec->items[i].i : 0;
    }
    if (!ok || total != n) {
      mc_error(cx->diag, a->at[1], "split expects a number of parts or a list of sizes adding up "
               "to %lld (axis %d of %s)", (long long)n, axis, type_str(cx, x));
      return fe_poison();
    }
    parts = sec->n;
  }
  FeValue r = {.kind = FE_V_LIST, .n = parts, .t = IR_NONE};
  r.items = mc_arena_alloc(cx->arena, (size_t)parts * sizeof *r.items);
  int64_t start[IR_MAX_RANK] = {0}, step[IR_MAX_RANK], count[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) {
    step[i] = 1;
    count[i] = s->d[i].n;
  }
  for (int p = 0; p < parts; p++) {
    count[axis] = sizes[p];
    r.items[p] = fe_tensor(parts == 1 ? x : ir_slice(cx->g, x, start, step, count, a->loc));
    if (r.items[p].kind == FE_V_POISON) return fe_poison();
    start[axis] += sizes[p];
  }
  return r;
}

/* ---- indexing and sources ------------------------------------------------------------ */

static FeValue gather(FeLower *cx, FeArgs *a) {
  IrRef table, idx;
  if (!want_tensor(cx, a, 0, &table) || !want_tensor(cx, a, 1, &idx)) return fe_poison();
  if (dtype_of(cx, idx) != IR_I32) {
    mc_error(cx->diag, a->at[1], "gather expects i32 indices for 'idx', got %s", type_str(cx, idx));
    return fe_poison();
  }
  return fe_tensor(ir_gather(cx->g, table, idx, a->loc));
}

static FeValue arange(FeLower *cx, FeArgs *a) {
  const FeValue *v = &a->v[0];
  if (v->kind != FE_V_INT || v->i < 1) {
    mc_error(cx->diag, a->at[0], "arange expects a positive integer for 'n', got %s", got(cx, v));
    return fe_poison();
  }
  IrShape s = {.rank = 1};
  s.d[0] = v->dim.n == v->i ? v->dim : ir_dim_const(v->i);
  return fe_tensor(ir_iota(cx->g, &s, 0, IR_I32, a->loc));
}

/* Keeps x where col <= row in the last two axes, `fill` elsewhere. */
static FeValue causal_mask(FeLower *cx, FeArgs *a) {
  IrRef x;
  double fill;
  if (!want_float_tensor(cx, a, 0, &x) || !want_number(cx, a, 1, -INFINITY, &fill))
    return fe_poison();
  const IrShape xshape = node_of(cx, x)->shape, *xs = &xshape;  /* builders may move nodes */
  if (xs->rank < 2) {
    mc_error(cx->diag, a->loc, "causal_mask needs at least 2 dims, got %s", type_str(cx, x));
    return fe_poison();
  }
  IrShape s = {.rank = 2, .d = {xs->d[xs->rank - 2], xs->d[xs->rank - 1]}};
  IrRef row = ir_iota(cx->g, &s, 0, IR_I32, a->loc);
  IrRef col = ir_iota(cx->g, &s, 1, IR_I32, a->loc);
  IrRef keep = ir_binary(cx->g, IR_OP_LE, col, row, a->loc);
  return fe_tensor(ir_where(cx->g, keep, x, const_of(cx, fill, x, a->loc), a->loc));
}

/* ---- composites --------------------------------------------------------------------- */

/* x - max(x, axis) with the axis kept: the stable input of exp. */
static IrRef shifted(FeLower *cx, IrRef x, int axis, McLoc loc) {
  IrRef m = ir_reduce(cx->g, IR_OP_MAX, x, 1u << axis, true, loc);
  return ir_binary(cx->g, IR_OP_SUB, x, m, loc);
}

static IrRef log_softmax_of(FeLower *cx, IrRef x, int axis, McLoc loc) {
  IrRef z = shifted(cx, x, axis, loc);
  IrRef s = ir_reduce(cx->g, IR_OP_SUM, ir_unary(cx->g, IR_OP_EXP, z, loc), 1u << axis, true, loc);
  return ir_binary(cx->g, IR_OP_SUB, z, ir_unary(cx->g, IR_OP_LOG, s, loc), loc);
}

static FeValue softmax(FeLower *cx, FeArgs *a) {
  IrRef x;
  int axis;
  if (!want_float_tensor(cx, a, 0, &x) || !want_axis(cx, a, 1, -1, x, &axis)) return fe_poison();
  IrRef e = ir_unary(cx->g, IR_OP_EXP, shifted(cx, x, axis, a->loc), a->loc);
  IrRef s = ir_reduce(cx->g, IR_OP_SUM, e, 1u << axis, true, a->loc);
  return fe_tensor(ir_binary(cx->g, IR_OP_DIV, e, s, a->loc));
}

static FeValue log_softmax(FeLower *cx, FeArgs *a) {
  IrRef x;
  int axis;
  if (!want_float_tensor(cx, a, 0, &x) || !want_axis(cx, a, 1, -1, x, &axis)) return fe_poison();
  return fe_tensor(log_softmax_of(cx, x, axis, a->loc));
}

/* (x - mean) / sqrt(var + eps) over the last axis, then * weight + bias. */
static FeValue layer_norm(FeLower *cx, FeArgs *a) {
  IrRef x, w = IR_NONE, b = IR_NONE;
  double eps;
  if (!want_float_tensor(cx, a, 0, &x) || (a->given[1] && !want_float_tensor(cx, a, 1, &w)) ||
      (a->given[2] && !want_float_tensor(cx, a, 2, &b)) || !want_number(cx, a, 3, 1e-5, &eps))
    return fe_poison();
  int last = rank_of(cx, x) - 1;
  if (last < 0) {
    mc_error(cx->diag, a->loc, "layer_norm needs at least 1 dim, got %s", type_str(cx, x));
    return fe_poison();
  }
  McLoc loc = a->loc;
  IrRef mu = reduce_to(cx, IR_OP_SUM, x, 1u << last, true, true, loc);
  IrRef xc = ir_binary(cx->g, IR_OP_SUB, x, mu, loc);
  IrRef var = reduce_to(cx, IR_OP_SUM, ir_binary(cx->g, IR_OP_MUL, xc, xc, loc), 1u << last, true,
                        true, loc);
  IrRef var_eps = ir_binary(cx->g, IR_OP_ADD, var, const_of(cx, eps, x, loc), loc);
  IrRef inv = ir_unary(cx->g, IR_OP_RSQRT, var_eps, loc);
  IrRef y = ir_binary(cx->g, IR_OP_MUL, xc, inv, loc);
  if (w != IR_NONE) y = ir_binary(cx->g, IR_OP_MUL, y, w, loc);
  if (b != IR_NONE) y = ir_binary(cx->g, IR_OP_ADD, y, b, loc);
  return fe_tensor(y);
}

/* mean((input - target)^2) over every element. */
static FeValue mse(FeLower *cx, FeArgs *a) {
  IrRef x, y;
  if (!want_float_tensor(cx, a, 0, &x) || !want_float_tensor(cx, a, 1, &y)) return fe_poison();
  IrRef d = ir_binary(cx->g, IR_OP_SUB, x, y, a->loc);
  if (d == IR_NONE) return fe_poison();
  IrRef sq = ir_binary(cx->g, IR_OP_MUL, d, d, a->loc);
  int rank = rank_of(cx, d);
  return fe_tensor(reduce_to(cx, IR_OP_SUM, sq, rank ? (1u << rank) - 1 : 0, false, true, a->loc));
}

/* -mean(log_softmax(logits)[..., label]): the label's entry is picked with a
   one-hot mask built from iota == label. */
static FeValue cross_entropy(FeLower *cx, FeArgs *a) {
  IrRef logits, labels;
  if (!want_float_tensor(cx, a, 0, &logits) || !want_tensor(cx, a, 1, &labels)) return fe_poison();
  /* Copies: building nodes below may move the node array. */
  const IrShape lshape = node_of(cx, logits)->shape, yshape = node_of(cx, labels)->shape;
  const IrShape *ls = &lshape, *ys = &yshape;
  bool ok = dtype_of(cx, labels) == IR_I32 && ls->rank >= 1 && ys->rank == ls->rank - 1;
  for (int i = 0; ok && i < ys->rank; i++) ok = ys->d[i].n == ls->d[i].n;
  if (!ok) {
    IrShape want = *ls;
    want.rank = ls->rank ? ls->rank - 1 : 0;
    mc_error(cx->diag, a->at[1], "cross_entropy expects labels of type %s for logits %s, got %s",
             ir_type_str(cx->g, IR_I32, &want), type_str(cx, logits), type_str(cx, labels));
    return fe_poison();
  }
  McLoc loc = a->loc;
  int last = ls->rank - 1;
  IrRef lsm = log_softmax_of(cx, logits, last, loc);
  IrRef iota = ir_iota(cx->g, ls, last, IR_I32, loc);
  IrShape col = *ys;
  col.d[col.rank++] = ir_dim_const(1);
  IrRef hit = ir_binary(cx->g, IR_OP_EQ, iota, ir_reshape(cx->g, labels, &col, loc), loc);
  IrRef picked = ir_where(cx->g, hit, lsm, const_of(cx, 0, logits, loc), loc);
  double n = 1;
  for (int i = 0; i < ys->rank; i++) n *= (double)ys->d[i].n;
  IrRef total = ir_reduce(cx->g, IR_OP_SUM, picked, (1u << ls->rank) - 1, false, loc);
  return fe_tensor(ir_binary(cx->g, IR_OP_MUL, total, const_of(cx, -1 / n, logits, loc), loc));
}

/* ---- convolution and pooling (NCHW, as torch.nn.functional) ------------------------ */

/* Window settings of a conv or pool over nsp spatial axes: each is an
   integer (the same on every axis) or a list of nsp integers. */
typedef struct Window {
  int nsp;
  int64_t k[IR_MAX_WIN], stride[IR_MAX_WIN], pad[IR_MAX_WIN], dil[IR_MAX_WIN];
} Window;

static bool want_per_axis(FeLower *cx, const FeArgs *a, int i, int nsp, int64_t dflt, int64_t lo,
                          int64_t *out) {
  if (!a->given[i]) {
    for (int k = 0; k < nsp; k++) out[k] = dflt;
    return true;
  }
  int64_t v[IR_MAX_RANK];
  int n;
  if (!want_ints(cx, a, i, v, &n)) return false;
  bool ok = n == 1 || n == nsp;
  for (int k = 0; ok && k < n; k++) ok = v[k] >= lo;
  if (!ok) {
    mc_error(cx->diag, a->at[i], "%s expects %s integer or a list of %d for '%s', got %s",
             a->callee, lo > 0 ? "a positive" : "a non-negative", nsp, a->names[i],
             got(cx, &a->v[i]));
    return false;
  }
  for (int k = 0; k < nsp; k++) out[k] = v[n == 1 ? 0 : k];
  return true;
}

/* "5x5" (or "5") from per-axis values, for messages. */
static const char *axes_str(FeLower *cx, const int64_t *v, int n) {
  McStr s;
  mc_str_init(&s);
  for (int i = 0; i < n; i++) mc_str_printf(&s, "%s%lld", i ? "x" : "", (long long)v[i]);
  const char *r = mc_arena_printf(cx->arena, "%s", s.s);
  mc_str_free(&s);
  return r;
}

/* x must be [N, C, spatial...]: rank 2 + nsp. */
static bool want_image(FeLower *cx, const FeArgs *a, int nsp, IrRef *x) {
  if (!want_float_tensor(cx, a, 0, x)) return false;
  if (rank_of(cx, *x) == 2 + nsp) return true;
  mc_error(cx->diag, a->at[0], "%s expects an input of rank %d ([N, C%s]), got %s", a->callee,
           2 + nsp, nsp == 1 ? ", L" : nsp == 2 ? ", H, W" : ", D, H, W", type_str(cx, *x));
  return false;
}

/* x padded with `fill` (zeros, or -inf for max pooling) on its spatial axes. */
static IrRef pad_spatial(FeLower *cx, IrRef x, const Window *w, double fill, McLoc loc) {
  int rank = rank_of(cx, x), lead = rank - w->nsp;
  int64_t before[IR_MAX_RANK] = {0}, after[IR_MAX_RANK] = {0};
  bool any = false;
  for (int i = 0; i < w->nsp; i++) {
    before[lead + i] = after[lead + i] = w->pad[i];
    any |= w->pad[i] > 0;
  }
  if (!any) return x;
  IrRef p = ir_pad(cx->g, x, before, after, loc);
  if (fill == 0 || p == IR_NONE) return p;
  /* pad fills with zeros: where the padding is, put fill instead */
  const IrShape xs = node_of(cx, x)->shape;
  IrRef ones = ir_expand(cx->g, const_of(cx, 1, x, loc), &xs, loc);
  IrRef inside = ir_binary(cx->g, IR_OP_GT, ir_pad(cx->g, ones, before, after, loc),
                           const_of(cx, 0.5, x, loc), loc);
  return ir_where(cx->g, inside, p, const_of(cx, fill, x, loc), loc);
}

static bool is_pool(const FeArgs *a) { return strstr(a->callee, "pool") != NULL; }

/* The windows of padded x: [N, C, K..., O...]; reports a kernel larger than
   the padded input, naming both. */
static IrRef windows_of(FeLower *cx, const FeArgs *a, IrRef x, IrRef xp, const Window *w) {
  const IrShape xs = node_of(cx, xp)->shape;
  int lead = xs.rank - w->nsp;
  int64_t span[IR_MAX_WIN], size[IR_MAX_WIN];
  for (int i = 0; i < w->nsp; i++) {
    span[i] = w->dil[i] * (w->k[i] - 1) + 1;
    size[i] = xs.d[lead + i].n;
  }
  bool dilated = false, padded = false;
  for (int i = 0; i < w->nsp; i++) dilated |= w->dil[i] > 1, padded |= w->pad[i] > 0;
  for (int i = 0; i < w->nsp; i++) {
    if (span[i] <= size[i]) continue;
    mc_error(cx->diag, a->loc, "%s: kernel %s%s%s is larger than input %s%s%s%s", a->callee,
             axes_str(cx, w->k, w->nsp), dilated ? " with dilation " : "",
             dilated ? axes_str(cx, w->dil, w->nsp) : "", type_str(cx, x),
             padded ? " padded to " : "", padded ? axes_str(cx, size, w->nsp) : "",
             !dilated && !padded && is_pool(a) ? " (no output)" : "");
    return IR_NONE;
  }
  return ir_unfold(cx->g, xp, w->nsp, w->k, w->stride, w->dil, a->loc);
}

/* conv1d/conv2d(x, weight, bias=, stride=1, padding=0, dilation=1, groups=1):
   im2col (unfold) and one matmul per group, weight [O, C/groups, K...]. */
static FeValue conv(FeLower *cx, FeArgs *a, int nsp) {
  IrRef x, wt, b = IR_NONE;
  Window w = {.nsp = nsp};
  int64_t groups;
  if (!want_image(cx, a, nsp, &x) || !want_float_tensor(cx, a, 1, &wt)) return fe_poison();
  bool has_bias = a->given[2] && !(fe_is_number(&a->v[2]) && fe_number(&a->v[2]) == 0);
  if ((has_bias && !want_float_tensor(cx, a, 2, &b)) ||
      !want_per_axis(cx, a, 3, nsp, 1, 1, w.stride) || !want_per_axis(cx, a, 4, nsp, 0, 0, w.pad) ||
      !want_per_axis(cx, a, 5, nsp, 1, 1, w.dil) || !want_int(cx, a, 6, 1, &groups))
    return fe_poison();
  const IrShape xs = node_of(cx, x)->shape, ws = node_of(cx, wt)->shape;
  McLoc loc = a->loc;
  if (ws.rank != 2 + nsp) {
    mc_error(cx->diag, a->at[1], "%s expects a weight of rank %d ([out, in / groups%s]), got %s",
             a->callee, 2 + nsp, nsp == 1 ? ", k" : ", kh, kw", type_str(cx, wt));
    return fe_poison();
  }
  int64_t c = xs.d[1].n, o = ws.d[0].n;
  if (groups < 1 || c % groups || o % groups) {
    mc_error(cx->diag, a->at[groups < 1 ? 6 : 0], "%s: groups %lld must divide the input's %lld "
             "channels (%s) and the weight's %lld outputs (%s)", a->callee, (long long)groups,
             (long long)c, type_str(cx, x), (long long)o, type_str(cx, wt));
    return fe_poison();
  }
  if (ws.d[1].n != c / groups) {
    mc_error(cx->diag, a->at[1], "%s: weight %s takes %lld input channels per group, but input "
             "%s has %lld channels in %lld group%s", a->callee, type_str(cx, wt),
             (long long)ws.d[1].n, type_str(cx, x), (long long)c, (long long)groups,
             groups == 1 ? "" : "s");
    return fe_poison();
  }
  if (b != IR_NONE && (rank_of(cx, b) != 1 || node_of(cx, b)->shape.d[0].n != o)) {
    mc_error(cx->diag, a->at[2], "%s expects a bias of type f32[%lld] for weight %s, got %s",
             a->callee, (long long)o, type_str(cx, wt), type_str(cx, b));
    return fe_poison();
  }
  for (int i = 0; i < nsp; i++) w.k[i] = ws.d[2 + i].n;
  IrRef cols = windows_of(cx, a, x, pad_spatial(cx, x, &w, 0, loc), &w);
  if (cols == IR_NONE) return fe_poison();
  const IrShape cs = node_of(cx, cols)->shape;   /* [N, C, K..., O...] */
  IrDim taps = ir_dim_const(c / groups), outs = ir_dim_const(1);
  for (int i = 0; i < nsp; i++) {
    taps = ir_dim_mul(cx->g, taps, cs.d[2 + i]);
    outs = ir_dim_mul(cx->g, outs, cs.d[2 + nsp + i]);
  }
  IrDim g = ir_dim_const(groups), og = ir_dim_const(o / groups);
  IrRef y;
  if (groups == 1) {   /* [O, taps] @ [N, taps, P] -> [N, O, P] */
    y = ir_matmul(cx->g, reshape_to(cx, wt, (IrDim[]){og, taps}, 2, loc),
                  reshape_to(cx, cols, (IrDim[]){cs.d[0], taps, outs}, 3, loc), loc);
  } else {             /* [G, O/G, taps] @ [N, G, taps, P] -> [N, G, O/G, P] */
    y = ir_matmul(cx->g, reshape_to(cx, wt, (IrDim[]){g, og, taps}, 3, loc),
                  reshape_to(cx, cols, (IrDim[]){cs.d[0], g, taps, outs}, 4, loc), loc);
  }
  IrDim dims[IR_MAX_RANK] = {cs.d[0], ir_dim_const(o)};
  for (int i = 0; i < nsp; i++) dims[2 + i] = cs.d[2 + nsp + i];
  y = reshape_to(cx, y, dims, 2 + nsp, loc);
  if (b != IR_NONE) {
    IrDim bd[IR_MAX_RANK] = {ir_dim_const(o)};
    for (int i = 0; i < nsp; i++) bd[1 + i] = ir_dim_const(1);
    y = ir_binary(cx->g, IR_OP_ADD, y, reshape_to(cx, b, bd, 1 + nsp, loc), loc);
  }
  return fe_tensor(y);
}

static FeValue conv1d(FeLower *cx, FeArgs *a) { return conv(cx, a, 1); }
static FeValue conv2d(FeLower *cx, FeArgs *a) { return conv(cx, a, 2); }

/* conv_group_channels(in_channels, out_channels, groups): in_channels /
   groups, the weight's second dim, after checking that groups divides both
   channel counts (the conv blocks' weight shape). */
static FeValue conv_group_channels(FeLower *cx, FeArgs *a) {
  int64_t in, out, groups;
  if (!want_int(cx, a, 0, 0, &in) || !want_int(cx, a, 1, 0, &out) || !want_int(cx, a, 2, 1, &groups))
    return fe_poison();
  if (in < 1 || out < 1 || groups < 1 || in % groups || out % groups) {
    mc_error(cx->diag, a->loc, "groups %lld must divide in_channels %lld and out_channels %lld",
             (long long)groups, (long long)in, (long long)out);
    return fe_poison();
  }
  return fe_int(in / groups);
}

/* The window of a pool: kernel_size, stride (0 or absent: the kernel), padding
   (at most half the kernel, as torch requires) and dilation. */
static bool want_pool_window(FeLower *cx, const FeArgs *a, int nsp, bool has_dil, Window *w) {
  w->nsp = nsp;
  if (!want_per_axis(cx, a, 1, nsp, 1, 1, w->k)) return false;
  if (!want_per_axis(cx, a, 2, nsp, 0, 0, w->stride)) return false;
  for (int i = 0; i < nsp; i++)   /* 0 (or absent): the kernel, as torch's stride=None */
    if (w->stride[i] == 0) w->stride[i] = w->k[i];
  if (!want_per_axis(cx, a, 3, nsp, 0, 0, w->pad)) return false;
  if (has_dil && !want_per_axis(cx, a, 4, nsp, 1, 1, w->dil)) return false;
  if (!has_dil) for (int i = 0; i < nsp; i++) w->dil[i] = 1;
  for (int i = 0; i < nsp; i++) {
    if (2 * w->pad[i] <= w->dil[i] * (w->k[i] - 1) + 1) continue;
    mc_error(cx->diag, a->at[3], "%s: padding %s must be at most half the kernel %s",
             a->callee, axes_str(cx, w->pad, nsp), axes_str(cx, w->k, nsp));
    return false;
  }
  return true;
}

/* The kernel axes of windows [N, C, K..., O...]. */
static uint32_t kernel_axes(int nsp) { return ((1u << nsp) - 1) << 2; }

/* max_pool2d(x, kernel_size, stride=kernel_size, padding=0, dilation=1):
   padding never wins (it is -inf). */
static FeValue max_pool2d(FeLower *cx, FeArgs *a) {
  IrRef x;
  Window w;
  if (!want_image(cx, a, 2, &x) || !want_pool_window(cx, a, 2, true, &w)) return fe_poison();
  IrRef win = windows_of(cx, a, x, pad_spatial(cx, x, &w, -INFINITY, a->loc), &w);
  if (win == IR_NONE) return fe_poison();
  return fe_tensor(ir_reduce(cx->g, IR_OP_MAX, win, kernel_axes(2), false, a->loc));
}

/* avg_pool2d(x, kernel_size, stride=kernel_size, padding=0,
   count_include_pad=1): with count_include_pad=0 a window divides by the
   number of its taps inside the input. */
static FeValue avg_pool2d(FeLower *cx, FeArgs *a) {
  IrRef x;
  Window w;
  int64_t include_pad;
  if (!want_image(cx, a, 2, &x) || !want_pool_window(cx, a, 2, false, &w) ||
      !want_int(cx, a, 4, 1, &include_pad))
    return fe_poison();
  McLoc loc = a->loc;
  IrRef win = windows_of(cx, a, x, pad_spatial(cx, x, &w, 0, loc), &w);
  if (win == IR_NONE) return fe_poison();
  IrRef total = ir_reduce(cx->g, IR_OP_SUM, win, kernel_axes(2), false, loc);
  if (include_pad || (w.pad[0] == 0 && w.pad[1] == 0))
    return fe_tensor(ir_binary(cx->g, IR_OP_DIV, total,
                               const_of(cx, (double)(w.k[0] * w.k[1]), x, loc), loc));
  const IrShape xs = node_of(cx, x)->shape;
  IrShape one = {.rank = 2, .d = {xs.d[2], xs.d[3]}};
  IrRef ones = ir_expand(cx->g, const_of(cx, 1, x, loc), &one, loc);
  int64_t before[2] = {w.pad[0], w.pad[1]};
  IrRef padded = ir_pad(cx->g, ones, before, before, loc);
  IrRef counts = ir_reduce(cx->g, IR_OP_SUM,
                           ir_unfold(cx->g, padded, 2, w.k, w.stride, w.dil, loc), 3, false, loc);
  return fe_tensor(ir_binary(cx->g, IR_OP_DIV, total, counts, loc));
}

/* Mean of x over the adaptive windows of one axis: window i covers
   [floor(i*S/O), ceil((i+1)*S/O)), as torch's adaptive pooling. */
static IrRef adaptive_mean_axis(FeLower *cx, IrRef x, int axis, int64_t out, McLoc loc) {
  const IrShape xs = node_of(cx, x)->shape;
  int64_t size = xs.d[axis].n;
  if (out == size) return x;
  IrRef parts[64];
  int64_t start[IR_MAX_RANK] = {0}, step[IR_MAX_RANK], count[IR_MAX_RANK];
  for (int i = 0; i < xs.rank; i++) step[i] = 1, count[i] = xs.d[i].n;
  for (int64_t i = 0; i < out; i++) {
    int64_t lo = i * size / out, hi = ((i + 1) * size + out - 1) / out;
    start[axis] = lo;
    count[axis] = hi - lo;
    IrRef part = ir_slice(cx->g, x, start, step, count, loc);
    parts[i] = reduce_to(cx, IR_OP_SUM, part, 1u << axis, true, true, loc);
  }
  return out == 1 ? parts[0] : ir_concat(cx->g, parts, (int)out, axis, loc);
}

/* adaptive_avg_pool2d(x, output_size): output_size an integer or [oh, ow]. */
static FeValue adaptive_avg_pool2d(FeLower *cx, FeArgs *a) {
  IrRef x;
  int64_t out[IR_MAX_WIN];
  if (!want_image(cx, a, 2, &x) || !want_per_axis(cx, a, 1, 2, 1, 1, out)) return fe_poison();
  const IrShape xs = node_of(cx, x)->shape;
  for (int i = 0; i < 2; i++) {
    if (out[i] <= 64 && out[i] <= xs.d[2 + i].n) continue;
    mc_error(cx->diag, a->at[1], "adaptive_avg_pool2d: output size %s does not fit in %s (at "
             "most the input's size and 64)", axes_str(cx, out, 2), type_str(cx, x));
    return fe_poison();
  }
  IrRef y = adaptive_mean_axis(cx, x, 2, out[0], a->loc);
  return fe_tensor(adaptive_mean_axis(cx, y, 3, out[1], a->loc));
}

/* ---- batch norm ------------------------------------------------------------------------ */

/* A buffer argument: a buffer param of type f32[C]. */
static bool want_buffer(FeLower *cx, const FeArgs *a, int i, int64_t c, IrRef *out) {
  if (!want_float_tensor(cx, a, i, out)) return false;
  const IrNode *n = node_of(cx, *out);
  if (n->op != IR_OP_PARAM || !n->attr.buffer) {
    mc_error(cx->diag, a->at[i], "%s expects a buffer for '%s' (declare it with `buffer "
             "NAME: f32[C] = ...`), got an expression of type %s", a->callee, a->names[i],
             type_str(cx, *out));
    return false;
  }
  if (n->shape.rank == 1 && n->shape.d[0].n == c) return true;
  mc_error(cx->diag, a->at[i], "%s expects a buffer of type f32[%lld] for '%s', got %s",
           a->callee, (long long)c, a->names[i], type_str(cx, *out));
  return false;
}

/* The value of `v` ([C]) shaped to broadcast along axis 1 of a rank-r input. */
static IrRef per_channel(FeLower *cx, IrRef v, int r, McLoc loc) {
  IrDim d[IR_MAX_RANK] = {node_of(cx, v)->shape.d[0]};
  for (int i = 1; i < r - 1; i++) d[i] = ir_dim_const(1);
  return reshape_to(cx, v, d, r - 1, loc);
}

/* running <- (1 - momentum) * running + momentum * value, as an update of the
   buffer that the training step stores back. */
static bool update_buffer(FeLower *cx, IrRef buf, IrRef value, double momentum, McLoc loc) {
  const char *name = node_of(cx, buf)->name;
  if (ir_find_output(cx->g, IR_OUT_UPDATE, name)) {
    mc_error(cx->diag, loc, "batch_norm: buffer '%s' is already updated by another batch_norm; "
             "use one batch_norm2d instance per call", name);
    return false;
  }
  IrRef kept = ir_binary(cx->g, IR_OP_MUL, buf, const_of(cx, 1 - momentum, buf, loc), loc);
  IrRef added = ir_binary(cx->g, IR_OP_MUL, value, const_of(cx, momentum, buf, loc), loc);
  IrRef next = ir_binary(cx->g, IR_OP_ADD, kept, added, loc);
  if (next == IR_NONE) return false;
  ir_add_output(cx->g, IR_OUT_UPDATE, name, next);
  return true;
}

/* batch_norm(x, running_mean, running_var, weight=, bias=, momentum=0.1,
   eps=1e-5) over axis 1 of x [N, C, ...]. Train mode: the batch's mean and
   biased variance normalize; the running statistics move towards the mean
   and the unbiased variance. Eval mode: the running statistics normalize,
   as one scale and shift per channel (scale = weight / sqrt(var + eps),
   shift = bias - mean * scale, computed on the [C] vectors), the way
   PyTorch's eval kernel applies them. */
static FeValue batch_norm(FeLower *cx, FeArgs *a) {
  IrRef x, rm, rv, w = IR_NONE, b = IR_NONE;
  double momentum, eps;
  if (!want_float_tensor(cx, a, 0, &x)) return fe_poison();
  int r = rank_of(cx, x);
  if (r < 2) {
    mc_error(cx->diag, a->at[0], "batch_norm expects an input [N, C, ...] of rank 2 or more, "
             "got %s", type_str(cx, x));
    return fe_poison();
  }
  const IrShape xs = node_of(cx, x)->shape;
  int64_t c = xs.d[1].n;
  if (!want_buffer(cx, a, 1, c, &rm) || !want_buffer(cx, a, 2, c, &rv) ||
      (a->given[3] && !want_float_tensor(cx, a, 3, &w)) ||
      (a->given[4] && !want_float_tensor(cx, a, 4, &b)) ||
      !want_number(cx, a, 5, 0.1, &momentum) || !want_number(cx, a, 6, 1e-5, &eps))
    return fe_poison();
  McLoc loc = a->loc;
  uint32_t axes = ((1u << r) - 1) & ~2u;
  if (cx->opts->mode == FE_MODE_EVAL) { /* as PyTorch's eval kernel: x * scale + shift */
    IrRef var_eps = ir_binary(cx->g, IR_OP_ADD, rv, const_of(cx, eps, x, loc), loc);
    IrRef scale = ir_unary(cx->g, IR_OP_RSQRT, var_eps, loc);
    if (w != IR_NONE) scale = ir_binary(cx->g, IR_OP_MUL, scale, w, loc);
    IrRef shift = ir_binary(cx->g, IR_OP_MUL, rm, scale, loc);
    shift = b != IR_NONE ? ir_binary(cx->g, IR_OP_SUB, b, shift, loc)
                         : ir_unary(cx->g, IR_OP_NEG, shift, loc);
    IrRef y = ir_binary(cx->g, IR_OP_MUL, x, per_channel(cx, scale, r, loc), loc);
    return fe_tensor(ir_binary(cx->g, IR_OP_ADD, y, per_channel(cx, shift, r, loc), loc));
  }
  double n = (double)(ir_shape_numel(&xs) / (c ? c : 1));
  if (n < 2) {
    mc_error(cx->diag, a->loc, "batch_norm: input %s has one value per channel; training "
             "needs more than one (a larger batch or eval mode)", type_str(cx, x));
    return fe_poison();
  }
  IrRef mean = reduce_to(cx, IR_OP_SUM, x, axes, true, true, loc);
  IrRef xc = ir_binary(cx->g, IR_OP_SUB, x, mean, loc);
  IrRef var = reduce_to(cx, IR_OP_SUM, ir_binary(cx->g, IR_OP_MUL, xc, xc, loc), axes, true,
                        true, loc);
  IrRef var_eps = ir_binary(cx->g, IR_OP_ADD, var, const_of(cx, eps, x, loc), loc);
  IrRef inv = ir_unary(cx->g, IR_OP_RSQRT, var_eps, loc);
  IrShape cs = {.rank = 1, .d = {xs.d[1]}};
  IrRef unbiased = ir_binary(cx->g, IR_OP_MUL, ir_reshape(cx->g, var, &cs, loc),
                             const_of(cx, n / (n - 1), x, loc), loc);
  if (!update_buffer(cx, rm, ir_reshape(cx->g, mean, &cs, loc), momentum, loc) ||
      !update_buffer(cx, rv, unbiased, momentum, loc))
    return fe_poison();
  IrRef y = ir_binary(cx->g, IR_OP_MUL, xc, inv, loc);
  if (w != IR_NONE) y = ir_binary(cx->g, IR_OP_MUL, y, per_channel(cx, w, r, loc), loc);
  if (b != IR_NONE) y = ir_binary(cx->g, IR_OP_ADD, y, per_channel(cx, b, r, loc), loc);
  return fe_tensor(y);
}

/* ---- dropout ---------------------------------------------------------------------------- */

#define RNG_STATE "rng_state"
#define HASH_RANGE 16777216.0   /* the hash op's values are integers in [0, 2^24) */

/* The model's random state: a scalar buffer drawn from the seed like any
   initializer, and moved on by every training step (an update output), so
   each step draws new masks and a checkpoint resumes the sequence. */
static IrRef rng_state(FeLower *cx, McLoc loc) {
  if (cx->rng != IR_NONE) return cx->rng;
  if (ir_find_param(cx->g, RNG_STATE) != IR_NONE || ir_find_input(cx->g, RNG_STATE) != IR_NONE) {
    mc_error(cx->diag, loc, "dropout needs the name '%s' for its random state, but the model "
             "uses it", RNG_STATE);
    return IR_NONE;
  }
  IrShape s = {0};
  IrInit init = {IR_INIT_UNIFORM, 0, HASH_RANGE, false};
  IrRef r = ir_param(cx->g, RNG_STATE, IR_F32, &s, init, loc);
  if (r == IR_NONE) return IR_NONE;
  ir_node(cx->g, r)->attr.frozen = ir_node(cx->g, r)->attr.buffer = true;
  IrRef next = ir_binary(cx->g, IR_OP_HASH, r, ir_const(cx->g, 0x5EED, IR_F32, loc), loc);
  ir_add_output(cx->g, IR_OUT_UPDATE, RNG_STATE, next);
  return cx->rng = r;
}

/* dropout(x, p=0.5): in train mode each element is zeroed with probability
   p and the rest scaled by 1 / (1 - p), as torch; in eval mode x itself.
   The mask hashes (state, call site, element coordinates). */
static FeValue dropout(FeLower *cx, FeArgs *a) {
  IrRef x;
  double p;
  if (!want_float_tensor(cx, a, 0, &x) || !want_number(cx, a, 1, 0.5, &p)) return fe_poison();
  if (!(p >= 0 && p <= 1)) {
    mc_error(cx->diag, a->at[1], "dropout: probability %g is not in [0, 1]", p);
    return fe_poison();
  }
  McLoc loc = a->loc;
  if (cx->opts->mode == FE_MODE_EVAL || p == 0) return a->v[0];
  if (p == 1) return fe_tensor(ir_binary(cx->g, IR_OP_MUL, x, const_of(cx, 0, x, loc), loc));
  IrRef state = rng_state(cx, loc);
  if (state == IR_NONE) return fe_poison();
  IrDtype t = dtype_of(cx, x);
  if (t != IR_F32) state = ir_cast(cx->g, state, t, loc);
  IrRef key = ir_binary(cx->g, IR_OP_HASH, state, ir_const(cx->g, cx->ndropout++, t, loc), loc);
  const IrShape xs = node_of(cx, x)->shape;
  for (int i = 0; i < xs.rank; i++)
    key = ir_binary(cx->g, IR_OP_HASH, key, ir_iota(cx->g, &xs, i, t, loc), loc);
  IrRef keep = ir_binary(cx->g, IR_OP_GE, key, const_of(cx, p * HASH_RANGE, x, loc), loc);
  IrRef scaled = ir_binary(cx->g, IR_OP_MUL, x, const_of(cx, 1 / (1 - p), x, loc), loc);
  return fe_tensor(ir_where(cx->g, keep, scaled, const_of(cx, 0, x, loc), loc));
}

/* ---- the table ------------------------------------------------------------------------ */

static const FeBuiltin builtins[] = {
    {"relu", "x", unary},          {"gelu", "x", unary},          {"tanh", "x", unary},
    {"sigmoid", "x", unary},       {"exp", "x", unary},           {"log", "x", unary},
    {"sqrt", "x", unary},          {"rsqrt", "x", unary},         {"abs", "x", unary},
    {"erf", "x", unary},           {"float", "x", to_float},      {"pow", "x, y", power},
    {"maximum", "a, b", maximum},  {"minimum", "a, b", minimum},
    {"where", "cond, a, b", where},
    {"sum", "x, axis=, keepdims=", sum},
    {"mean", "x, axis=, keepdims=", mean},
    {"max", "x, axis=, keepdims=", max_},
    {"reshape", "x, shape", reshape},
    {"flatten", "x, start=, end=", flatten},
    {"unflatten", "x, axis, sizes", unflatten},
    {"transpose", "x, dim0=, dim1=", transpose},
    {"permute", "x, dims", permute},
    {"unsqueeze", "x, axis", unsqueeze},
    {"concat", "xs, axis=", concat},
    {"split", "x, sections, axis=", split},
    {"gather", "table, idx", gather},
    {"arange", "n", arange},
    {"causal_mask", "x, fill=", causal_mask},
    {"softmax", "x, axis=", softmax},
    {"log_softmax", "x, axis=", log_softmax},
    {"layer_norm", "x, weight=, bias=, eps=", layer_norm},
    {"mse", "input, target", mse},
    {"cross_entropy", "logits, labels", cross_entropy},
    {"conv1d", "x, weight, bias=, stride=, padding=, dilation=, groups=", conv1d},
    {"conv2d", "x, weight, bias=, stride=, padding=, dilation=, groups=", conv2d},
    {"conv_group_channels", "in_channels, out_channels, groups", conv_group_channels},
    {"max_pool2d", "x, kernel_size, stride=, padding=, dilation=", max_pool2d},
    {"avg_pool2d", "x, kernel_size, stride=, padding=, count_include_pad=", avg_pool2d},
    {"adaptive_avg_pool2d", "x, output_size", adaptive_avg_pool2d},
    {"batch_norm", "x, running_mean, running_var, weight=, bias=, momentum=, eps=", batch_norm},
    {"dropout", "x, p=", dropout},
};

const FeBuiltin *fe_builtin_find(const char *name) {
  for (size_t i = 0; i < MC_COUNTOF(builtins); i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}

const char *fe_builtin_name(int i) {
  return i >= 0 && (size_t)i < MC_COUNTOF(builtins) ? builtins[i].name : NULL;
}
