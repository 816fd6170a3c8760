/* ir_grad.c -- one reverse-mode rule per op of ir_ops.def, tinygrad style:
   each rule appends a few builder calls computing dx[i] from dy. Rules only
   build what is asked for (dx[i] == IR_GRAD_WANTED on entry) and may leave
   dx[i] in the node's broadcast shape: pass_autodiff sums it back to the
   operand's shape and accumulates fan-out. Conventions at kinks: relu'(0) = 0,
   abs' = sign, max-reduce ties share dy evenly, maximum/minimum ties go to
   the first operand (as the scalar `a >= b ? a : b` does). */
#include "ir.h"

#define SQRT1_2 0.70710678118654752440      /* 1 / sqrt(2) */
#define TWO_OVER_SQRTPI 1.12837916709551257390 /* 2 / sqrt(pi) */
#define INV_SQRT_2PI 0.39894228040143267794    /* 1 / sqrt(2 pi) */

/* ---- small builder shorthands (every node gets the forward node's loc) --- */

static bool wants(const IrRef *dx, int i) { return dx[i] == IR_GRAD_WANTED; }

static IrRef un(IrGraph *g, IrOp op, IrRef x, McLoc loc) {
  return ir_unary(g, op, x, loc);
}

static IrRef sub(IrGraph *g, IrRef a, IrRef b, McLoc loc) {
  return ir_binary(g, IR_OP_SUB, a, b, loc);
}

static IrRef mul(IrGraph *g, IrRef a, IrRef b, McLoc loc) {
  return ir_binary(g, IR_OP_MUL, a, b, loc);
}

static IrRef divide(IrGraph *g, IrRef a, IrRef b, McLoc loc) {
  return ir_binary(g, IR_OP_DIV, a, b, loc);
}

/* x * c for a scalar constant c of x's dtype. */
static IrRef mulc(IrGraph *g, IrRef x, double c, McLoc loc) {
  if (x == IR_NONE) return IR_NONE;
  return mul(g, x, ir_const(g, c, (IrDtype)ir_node(g, x)->dtype, loc), loc);
}

/* c - x for a scalar constant c of x's dtype. */
static IrRef rsubc(IrGraph *g, double c, IrRef x, McLoc loc) {
  if (x == IR_NONE) return IR_NONE;
  return sub(g, ir_const(g, c, (IrDtype)ir_node(g, x)->dtype, loc), x, loc);
}

/* where(c, dy, 0) or where(c, 0, dy): dy routed to one side of a select. */
static IrRef route(IrGraph *g, IrRef c, IrRef dy, bool when_true, McLoc loc) {
  if (dy == IR_NONE) return IR_NONE;
  IrRef zero = ir_const(g, 0.0, (IrDtype)ir_node(g, dy)->dtype, loc);
  return when_true ? ir_where(g, c, dy, zero, loc) : ir_where(g, c, zero, dy, loc);
}

static void no_grads(const IrNode *n, IrRef *dx) {
  for (int i = 0; i < n->nsrc; i++) dx[i] = IR_NONE;
}

/* The operand shape with the reduced axes kept as size 1. */
static IrShape keepdims_shape(const IrShape *in, uint32_t axes) {
  IrShape s = *in;
  for (int i = 0; i < s.rank; i++)
    if (axes & (1u << i)) s.d[i] = ir_dim_const(1);
  return s;
}

/* A reduce node's value (or its cotangent) reshaped to keepdims form. */
static IrRef as_keepdims(IrGraph *g, const IrNode *n, IrRef v) {
  if (n->attr.keepdims || v == IR_NONE) return v;
  IrShape ks = keepdims_shape(&ir_node(g, n->src[0])->shape, n->attr.axes);
  return ir_reshape(g, v, &ks, n->loc);
}

/* Swaps the last two axes (matrix transpose, batched). */
static IrRef transpose(IrGraph *g, IrRef x, McLoc loc) {
  if (x == IR_NONE) return IR_NONE;
  int r = ir_node(g, x)->shape.rank;
  uint8_t perm[IR_MAX_RANK];
  for (int i = 0; i < r; i++) perm[i] = (uint8_t)i;
  perm[r - 2] = (uint8_t)(r - 1);
  perm[r - 1] = (uint8_t)(r - 2);
  return ir_permute(g, x, perm, loc);
}

