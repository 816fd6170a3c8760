/* ir_shape.c -- one shape rule per op (ir_shape_<OP>, named by ir_ops.def).
   A rule checks a node's operands and attributes, sets its result shape and
   dtype (or validates a preset one), and reports a one-line error naming the
   op and the types involved: "cannot <op> <type> and <type>: <reason>".
   Rules read operand nodes and never allocate from the graph arena, so the
   verifier can run them on scratch copies of a const graph. */
#include <string.h>

#include "ir.h"

/* ---- message helpers -------------------------------------------------------- */

/* Scratch strings for one message; released by fail(). */
typedef struct Types {
  McStr s[6];
  int n;
} Types;

static const char *ty(Types *t, const IrGraph *g, int dtype, const IrShape *s) {
  MC_ASSERT(t->n < (int)MC_COUNTOF(t->s));
  McStr *b = &t->s[t->n++];
  mc_str_init(b);
  ir_shape_print(b, g, (IrDtype)dtype, s);
  return b->s;
}

static const char *tyn(Types *t, const IrGraph *g, const IrNode *n) {
  return ty(t, g, n->dtype, &n->shape);
}

/* A dim as the type printer writes it: "B*T", "2*B", "10". */
static const char *dimstr(Types *t, const IrGraph *g, IrDim d) {
  IrShape one = {.rank = 1, .d = {d}};
  const char *s = ty(t, g, IR_F32, &one);
  char *p = t->s[t->n - 1].s;
  size_t len = strlen(p);
  p[len - 1] = '\0';            /* drop ']' */
  return s + strlen("f32[");
}

static bool fail(const IrGraph *g, const IrNode *n, Types *t, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(const IrGraph *g, const IrNode *n, Types *t, const char *fmt, ...) {
  if (g->diag) {
    va_list ap;
    va_start(ap, fmt);
    mc_diag_vreport(g->diag, MC_DIAG_ERROR, n->loc, fmt, ap);
    va_end(ap);
  }
  for (int i = 0; i < t->n; i++) mc_str_free(&t->s[i]);
  t->n = 0;
  return false;
}

static const char *opname(const IrNode *n) { return ir_ops[n->op].name; }

static const IrNode *operand(const IrGraph *g, const IrNode *n, int i) {
  return &g->nodes[n->src[i]];
}

static bool is_numeric(int t) { return t == IR_F32 || t == IR_F64 || t == IR_I32; }

static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return INT64_MAX;
  return r;
}

/* ---- preset shapes ------------------------------------------------------------ */

/* A shape given by the caller: rank in range, dims non-negative, named dims
   that exist. */
static bool check_preset(const IrGraph *g, IrNode *n) {
  Types t = {0};
  if (n->shape.rank > IR_MAX_RANK)
    return fail(g, n, &t, "cannot %s: rank %d exceeds %d", opname(n), n->shape.rank,
                IR_MAX_RANK);
  if (n->dtype >= IR_DTYPE_COUNT) return fail(g, n, &t, "cannot %s: unknown dtype", opname(n));
  for (int i = 0; i < n->shape.rank; i++) {
    IrDim d = n->shape.d[i];
    if (g->nsyms < IR_MAX_SYMS && (d.syms >> g->nsyms))
      return fail(g, n, &t, "cannot %s: dim %d uses an undeclared named dim", opname(n), i);
    if (d.n < 0)
      return fail(g, n, &t, "cannot %s %s: dim %d is negative", opname(n), tyn(&t, g, n), i);
  }
  return true;
}

/* ---- broadcasting ------------------------------------------------------------- */

/* NumPy broadcasting by values. A result dim keeps the form of the non-1
   side (of the symbolic side when both are equal). On a clash *ca, *cb are
   the dims that do not broadcast. */