/* x reshaped with one axis of size 1 inserted before axis `at`. */
static IrRef insert_unit_axis(IrGraph *g, IrRef x, int at, McLoc loc) {
  if (x == IR_NONE) return IR_NONE;
  IrShape s = ir_node(g, x)->shape;
  if (s.rank >= IR_MAX_RANK) {
    if (g->diag) mc_error(g->diag, loc, "gradient needs more than %d axes", IR_MAX_RANK);
    return IR_NONE;
  }
  for (int i = s.rank; i > at; i--) s.d[i] = s.d[i - 1];
  s.d[at] = ir_dim_const(1);
  s.rank++;
  return ir_reshape(g, x, &s, loc);
}

/* ---- sources and ops without a gradient ----------------------------------- */

void ir_grad_INPUT(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_PARAM(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_CONST(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_IOTA(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_SIGN(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_HASH(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_LT(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_LE(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_GT(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_GE(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_EQ(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}
void ir_grad_NE(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)dy;
  no_grads(ir_node(g, ref), dx);
}

/* ---- unary elementwise ---------------------------------------------------- */

void ir_grad_NEG(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  dx[0] = un(g, IR_OP_NEG, dy, ir_node(g, ref)->loc);
}

/* Every copy's value is the sum of all copies' shares: each share's
   gradient is the sum of all copies' gradients. */
void ir_grad_PART_SUM(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  dx[0] = un(g, IR_OP_PART_SUM, dy, ir_node(g, ref)->loc);
}

/* exp' = exp: reuse the node's own output. */
void ir_grad_EXP(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  dx[0] = mul(g, dy, ref, ir_node(g, ref)->loc);
}

void ir_grad_LOG(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  dx[0] = divide(g, dy, n.src[0], n.loc);
}

/* sqrt'(x) = 0.5 / sqrt(x) */
void ir_grad_SQRT(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  McLoc loc = ir_node(g, ref)->loc;
  dx[0] = divide(g, mulc(g, dy, 0.5, loc), ref, loc);
}

/* rsqrt'(x) = -0.5 * x^-1.5 = -0.5 * rsqrt(x) / x */
void ir_grad_RSQRT(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  dx[0] = divide(g, mulc(g, mul(g, dy, ref, n.loc), -0.5, n.loc), n.src[0], n.loc);
}

/* tanh' = 1 - tanh^2 */
void ir_grad_TANH(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  McLoc loc = ir_node(g, ref)->loc;
  dx[0] = mul(g, dy, rsubc(g, 1.0, mul(g, ref, ref, loc), loc), loc);
}

/* sigmoid' = s * (1 - s) */
void ir_grad_SIGMOID(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  McLoc loc = ir_node(g, ref)->loc;
  dx[0] = mul(g, mul(g, dy, ref, loc), rsubc(g, 1.0, ref, loc), loc);
}

/* relu'(x) = x > 0 (so relu'(0) = 0), read off the result: relu(x) > 0
   exactly where x > 0 (nan: neither), so training keeps the activation
   alone, not the pre-activation too (one buffer per layer less to write
   and hold until the backward pass). */
void ir_grad_RELU(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrRef pos = ir_binary(g, IR_OP_GT, ref, ir_const(g, 0.0, n.dtype, n.loc), n.loc);
  dx[0] = route(g, pos, dy, true, n.loc);
}

/* gelu(x) = x * Phi(x), so gelu'(x) = Phi(x) + x * phi(x) with
   Phi(x) = (1 + erf(x / sqrt 2)) / 2 and phi(x) = exp(-x^2 / 2) / sqrt(2 pi):
   dx = gelu_grad(x, dy). */
void ir_grad_GELU(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  dx[0] = ir_binary(g, IR_OP_GELU_GRAD, n.src[0], dy, n.loc);
}

/* y = u gelu'(x): dx = dy u gelu''(x), with gelu''(x) = 2 phi(x) - x^2 phi(x)
   = phi(x) (2 - x^2); du = gelu_grad(x, dy) */
void ir_grad_GELU_GRAD(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrRef x = n.src[0], u = n.src[1];
  if (wants(dx, 0)) {
    IrRef x2 = mul(g, x, x, n.loc);
    IrRef pdf = mulc(g, un(g, IR_OP_EXP, mulc(g, x2, -0.5, n.loc), n.loc), INV_SQRT_2PI, n.loc);
    dx[0] = mul(g, mul(g, dy, u, n.loc), mul(g, pdf, rsubc(g, 2.0, x2, n.loc), n.loc), n.loc);
  }
  if (wants(dx, 1)) dx[1] = ir_binary(g, IR_OP_GELU_GRAD, x, dy, n.loc);
}

/* erf'(x) = 2 / sqrt(pi) * exp(-x^2) */
void ir_grad_ERF(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrRef e = un(g, IR_OP_EXP, mulc(g, mul(g, n.src[0], n.src[0], n.loc), -1.0, n.loc), n.loc);
  dx[0] = mul(g, dy, mulc(g, e, TWO_OVER_SQRTPI, n.loc), n.loc);
}

/* abs'(x) = sign(x) (0 at 0) */
void ir_grad_ABS(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  dx[0] = mul(g, dy, un(g, IR_OP_SIGN, n.src[0], n.loc), n.loc);
}

/* Float-to-float casts pass dy back in the operand's dtype; nothing flows
   into an integer or bool operand. */
void ir_grad_CAST(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrDtype from = (IrDtype)ir_node(g, n.src[0])->dtype;
  if (!ir_dtype_is_float(from) || !ir_dtype_is_float((IrDtype)n.dtype)) {
    dx[0] = IR_NONE;
    return;
  }
  dx[0] = from == n.dtype ? dy : ir_cast(g, dy, from, n.loc);
}

/* ---- binary elementwise --------------------------------------------------- */

void ir_grad_ADD(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  (void)g, (void)ref;
  if (wants(dx, 0)) dx[0] = dy;
  if (wants(dx, 1)) dx[1] = dy;
}

void ir_grad_SUB(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  if (wants(dx, 0)) dx[0] = dy;
  if (wants(dx, 1)) dx[1] = un(g, IR_OP_NEG, dy, ir_node(g, ref)->loc);
}

void ir_grad_MUL(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  if (wants(dx, 0)) dx[0] = mul(g, dy, n.src[1], n.loc);
  if (wants(dx, 1)) dx[1] = mul(g, dy, n.src[0], n.loc);
}

/* y = a / b: da = dy / b, db = -dy * y / b */
void ir_grad_DIV(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  if (wants(dx, 0)) dx[0] = divide(g, dy, n.src[1], n.loc);
  if (wants(dx, 1))
    dx[1] = un(g, IR_OP_NEG, divide(g, mul(g, dy, ref, n.loc), n.src[1], n.loc), n.loc);
}

/* y = a^b: da = b * a^(b-1) * dy, db = log(a) * y * dy */
void ir_grad_POW(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrRef a = n.src[0], b = n.src[1];
  if (wants(dx, 0)) {
    IrRef bm1 = sub(g, b, ir_const(g, 1.0, n.dtype, n.loc), n.loc);
    IrRef slope = mul(g, b, ir_binary(g, IR_OP_POW, a, bm1, n.loc), n.loc);
    dx[0] = mul(g, dy, slope, n.loc);
  }
  if (wants(dx, 1))
    dx[1] = mul(g, mul(g, dy, ref, n.loc), un(g, IR_OP_LOG, a, n.loc), n.loc);
}

/* maximum picks a when a >= b (ties go to the first operand). */
void ir_grad_MAXIMUM(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrRef first = ir_binary(g, IR_OP_GE, n.src[0], n.src[1], n.loc);
  if (wants(dx, 0)) dx[0] = route(g, first, dy, true, n.loc);
  if (wants(dx, 1)) dx[1] = route(g, first, dy, false, n.loc);
}

/* minimum picks a when a <= b (ties go to the first operand). */
void ir_grad_MINIMUM(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrRef first = ir_binary(g, IR_OP_LE, n.src[0], n.src[1], n.loc);
  if (wants(dx, 0)) dx[0] = route(g, first, dy, true, n.loc);
  if (wants(dx, 1)) dx[1] = route(g, first, dy, false, n.loc);
}

/* where(c, a, b): dy flows to the side that was selected; none to c. */
void ir_grad_WHERE(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  dx[0] = IR_NONE;
  if (wants(dx, 1)) dx[1] = route(g, n.src[0], dy, true, n.loc);
  if (wants(dx, 2)) dx[2] = route(g, n.src[0], dy, false, n.loc);
}

/* ---- reductions ----------------------------------------------------------- */

/* sum: dy broadcast back over the reduced axes. */
void ir_grad_SUM(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrShape xs = ir_node(g, n.src[0])->shape;
  dx[0] = ir_expand(g, as_keepdims(g, &n, dy), &xs, n.loc);
}

/* max: dy split evenly among the elements equal to the max. */
void ir_grad_MAX(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrRef hit = ir_binary(g, IR_OP_EQ, n.src[0], as_keepdims(g, &n, ref), n.loc);
  IrRef mask = ir_cast(g, hit, n.dtype, n.loc);
  IrRef count = ir_reduce(g, IR_OP_SUM, mask, n.attr.axes, true, n.loc);
  dx[0] = mul(g, mask, divide(g, as_keepdims(g, &n, dy), count, n.loc), n.loc);
}

/* ---- contraction ---------------------------------------------------------- */

/* y = a @ b: da = dy @ b^T, db = a^T @ dy (broadcast batch axes are
   summed back by autodiff). */
void ir_grad_MATMUL(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  if (wants(dx, 0)) dx[0] = ir_matmul(g, dy, transpose(g, n.src[1], n.loc), n.loc);
  if (wants(dx, 1)) dx[1] = ir_matmul(g, transpose(g, n.src[0], n.loc), dy, n.loc);
}

/* ---- movement ------------------------------------------------------------- */

void ir_grad_RESHAPE(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrShape xs = ir_node(g, n.src[0])->shape;
  dx[0] = ir_reshape(g, dy, &xs, n.loc);
}

void ir_grad_PERMUTE(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  uint8_t inv[IR_MAX_RANK];
  for (int i = 0; i < n.shape.rank; i++) inv[n.attr.perm[i]] = (uint8_t)i;
  dx[0] = ir_permute(g, dy, inv, n.loc);
}

void ir_grad_EXPAND(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrShape xs = ir_node(g, n.src[0])->shape;
  dx[0] = ir_sum_to(g, dy, &xs, n.loc);
}

/* Spreads axis `ax` of d (c elements) to stride `step`: c*step elements
   with the values at multiples of step and zeros between them. */
static IrRef dilate_axis(IrGraph *g, IrRef d, int ax, int64_t step, McLoc loc) {
  IrRef col = insert_unit_axis(g, d, ax + 1, loc);
  if (col == IR_NONE) return IR_NONE;
  int64_t before[IR_MAX_RANK] = {0}, after[IR_MAX_RANK] = {0};
  after[ax + 1] = step - 1;
  IrRef wide = ir_pad(g, col, before, after, loc);
  if (wide == IR_NONE) return IR_NONE;
  IrShape s = ir_node(g, d)->shape;
  s.d[ax] = ir_dim_mul(g, s.d[ax], ir_dim_const(step));
  return ir_reshape(g, wide, &s, loc);
}

/* A slice's axes read backwards (negative step) as the same elements read
   forwards: dy flipped along them, and n's attrs changed to match. */
static IrRef reverse_negative_steps(IrGraph *g, IrNode *n, IrRef dy) {
  int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], count[IR_MAX_RANK];
  bool any = false;
  for (int i = 0; i < n->shape.rank; i++) {
    count[i] = n->shape.d[i].n;
    start[i] = 0;
    step[i] = 1;
    if (n->attr.step[i] < 0 && count[i] > 0) {
      start[i] = count[i] - 1;
      step[i] = -1;
      n->attr.start[i] += n->attr.step[i] * (count[i] - 1);
      n->attr.step[i] = -n->attr.step[i];
      any = true;
    }
  }
  return any && dy != IR_NONE ? ir_slice(g, dy, start, step, count, n->loc) : dy;
}

/* slice: dy scattered back into zeros at start + i*step. Strided axes are
   dilated first (and trimmed to what fits), then one pad places the block. */
void ir_grad_SLICE(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrShape xs = ir_node(g, n.src[0])->shape;
  IrRef d = reverse_negative_steps(g, &n, dy);
  for (int i = 0; i < xs.rank && d != IR_NONE; i++)
    if (n.attr.step[i] > 1 && n.shape.d[i].n > 1) d = dilate_axis(g, d, i, n.attr.step[i], n.loc);
  if (d == IR_NONE) {
    dx[0] = IR_NONE;
    return;
  }
  IrShape ds = ir_node(g, d)->shape;
  int64_t zero[IR_MAX_RANK] = {0}, one[IR_MAX_RANK], count[IR_MAX_RANK];
  int64_t before[IR_MAX_RANK], after[IR_MAX_RANK];
  bool trim = false;
  for (int i = 0; i < xs.rank; i++) {
    one[i] = 1;
    count[i] = ds.d[i].n;
    if (n.attr.start[i] + count[i] > xs.d[i].n) {
      count[i] = xs.d[i].n - n.attr.start[i];
      trim = true;
    }
    before[i] = n.attr.start[i];
    after[i] = xs.d[i].n - n.attr.start[i] - count[i];
  }
  if (trim) d = ir_slice(g, d, zero, one, count, n.loc);
  dx[0] = ir_pad(g, d, before, after, n.loc);
}

/* pad: the operand's block cut back out of dy. */
void ir_grad_PAD(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrShape xs = ir_node(g, n.src[0])->shape;
  int64_t step[IR_MAX_RANK], count[IR_MAX_RANK];
  for (int i = 0; i < xs.rank; i++) step[i] = 1, count[i] = xs.d[i].n;
  dx[0] = ir_slice(g, dy, n.attr.start, step, count, n.loc);
}

/* concat: each operand gets its slice of dy along the joined axis. */
void ir_grad_CONCAT(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  int ax = n.attr.axis;
  int64_t start[IR_MAX_RANK] = {0}, step[IR_MAX_RANK], count[IR_MAX_RANK];
  for (int i = 0; i < n.shape.rank; i++) step[i] = 1;
  for (int k = 0; k < n.nsrc; k++) {
    IrShape xs = ir_node(g, n.src[k])->shape;
    for (int i = 0; i < xs.rank; i++) count[i] = xs.d[i].n;
    if (wants(dx, k)) dx[k] = ir_slice(g, dy, start, step, count, n.loc);
    start[ax] += xs.d[ax].n;
  }
}

/* unfold and fold are each other's adjoints. */
void ir_grad_UNFOLD(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrShape xs = ir_node(g, n.src[0])->shape;
  dx[0] = ir_fold(g, dy, n.attr.nwin, &xs.d[xs.rank - n.attr.nwin], n.attr.wstride,
                  n.attr.wdilation, n.loc);
}

void ir_grad_FOLD(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrShape ys = ir_node(g, n.src[0])->shape;
  int64_t kernel[IR_MAX_WIN];
  int lead = ys.rank - 2 * n.attr.nwin;
  for (int i = 0; i < n.attr.nwin; i++) kernel[i] = ys.d[lead + i].n;
  dx[0] = ir_unfold(g, dy, n.attr.nwin, kernel, n.attr.wstride, n.attr.wdilation, n.loc);
}

/* ---- indexing ------------------------------------------------------------- */

/* gather(table, idx): rows of dy added back into the rows they came from
   (repeated indices accumulate). */
void ir_grad_GATHER(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  IrDim rows = ir_node(g, n.src[0])->shape.d[0];
  if (wants(dx, 0)) dx[0] = ir_scatter_add(g, dy, n.src[1], rows, n.loc);
  dx[1] = IR_NONE;
}

/* scatter_add(src, idx): each source row reads back its target row of dy. */
void ir_grad_SCATTER_ADD(IrGraph *g, IrRef ref, IrRef dy, IrRef *dx) {
  IrNode n = *ir_node(g, ref);
  if (wants(dx, 0)) dx[0] = ir_gather(g, dy, n.src[1], n.loc);
  dx[1] = IR_NONE;
}