static bool bcast(const IrShape *a, const IrShape *b, IrShape *out, IrDim *ca, IrDim *cb) {
  int rank = a->rank > b->rank ? a->rank : b->rank;
  IrShape r = {.rank = (uint8_t)rank};
  for (int i = 0; i < rank; i++) {
    int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
    IrDim da = ia >= 0 ? a->d[ia] : ir_dim_const(1);
    IrDim db = ib >= 0 ? b->d[ib] : ir_dim_const(1);
    if (da.n == db.n)
      r.d[i] = (da.syms || !db.syms) ? da : db;
    else if (da.n == 1)
      r.d[i] = db;
    else if (db.n == 1)
      r.d[i] = da;
    else {
      *ca = da;
      *cb = db;
      return false;
    }
  }
  *out = r;
  return true;
}

/* ---- sources ------------------------------------------------------------------ */

static bool check_name(const IrGraph *g, IrNode *n) {
  Types t = {0};
  if (!n->name || !*n->name)
    return fail(g, n, &t, "cannot %s %s: missing name", opname(n), tyn(&t, g, n));
  return true;
}

bool ir_shape_INPUT(IrGraph *g, IrNode *n) {
  return check_preset(g, n) && check_name(g, n);
}

bool ir_shape_PARAM(IrGraph *g, IrNode *n) {
  Types t = {0};
  if (!check_preset(g, n) || !check_name(g, n)) return false;
  if (!ir_dtype_is_float(n->dtype))
    return fail(g, n, &t, "cannot param %s \"%s\": needs a float dtype", tyn(&t, g, n),
                n->name);
  if ((unsigned)n->attr.init.kind >= IR_INIT_COUNT)
    return fail(g, n, &t, "cannot param %s \"%s\": unknown initializer", tyn(&t, g, n),
                n->name);
  return true;
}

bool ir_shape_CONST(IrGraph *g, IrNode *n) {
  Types t = {0};
  if (!check_preset(g, n)) return false;
  if (n->shape.rank != 0)
    return fail(g, n, &t, "cannot const %s: rank must be 0", tyn(&t, g, n));
  return true;
}

bool ir_shape_IOTA(IrGraph *g, IrNode *n) {
  Types t = {0};
  if (!check_preset(g, n)) return false;
  if (n->dtype == IR_BOOL)
    return fail(g, n, &t, "cannot iota %s: needs an i32 or float dtype", tyn(&t, g, n));
  if (n->attr.axis < 0 || n->attr.axis >= n->shape.rank)
    return fail(g, n, &t, "cannot iota %s: axis %d out of range for rank %d", tyn(&t, g, n),
                n->attr.axis, n->shape.rank);
  return true;
}

/* ---- elementwise ----------------------------------------------------------------- */

/* int_ok: also accepts i32 (neg, abs). */
static bool unary(IrGraph *g, IrNode *n, bool int_ok) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  bool ok = int_ok ? is_numeric(x->dtype) : ir_dtype_is_float(x->dtype);
  if (!ok)
    return fail(g, n, &t, "cannot %s %s: needs a %s dtype", opname(n), tyn(&t, g, x),
                int_ok ? "numeric" : "float");
  n->shape = x->shape;
  n->dtype = x->dtype;
  return true;
}

/* int_ok: i32 accepted (add, sub, mul, maximum, minimum); comparisons accept
   every dtype and yield bool. */
static bool binary(IrGraph *g, IrNode *n, bool int_ok) {
  Types t = {0};
  const IrNode *a = operand(g, n, 0), *b = operand(g, n, 1);
  bool cmp = ir_ops[n->op].flags & IR_F_CMP;
  if (a->dtype != b->dtype)
    return fail(g, n, &t, "cannot %s %s and %s: dtypes differ", opname(n), tyn(&t, g, a),
                tyn(&t, g, b));
  bool ok = cmp || (int_ok ? is_numeric(a->dtype) : ir_dtype_is_float(a->dtype));
  if (!ok)
    return fail(g, n, &t, "cannot %s %s and %s: needs a %s dtype", opname(n), tyn(&t, g, a),
                tyn(&t, g, b), int_ok ? "numeric" : "float");
  IrDim ca, cb;
  if (!bcast(&a->shape, &b->shape, &n->shape, &ca, &cb))
    return fail(g, n, &t, "cannot %s %s and %s: dims %s and %s do not broadcast", opname(n),
                tyn(&t, g, a), tyn(&t, g, b), dimstr(&t, g, ca), dimstr(&t, g, cb));
  n->dtype = cmp ? IR_BOOL : a->dtype;
  return true;
}

bool ir_shape_NEG(IrGraph *g, IrNode *n) { return unary(g, n, true); }
bool ir_shape_PART_SUM(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_EXP(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_LOG(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_SQRT(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_RSQRT(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_TANH(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_SIGMOID(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_RELU(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_GELU(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_ERF(IrGraph *g, IrNode *n) { return unary(g, n, false); }
bool ir_shape_GELU_GRAD(IrGraph *g, IrNode *n) { return binary(g, n, false); }
bool ir_shape_ABS(IrGraph *g, IrNode *n) { return unary(g, n, true); }
bool ir_shape_SIGN(IrGraph *g, IrNode *n) { return unary(g, n, false); }

/* Any dtype to any: the target dtype is preset. */
bool ir_shape_CAST(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  if (n->dtype >= IR_DTYPE_COUNT)
    return fail(g, n, &t, "cannot cast %s: unknown dtype", tyn(&t, g, x));
  n->shape = x->shape;
  return true;
}

bool ir_shape_ADD(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_SUB(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_MUL(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_DIV(IrGraph *g, IrNode *n) { return binary(g, n, false); }
bool ir_shape_POW(IrGraph *g, IrNode *n) { return binary(g, n, false); }
bool ir_shape_MAXIMUM(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_MINIMUM(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_LT(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_LE(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_GT(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_GE(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_EQ(IrGraph *g, IrNode *n) { return binary(g, n, true); }
bool ir_shape_NE(IrGraph *g, IrNode *n) { return binary(g, n, true); }

/* where(cond, a, b): cond bool, a and b of one dtype, all three broadcast. */
bool ir_shape_HASH(IrGraph *g, IrNode *n) { return binary(g, n, false); }

bool ir_shape_WHERE(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *c = operand(g, n, 0), *a = operand(g, n, 1), *b = operand(g, n, 2);
  if (c->dtype != IR_BOOL)
    return fail(g, n, &t, "cannot where %s, %s and %s: condition must be bool",
                tyn(&t, g, c), tyn(&t, g, a), tyn(&t, g, b));
  if (a->dtype != b->dtype)
    return fail(g, n, &t, "cannot where %s, %s and %s: dtypes differ", tyn(&t, g, c),
                tyn(&t, g, a), tyn(&t, g, b));
  IrShape ab;
  IrDim ca, cb;
  if (!bcast(&a->shape, &b->shape, &ab, &ca, &cb) || !bcast(&c->shape, &ab, &n->shape, &ca, &cb))
    return fail(g, n, &t, "cannot where %s, %s and %s: dims %s and %s do not broadcast",
                tyn(&t, g, c), tyn(&t, g, a), tyn(&t, g, b), dimstr(&t, g, ca),
                dimstr(&t, g, cb));
  n->dtype = a->dtype;
  return true;
}

/* ---- reductions --------------------------------------------------------------- */

static bool reduce(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  uint32_t axes = n->attr.axes;
  if (!is_numeric(x->dtype))
    return fail(g, n, &t, "cannot %s %s: needs a numeric dtype", opname(n), tyn(&t, g, x));
  if (!axes) return fail(g, n, &t, "cannot %s %s: no axes to reduce", opname(n), tyn(&t, g, x));
  if (axes >> x->shape.rank) {
    int bad = x->shape.rank;
    while (!(axes & (1u << bad))) bad++;
    return fail(g, n, &t, "cannot %s %s: axis %d out of range for rank %d", opname(n),
                tyn(&t, g, x), bad, x->shape.rank);
  }
  IrShape r = {0};
  for (int i = 0; i < x->shape.rank; i++) {
    if (!(axes & (1u << i)))
      r.d[r.rank++] = x->shape.d[i];
    else if (n->attr.keepdims)
      r.d[r.rank++] = ir_dim_const(1);
  }
  n->shape = r;
  n->dtype = x->dtype;
  return true;
}

bool ir_shape_SUM(IrGraph *g, IrNode *n) { return reduce(g, n); }
bool ir_shape_MAX(IrGraph *g, IrNode *n) { return reduce(g, n); }

/* ---- contraction ----------------------------------------------------------------- */

/* [..., m, k] @ [..., k, n] -> [broadcast(...), m, n] */
bool ir_shape_MATMUL(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *a = operand(g, n, 0), *b = operand(g, n, 1);
  const IrShape *as = &a->shape, *bs = &b->shape;
  if (a->dtype != b->dtype)
    return fail(g, n, &t, "cannot matmul %s by %s: dtypes differ", tyn(&t, g, a), tyn(&t, g, b));
  if (!ir_dtype_is_float(a->dtype))
    return fail(g, n, &t, "cannot matmul %s by %s: needs a float dtype", tyn(&t, g, a),
                tyn(&t, g, b));
  if (as->rank < 2 || bs->rank < 2)
    return fail(g, n, &t, "cannot matmul %s by %s: operands need rank >= 2", tyn(&t, g, a),
                tyn(&t, g, b));
  IrDim k1 = as->d[as->rank - 1], k2 = bs->d[bs->rank - 2];
  if (k1.n != k2.n)
    return fail(g, n, &t, "cannot matmul %s by %s: inner dims %s and %s differ", tyn(&t, g, a),
                tyn(&t, g, b), dimstr(&t, g, k1), dimstr(&t, g, k2));
  IrShape ba = *as, bb = *bs, r;
  ba.rank -= 2;
  bb.rank -= 2;
  IrDim ca, cb;
  if (!bcast(&ba, &bb, &r, &ca, &cb))
    return fail(g, n, &t, "cannot matmul %s by %s: batch dims %s and %s do not broadcast",
                tyn(&t, g, a), tyn(&t, g, b), dimstr(&t, g, ca), dimstr(&t, g, cb));
  r.d[r.rank++] = as->d[as->rank - 2];
  r.d[r.rank++] = bs->d[bs->rank - 1];
  n->shape = r;
  n->dtype = a->dtype;
  return true;
}

/* ---- movement ---------------------------------------------------------------------- */

bool ir_shape_RESHAPE(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  n->dtype = x->dtype;
  if (!check_preset(g, n)) return false;
  int64_t from = ir_shape_numel(&x->shape), to = ir_shape_numel(&n->shape);
  if (from != to)
    return fail(g, n, &t, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                tyn(&t, g, x), (long long)from, tyn(&t, g, n), (long long)to);
  return true;
}

static const char *perm_str(Types *t, const uint8_t *perm, int rank) {
  MC_ASSERT(t->n < (int)MC_COUNTOF(t->s));
  McStr *b = &t->s[t->n++];
  mc_str_init(b);
  mc_str_putc(b, '[');
  for (int i = 0; i < rank; i++) mc_str_printf(b, "%s%d", i ? "," : "", perm[i]);
  mc_str_putc(b, ']');
  return b->s;
}

/* Result axis i is operand axis perm[i]. */
bool ir_shape_PERMUTE(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  int rank = x->shape.rank;
  uint32_t seen = 0;
  for (int i = 0; i < rank; i++) {
    int p = n->attr.perm[i];
    if (p >= rank || (seen & (1u << p)))
      return fail(g, n, &t, "cannot permute %s by perm=%s: not a permutation of 0..%d",
                  tyn(&t, g, x), perm_str(&t, n->attr.perm, rank), rank - 1);
    seen |= 1u << p;
  }
  IrShape r = {.rank = (uint8_t)rank};
  for (int i = 0; i < rank; i++) r.d[i] = x->shape.d[n->attr.perm[i]];
  n->shape = r;
  n->dtype = x->dtype;
  return true;
}

bool ir_shape_EXPAND(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  n->dtype = x->dtype;
  if (!check_preset(g, n)) return false;
  int xr = x->shape.rank, r = n->shape.rank;
  if (xr > r)
    return fail(g, n, &t, "cannot expand %s to %s: rank %d exceeds rank %d", tyn(&t, g, x),
                tyn(&t, g, n), xr, r);
  for (int i = 0; i < xr; i++) {
    IrDim from = x->shape.d[i], to = n->shape.d[i + r - xr];
    if (from.n != to.n && from.n != 1)
      return fail(g, n, &t, "cannot expand %s to %s: dims %s and %s do not broadcast",
                  tyn(&t, g, x), tyn(&t, g, n), dimstr(&t, g, from), dimstr(&t, g, to));
  }
  return true;
}

static bool same_rank(IrGraph *g, IrNode *n, const IrNode *x) {
  Types t = {0};
  if (x->shape.rank != n->shape.rank)
    return fail(g, n, &t, "cannot %s %s to %s: ranks %d and %d differ", opname(n),
                tyn(&t, g, x), tyn(&t, g, n), x->shape.rank, n->shape.rank);
  return true;
}

/* Result dim i holds count elements x[start + j*step], j < count; a negative
   step reads the axis backwards from start (step -1 from the end: a flip). */
bool ir_shape_SLICE(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  n->dtype = x->dtype;
  if (!check_preset(g, n) || !same_rank(g, n, x)) return false;
  for (int i = 0; i < x->shape.rank; i++) {
    int64_t start = n->attr.start[i], step = n->attr.step[i];
    int64_t count = n->shape.d[i].n, dim = x->shape.d[i].n;
    if (step == 0)
      return fail(g, n, &t, "cannot slice %s to %s: step 0 on axis %d", tyn(&t, g, x),
                  tyn(&t, g, n), i);
    if (start < 0)
      return fail(g, n, &t, "cannot slice %s to %s: start %lld on axis %d is negative",
                  tyn(&t, g, x), tyn(&t, g, n), (long long)start, i);
    int64_t last; /* the last index read; a negative step reads back from start */
    if (count == 0) last = step > 0 ? start - 1 : start;
    else if (__builtin_mul_overflow(step, count - 1, &last) ||
             __builtin_add_overflow(last, start, &last))
      last = INT64_MAX;
    bool outside = step > 0 ? last >= dim || start > dim
                            : last < 0 || last == INT64_MAX || start >= dim + (count == 0);
    if (outside)
      return fail(g, n, &t,
                  "cannot slice %s to %s: axis %d (start %lld, step %lld) runs past dim %s",
                  tyn(&t, g, x), tyn(&t, g, n), i, (long long)start, (long long)step,
                  dimstr(&t, g, x->shape.d[i]));
  }
  return true;
}

/* attr.start[i] zeros before, the rest of the preset dim after. */
bool ir_shape_PAD(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *x = operand(g, n, 0);
  n->dtype = x->dtype;
  if (!check_preset(g, n) || !same_rank(g, n, x)) return false;
  for (int i = 0; i < x->shape.rank; i++) {
    int64_t before = n->attr.start[i], dim = x->shape.d[i].n;
    if (before < 0)
      return fail(g, n, &t, "cannot pad %s to %s: start %lld on axis %d is negative",
                  tyn(&t, g, x), tyn(&t, g, n), (long long)before, i);
    if (sat_add(before, dim) > n->shape.d[i].n)
      return fail(g, n, &t, "cannot pad %s to %s: axis %d needs at least %lld (start %lld + dim %s)",
                  tyn(&t, g, x), tyn(&t, g, n), i, (long long)sat_add(before, dim),
                  (long long)before, dimstr(&t, g, x->shape.d[i]));
  }
  return true;
}

/* unfold/fold: image [lead..., S...] and windows [lead..., K..., O...] agree
   on the lead dims, and every window fits: dil*(K-1) + stride*(O-1) < S. */
static bool check_windows(IrGraph *g, IrNode *n, const IrNode *img, const IrNode *win) {
  Types t = {0};
  int k = n->attr.nwin, lead = img->shape.rank - k;
  if (k < 1 || k > IR_MAX_WIN || lead < 0 || win->shape.rank != lead + 2 * k)
    return fail(g, n, &t, "cannot %s %s to %s: %d window axes do not fit these ranks",
                opname(n), tyn(&t, g, operand(g, n, 0)), tyn(&t, g, n), k);
  for (int i = 0; i < lead; i++)
    if (img->shape.d[i].n != win->shape.d[i].n)
      return fail(g, n, &t, "cannot %s %s to %s: dims %d differ", opname(n),
                  tyn(&t, g, operand(g, n, 0)), tyn(&t, g, n), i);
  for (int i = 0; i < k; i++) {
    int64_t s = img->shape.d[lead + i].n, kk = win->shape.d[lead + i].n;
    int64_t o = win->shape.d[lead + k + i].n, st = n->attr.wstride[i], dl = n->attr.wdilation[i];
    if (st < 1 || dl < 1)
      return fail(g, n, &t, "cannot %s %s: stride %lld and dilation %lld must be positive",
                  opname(n), tyn(&t, g, operand(g, n, 0)), (long long)st, (long long)dl);
    int64_t span = INT64_MAX, last;
    if (kk >= 1 && o >= 1 && !__builtin_mul_overflow(dl, kk - 1, &span) &&
        !__builtin_mul_overflow(st, o - 1, &last))
      span = sat_add(span, last);
    if (span >= s)
      return fail(g, n, &t, "cannot %s %s to %s: %lld windows of %lld (stride %lld, dilation "
                  "%lld) do not fit in dim %s", opname(n), tyn(&t, g, operand(g, n, 0)),
                  tyn(&t, g, n), (long long)o, (long long)kk, (long long)st, (long long)dl,
                  dimstr(&t, g, img->shape.d[lead + i]));
  }
  return true;
}

bool ir_shape_UNFOLD(IrGraph *g, IrNode *n) {
  const IrNode *x = operand(g, n, 0);
  n->dtype = x->dtype;
  return check_preset(g, n) && check_windows(g, n, x, n);
}

bool ir_shape_FOLD(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *y = operand(g, n, 0);
  n->dtype = y->dtype;
  if (!check_preset(g, n)) return false;
  if (!ir_dtype_is_float(y->dtype))
    return fail(g, n, &t, "cannot fold %s: needs a float dtype", tyn(&t, g, y));
  return check_windows(g, n, n, y);
}

/* The joined dim is symbolic when every part has the same named factors. */
static IrDim concat_dim(IrDim acc, IrDim d) {
  if (acc.syms && acc.syms == d.syms)
    return (IrDim){.n = sat_add(acc.n, d.n), .k = sat_add(acc.k, d.k), .syms = acc.syms};
  return ir_dim_const(sat_add(acc.n, d.n));
}

bool ir_shape_CONCAT(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *a = operand(g, n, 0);
  int axis = n->attr.axis, rank = a->shape.rank;
  if (axis < 0 || axis >= rank)
    return fail(g, n, &t, "cannot concat %s on axis %d: axis out of range for rank %d",
                tyn(&t, g, a), axis, rank);
  IrShape r = a->shape;
  for (int i = 1; i < n->nsrc; i++) {
    const IrNode *b = operand(g, n, i);
    if (b->dtype != a->dtype)
      return fail(g, n, &t, "cannot concat %s and %s: dtypes differ", tyn(&t, g, a),
                  tyn(&t, g, b));
    if (b->shape.rank != rank)
      return fail(g, n, &t, "cannot concat %s and %s: ranks %d and %d differ", tyn(&t, g, a),
                  tyn(&t, g, b), rank, b->shape.rank);
    for (int j = 0; j < rank; j++) {
      if (j == axis || a->shape.d[j].n == b->shape.d[j].n) continue;
      return fail(g, n, &t, "cannot concat %s and %s on axis %d: dims %s and %s differ",
                  tyn(&t, g, a), tyn(&t, g, b), axis, dimstr(&t, g, a->shape.d[j]),
                  dimstr(&t, g, b->shape.d[j]));
    }
    r.d[axis] = concat_dim(r.d[axis], b->shape.d[axis]);
  }
  n->shape = r;
  n->dtype = a->dtype;
  return true;
}

/* ---- indexing ---------------------------------------------------------------------- */

/* gather(table[V, r...], idx i32[s...]) -> [s..., r...] */
bool ir_shape_GATHER(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *tab = operand(g, n, 0), *idx = operand(g, n, 1);
  if (idx->dtype != IR_I32)
    return fail(g, n, &t, "cannot gather %s with %s: indices must be i32", tyn(&t, g, tab),
                tyn(&t, g, idx));
  if (tab->shape.rank < 1)
    return fail(g, n, &t, "cannot gather %s with %s: table needs rank >= 1", tyn(&t, g, tab),
                tyn(&t, g, idx));
  int rank = idx->shape.rank + tab->shape.rank - 1;
  if (rank > IR_MAX_RANK)
    return fail(g, n, &t, "cannot gather %s with %s: result rank %d exceeds %d",
                tyn(&t, g, tab), tyn(&t, g, idx), rank, IR_MAX_RANK);
  IrShape r = idx->shape;
  for (int i = 1; i < tab->shape.rank; i++) r.d[r.rank++] = tab->shape.d[i];
  n->shape = r;
  n->dtype = tab->dtype;
  return true;
}

/* scatter_add(src[s..., r...], idx i32[s...]) -> preset [rows, r...] */
bool ir_shape_SCATTER_ADD(IrGraph *g, IrNode *n) {
  Types t = {0};
  const IrNode *src = operand(g, n, 0), *idx = operand(g, n, 1);
  n->dtype = src->dtype;
  if (!check_preset(g, n)) return false;
  int sr = src->shape.rank, ir = idx->shape.rank;
  if (idx->dtype != IR_I32)
    return fail(g, n, &t, "cannot scatter_add %s with %s: indices must be i32",
                tyn(&t, g, src), tyn(&t, g, idx));
  if (ir > sr)
    return fail(g, n, &t, "cannot scatter_add %s with %s: index rank %d exceeds source rank %d",
                tyn(&t, g, src), tyn(&t, g, idx), ir, sr);
  for (int i = 0; i < ir; i++) {
    if (src->shape.d[i].n != idx->shape.d[i].n)
      return fail(g, n, &t, "cannot scatter_add %s with %s: dims %s and %s differ",
                  tyn(&t, g, src), tyn(&t, g, idx), dimstr(&t, g, src->shape.d[i]),
                  dimstr(&t, g, idx->shape.d[i]));
  }
  if (n->shape.rank != 1 + sr - ir)
    return fail(g, n, &t, "cannot scatter_add %s with %s to %s: result rank must be %d",
                tyn(&t, g, src), tyn(&t, g, idx), tyn(&t, g, n), 1 + sr - ir);
  for (int i = ir; i < sr; i++) {
    IrDim a = src->shape.d[i], b = n->shape.d[1 + i - ir];
    if (a.n != b.n)
      return fail(g, n, &t, "cannot scatter_add %s with %s to %s: dims %s and %s differ",
                  tyn(&t, g, src), tyn(&t, g, idx), tyn(&t, g, n), dimstr(&t, g, a),
                  dimstr(&t, g, b));
  }
  return true;
}
