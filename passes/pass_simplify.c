/* pass_simplify.c -- local algebraic rewrites while the graph is rebuilt in
   id order (operands are simplified before their users):
     - constant folding of ELEM ops whose operands are all splats (a CONST
       seen through expand/reshape/permute/slice) into a splat, with
       ir_scalar.def semantics and f32 rounding; only float results and
       comparisons are folded;
     - x+0, 0+x, x-0, x*1, 1*x, x/1 -> x (expanded if the result broadcasts);
     - x*0, 0*x -> zeros, ALWAYS: autodiff emits multiplications by expanded
       zero gradients and they must fold. This is not IEEE-exact when x can be
       inf or nan (inf*0 is nan); we accept that, as fast-math compilers do.
       Likewise x+0 -> x ignores that -0 + 0 is +0;
     - neg(neg(x)) -> x, reshape(reshape(x)) -> one reshape (or x),
       permute(permute(x)) -> composed permute (identity removed),
       expand/reshape to x's own shape, a slice keeping every element in
       order and a pad adding no zeros (adaptive pooling of a window the
       size of the image, and its gradient), a cast to x's own dtype and
       sum/max over no axes (which the builder rejects today) -> x;
     - a sum over the batch axes of a batched product whose left operand is
       each batch's transpose, sum_b X_b^T Y_b (the weight gradient of a
       linear layer applied to [B,T,C]), -> one product over the batch and
       k axes merged: transpose(reshape(X, [B*T, C])) @ reshape(Y, [B*T, N]).
       The batched form would write B products and add them up; the merged
       one is a single GEMM with a long k. Only when nothing else reads the
       batched product and Y is no transpose (its reshape would be a copy).
     - add(pad(x), pad(y)) where x's and y's regions lie side by side along
       one axis (of constant size) and are whole along the others ->
       pad(concat(x, y)), or the concat alone when it fills the result;
       concats of concats along that axis are flattened. The gradient of
       slicing qkv into q, k and v is such a sum of three zero pads.
     - sum/max over the window axes of an unfold whose windows tile the
       image (stride = kernel, dilation 1, size = windows * kernel: a
       pooling layer) -> the same reduction over the image reshaped to
       [lead..., O1, K1, O2, K2, ...]: no copy of the windows, and its
       gradient is a reshape instead of a fold.
     - fold(transpose(Wm) @ dY) with stride 1 (a convolution's input
       gradient) -> the transposed convolution: dY padded, unfolded, times
       the filters flipped; a crop (slice) of it narrows the pad instead.
     - sum(a * c * b) with c not varying along the summed axes -> c (in
       the sum's shape) * sum(a * b), and a sum of a sum nothing else
       reads -> one sum: a batch norm's gradient then sums dy * (x - mean)
       once for its scale and its input (see factor_sum).
   Folded-away nodes stay behind unused; dce removes them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"

/* Dims equal including their symbolic form, so a rewrite stays valid when a
   named dim is rebound. */
static bool same_dims(const IrShape *a, const IrShape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (!ir_dim_same(a->d[i], b->d[i])) return false;
  return true;
}

static bool keeps_splat(IrOp op) {
  return op == IR_OP_EXPAND || op == IR_OP_RESHAPE || op == IR_OP_PERMUTE || op == IR_OP_SLICE;
}

/* A CONST seen through moves that keep every element equal (expand,
   reshape, permute, slice): every element is *v. */
static bool splat_value(const IrGraph *g, IrRef r, double *v) {
  const IrNode *x = ir_node(g, r);
  while (keeps_splat((IrOp)x->op)) x = ir_node(g, x->src[0]);
  if (x->op != IR_OP_CONST) return false;
  *v = x->attr.value;
  return true;
}

static bool is_splat_of(const IrGraph *g, IrRef r, double want) {
  double v = 0;
  return splat_value(g, r, &v) && v == want;
}

/* A splat of v with n's dtype and shape. */
static IrRef splat(IrGraph *out, const IrNode *n, double v) {
  IrRef c = ir_const(out, v, (IrDtype)n->dtype, n->loc);
  return n->shape.rank == 0 ? c : ir_expand(out, c, &n->shape, n->loc);
}

/* x standing for n: as is when the types match, expanded when n is a
   broadcast of x; false when x cannot stand for n. */
static bool as_node(IrGraph *out, const IrNode *n, IrRef x, IrRef *res) {
  const IrNode *xn = ir_node(out, x);
  if (xn->dtype != n->dtype) return false;
  *res = same_dims(&xn->shape, &n->shape) ? x : ir_expand(out, x, &n->shape, n->loc);
  return true;
}

static bool foldable_dtype(const IrNode *n) {
  return ir_dtype_is_float((IrDtype)n->dtype) || (ir_ops[n->op].flags & IR_F_CMP);
}

/* Constant folding of an ELEM node over splat operands. */
static bool fold(IrGraph *out, const IrNode *n, const IrRef *m, IrRef *res) {
  if (ir_ops[n->op].cls != IR_CLASS_ELEM || !foldable_dtype(n)) return false;
  double v[3] = {0, 0, 0};
  for (int i = 0; i < n->nsrc; i++)
    if (i >= 3 || !splat_value(out, m[i], &v[i])) return false;
  double r = ir_scalar((IrOp)n->op, v[0], v[1], v[2]);
  if (n->dtype == IR_F32) r = (double)(float)r;
  *res = splat(out, n, r);
  return true;
}

/* x op c -> x (right identity) and c op x -> x (left identity). */
static bool identity(IrGraph *out, const IrNode *n, const IrRef *m, IrRef *res) {
  switch (n->op) {
  case IR_OP_ADD:
    if (is_splat_of(out, m[1], 0.0)) return as_node(out, n, m[0], res);
    return is_splat_of(out, m[0], 0.0) && as_node(out, n, m[1], res);
  case IR_OP_SUB:
    return is_splat_of(out, m[1], 0.0) && as_node(out, n, m[0], res);
  case IR_OP_MUL:
    if (is_splat_of(out, m[0], 0.0) || is_splat_of(out, m[1], 0.0)) {
      *res = splat(out, n, 0.0);
      return true;
    }
    if (is_splat_of(out, m[1], 1.0)) return as_node(out, n, m[0], res);
    return is_splat_of(out, m[0], 1.0) && as_node(out, n, m[1], res);
  case IR_OP_DIV:
    return is_splat_of(out, m[1], 1.0) && as_node(out, n, m[0], res);
  default:
    return false;
  }
}

static bool is_identity_perm(const uint8_t *perm, int rank) {
  for (int i = 0; i < rank; i++)
    if (perm[i] != i) return false;
  return true;
}

/* Movement and no-op rewrites: a chain collapses, a move to x's own shape
   disappears. */
static bool collapse(IrGraph *out, const IrNode *n, const IrRef *m, IrRef *res) {
  const IrNode x = n->nsrc ? *ir_node(out, m[0]) : *n;
  switch (n->op) {
  case IR_OP_NEG:
    if (x.op != IR_OP_NEG) return false;
    *res = x.src[0];
    return true;
  case IR_OP_RESHAPE: {
    IrRef base = x.op == IR_OP_RESHAPE ? x.src[0] : m[0];
    if (same_dims(&ir_node(out, base)->shape, &n->shape)) *res = base;
    else if (base != m[0]) *res = ir_reshape(out, base, &n->shape, n->loc);
    else return false;
    return true;
  }
  case IR_OP_PERMUTE: {
    uint8_t perm[IR_MAX_RANK];
    IrRef base = x.op == IR_OP_PERMUTE ? x.src[0] : m[0];
    for (int i = 0; i < n->shape.rank; i++)
      perm[i] = x.op == IR_OP_PERMUTE ? x.attr.perm[n->attr.perm[i]] : n->attr.perm[i];
    if (is_identity_perm(perm, n->shape.rank)) *res = base;
    else if (base != m[0]) *res = ir_permute(out, base, perm, n->loc);
    else return false;
    return true;
  }
  case IR_OP_EXPAND:
    if (!same_dims(&x.shape, &n->shape)) return false;
    *res = m[0];
    return true;
  case IR_OP_PAD:   /* no zeros before, none after */
  case IR_OP_SLICE: /* every element, in order */
    if (!same_dims(&x.shape, &n->shape)) return false;
    for (int i = 0; i < n->shape.rank; i++)
      if (n->attr.start[i] != 0 || (n->op == IR_OP_SLICE && n->attr.step[i] != 1)) return false;
    *res = m[0];
    return true;
  case IR_OP_SUM:
  case IR_OP_MAX:
    if (n->attr.axes != 0) return false;
    return as_node(out, n, m[0], res);
  case IR_OP_CAST:
    if (x.dtype != n->dtype) return false;
    return as_node(out, n, m[0], res);
  default:
    return false;
  }
}

static bool swaps_last_two(const IrNode *p) {
  int r = p->shape.rank;
  if (p->op != IR_OP_PERMUTE || r < 2 || p->attr.perm[r - 2] != r - 1 ||
      p->attr.perm[r - 1] != r - 2)
    return false;
  for (int i = 0; i < r - 2; i++)
    if (p->attr.perm[i] != i) return false;
  return true;
}

/* sum over the batch axes of X^T Y per batch -> one product over (batch, k)
   (see the banner). sole: nothing but n reads the product. */
static bool merge_batch_sum(IrGraph *out, const IrNode *n, const IrRef *m, bool sole,
                            IrRef *res) {
  if (n->op != IR_OP_SUM || n->attr.keepdims || !sole) return false;
  const IrNode *mm = ir_node(out, m[0]);
  int r = mm->shape.rank, nb = r - 2;
  if (mm->op != IR_OP_MATMUL || nb < 1 || n->attr.axes != (1u << nb) - 1) return false;
  const IrNode *a = ir_node(out, mm->src[0]), *y = ir_node(out, mm->src[1]);
  if (!swaps_last_two(a) || swaps_last_two(y) || a->shape.rank != r || y->shape.rank != r)
    return false;
  const IrNode *x = ir_node(out, a->src[0]);
  IrDim k = x->shape.d[nb];
  for (int i = nb - 1; i >= 0; i--) {
    if (!same_dims(&(IrShape){1, {x->shape.d[i]}}, &(IrShape){1, {mm->shape.d[i]}}) ||
        !same_dims(&(IrShape){1, {y->shape.d[i]}}, &(IrShape){1, {mm->shape.d[i]}}) ||
        (k.syms & mm->shape.d[i].syms))
      return false;
    k = ir_dim_mul(out, mm->shape.d[i], k);
  }
  IrShape xs = {2, {k, x->shape.d[r - 1]}}, ys = {2, {k, y->shape.d[r - 1]}};
  static const uint8_t swap[2] = {1, 0};
  /* new nodes may move out's nodes: nothing is read through mm, a, x or y below */
  IrRef xsrc = a->src[0], ysrc = mm->src[1];
  McLoc loc = n->loc;
  IrRef xt = ir_permute(out, ir_reshape(out, xsrc, &xs, loc), swap, loc);
  IrRef yr = ir_reshape(out, ysrc, &ys, loc);
  *res = ir_matmul(out, xt, yr, loc);
  return true;
}

/* At most this many parts in a joined concat. */
#define JOIN_MAX_PARTS 16

static int count_parts(const IrGraph *out, IrRef x, int axis) {
  const IrNode *c = ir_node(out, x);
  return c->op == IR_OP_CONCAT && c->attr.axis == axis ? c->nsrc : 1;
}

/* Appends x's parts along axis (x itself, or a concat's operands). */
static int concat_parts(const IrGraph *out, IrRef x, int axis, IrRef *parts, int n) {
  const IrNode *c = ir_node(out, x);
  if (c->op != IR_OP_CONCAT || c->attr.axis != axis) {
    parts[n] = x;
    return n + 1;
  }
  for (int k = 0; k < c->nsrc; k++) parts[n++] = c->src[k];
  return n;
}

/* The one axis along which pad p does not cover all of n (-1: none; -2:
   several). */
static int padded_axis(const IrGraph *out, const IrNode *p, const IrNode *n) {
  const IrNode *x = ir_node(out, p->src[0]);
  int axis = -1;
  for (int i = 0; i < n->shape.rank; i++) {
    if (p->attr.start[i] == 0 && ir_dim_same(x->shape.d[i], n->shape.d[i])) continue;
    if (axis != -1) return -2;
    axis = i;
  }
  return axis;
}

/* add(pad(x), pad(y)), side by side along one axis -> pad(concat(x, y)). */
static bool join_pads(IrGraph *out, const IrNode *n, const IrRef *m, IrRef *res) {
  if (n->op != IR_OP_ADD) return false;
  const IrNode *p = ir_node(out, m[0]), *q = ir_node(out, m[1]);
  if (p->op != IR_OP_PAD || q->op != IR_OP_PAD || p->dtype != n->dtype ||
      q->dtype != n->dtype || !same_dims(&p->shape, &n->shape) || !same_dims(&q->shape, &n->shape))
    return false;
  int axis = padded_axis(out, p, n);
  if (axis < 0 || padded_axis(out, q, n) != axis || n->shape.d[axis].syms) return false;
  if (q->attr.start[axis] < p->attr.start[axis]) {
    const IrNode *t = p;
    p = q;
    q = t;
  }
  const IrNode *x = ir_node(out, p->src[0]), *y = ir_node(out, q->src[0]);
  int64_t lo = p->attr.start[axis], mid = lo + x->shape.d[axis].n;
  int64_t hi = mid + y->shape.d[axis].n;
  if (q->attr.start[axis] != mid || x->shape.d[axis].syms || y->shape.d[axis].syms) return false;
  IrRef parts[JOIN_MAX_PARTS];
  if (count_parts(out, p->src[0], axis) + count_parts(out, q->src[0], axis) > JOIN_MAX_PARTS)
    return false;
  int np = concat_parts(out, p->src[0], axis, parts, 0);
  np = concat_parts(out, q->src[0], axis, parts, np);
  IrRef cat = ir_concat(out, parts, np, axis, n->loc);
  int64_t before[IR_MAX_RANK] = {0}, after[IR_MAX_RANK] = {0};
  before[axis] = lo;
  after[axis] = n->shape.d[axis].n - hi;
  *res = lo == 0 && after[axis] == 0 ? cat : ir_pad(out, cat, before, after, n->loc);
  return true;
}

/* Window axes i of unfold u that tile its image exactly. */
static bool windows_tile(const IrNode *u, const IrNode *x, int lead) {
  for (int i = 0; i < u->attr.nwin; i++) {
    IrDim s = x->shape.d[lead + i], k = u->shape.d[lead + i];
    IrDim o = u->shape.d[lead + u->attr.nwin + i];
    if (s.syms || k.syms || o.syms || u->attr.wstride[i] != k.n ||
        (u->attr.wdilation[i] != 1 && k.n != 1) || s.n != o.n * k.n)
      return false;
  }
  return true;
}

/* reduce(unfold(x), window axes) with tiling windows -> reduce over x
   reshaped to [lead..., O1, K1, ...] (see the banner). */
static bool reduce_tiles(IrGraph *out, const IrNode *n, const IrRef *m, IrRef *res) {
  if (n->op != IR_OP_SUM && n->op != IR_OP_MAX) return false;
  const IrNode *u = ir_node(out, m[0]);
  if (u->op != IR_OP_UNFOLD) return false;
  const IrNode *x = ir_node(out, u->src[0]);
  int k = u->attr.nwin, lead = x->shape.rank - k;
  if (lead < 0 || lead + 2 * k > IR_MAX_RANK || !windows_tile(u, x, lead) ||
      n->attr.axes != ((1u << k) - 1) << lead)
    return false;
  IrShape tiles = {lead + 2 * k, {{0}}};
  uint32_t axes = 0;
  for (int i = 0; i < lead; i++) tiles.d[i] = x->shape.d[i];
  for (int i = 0; i < k; i++) {
    tiles.d[lead + 2 * i] = u->shape.d[lead + k + i];
    tiles.d[lead + 2 * i + 1] = u->shape.d[lead + i];
    axes |= 1u << (lead + 2 * i + 1);
  }
  IrRef r = ir_reduce(out, (IrOp)n->op, ir_reshape(out, u->src[0], &tiles, n->loc), axes,
                      false, n->loc);
  *res = n->attr.keepdims ? ir_reshape(out, r, &n->shape, n->loc) : r;
  return true;
}

/* ---- a convolution's input gradient as a convolution --------------------------------
   Autodiff turns conv(x) = W * unfold(pad(x)) into dx = crop(fold(W^T dY)):
   a product that writes every window ([B, C*KH*KW, OH*OW], KH*KW times the
   image) and a fold that adds the windows back. With stride 1 the same
   sums are a convolution of dY padded by (K-1)*dilation with W flipped and
   its channels swapped (a transposed convolution), whose product reads the
   windows in place (cg_matmul.c). crop_conv then narrows the pad instead
   of computing the border that the crop throws away. With stride 2 the
   result's even and odd rows (and columns) are each such a convolution
   with some of the taps (strided_conv), interleaved. */

/* A fold of a product transpose(Wm) @ D, all sizes static but the batch:
   the parts of it that transposed_conv and strided_conv need. */
typedef struct FoldConv {
  IrRef wt, d;           /* wt: [C*KH*KW, O]; d: [B, O, OH*OW] */
  IrDim batch;
  int64_t c, o, k[2], oh[2], size[2], dil[2], stride[2];
} FoldConv;

static bool match_fold_conv(const IrGraph *out, const IrNode *n, const IrRef *m, FoldConv *f) {
  if (n->op != IR_OP_FOLD || n->attr.nwin != 2 || n->shape.rank != 4 || n->dtype != IR_F32)
    return false;
  const IrNode *r = ir_node(out, m[0]);
  if (r->op != IR_OP_RESHAPE || r->shape.rank != 6) return false;
  const IrNode *mm = ir_node(out, r->src[0]);
  if (mm->op != IR_OP_MATMUL || mm->shape.rank != 3 || mm->dtype != IR_F32) return false;
  const IrNode *wt = ir_node(out, mm->src[0]), *d = ir_node(out, mm->src[1]);
  if (wt->shape.rank != 2 || d->shape.rank != 3 || !ir_shape_fixed_from(&n->shape, 1) ||
      !ir_shape_fixed_from(&r->shape, 1) || !ir_shape_fixed_from(&d->shape, 1) ||
      !ir_shape_fixed_from(&wt->shape, 0))
    return false;
  *f = (FoldConv){mm->src[0], mm->src[1], n->shape.d[0], n->shape.d[1].n, d->shape.d[1].n,
                  {r->shape.d[2].n, r->shape.d[3].n}, {r->shape.d[4].n, r->shape.d[5].n},
                  {n->shape.d[2].n, n->shape.d[3].n}, {n->attr.wdilation[0], n->attr.wdilation[1]},
                  {n->attr.wstride[0], n->attr.wstride[1]}};
  bool strided = f->stride[0] != 1 || f->stride[1] != 1;
  for (int i = 0; i < 2; i++) {
    int64_t s = f->stride[i], covered = (f->oh[i] - 1) * s + (f->k[i] - 1) * f->dil[i] + 1;
    /* stride 1: the windows cover the result exactly; strided (see
       strided_conv): no dilation, every phase has a tap, and rows past
       the last window are zeros */
    if (!strided ? f->size[i] != covered
                 : s < 1 || s > 2 || f->dil[i] != 1 || f->k[i] < s || f->size[i] < covered)
      return false;
  }
  return r->shape.d[1].n == f->c && wt->shape.d[0].n == f->c * f->k[0] * f->k[1] &&
         d->shape.d[2].n == f->oh[0] * f->oh[1];
}

/* [C*KH*KW, O] -> [C, O*KH*KW], the taps of each (c, o) in reverse order. */
static IrRef flipped_filters(IrGraph *out, const FoldConv *f, McLoc loc) {
  IrShape s = {4, {ir_dim_const(f->c), ir_dim_const(f->k[0]), ir_dim_const(f->k[1]),
                   ir_dim_const(f->o)}};
  int64_t start[4] = {0, f->k[0] - 1, f->k[1] - 1, 0}, step[4] = {1, -1, -1, 1};
  int64_t count[4] = {f->c, f->k[0], f->k[1], f->o};
  static const uint8_t perm[4] = {0, 3, 1, 2};
  IrRef w = ir_slice(out, ir_reshape(out, f->wt, &s, loc), start, step, count, loc);
  IrShape flat = {2, {ir_dim_const(f->c), ir_dim_const(f->o * f->k[0] * f->k[1])}};
  return ir_reshape(out, ir_permute(out, w, perm, loc), &flat, loc);
}

/* The fold's result cropped to [from, from + count) per spatial axis (the
   whole of it: from 0, count size), as a convolution of the padded dY. */
static IrRef transposed_conv(IrGraph *out, const FoldConv *f, const int64_t *from,
                             const int64_t *count, McLoc loc) {
  int64_t before[4] = {0}, after[4] = {0}, one[2] = {1, 1};
  for (int i = 0; i < 2; i++) {
    int64_t span = (f->k[i] - 1) * f->dil[i];
    before[2 + i] = span - from[i];
    after[2 + i] = span - (f->size[i] - from[i] - count[i]);
  }
  IrShape d4 = {4, {f->batch, ir_dim_const(f->o), ir_dim_const(f->oh[0]), ir_dim_const(f->oh[1])}};
  IrRef wf = flipped_filters(out, f, loc);
  IrRef p = ir_reshape(out, f->d, &d4, loc);
  if (before[2] || before[3] || after[2] || after[3]) p = ir_pad(out, p, before, after, loc);
  IrRef u = ir_unfold(out, p, 2, f->k, one, f->dil, loc);
  IrShape cols = {3, {f->batch, ir_dim_const(f->o * f->k[0] * f->k[1]),
                      ir_dim_const(count[0] * count[1])}};
  IrShape img = {4, {f->batch, ir_dim_const(f->c), ir_dim_const(count[0]), ir_dim_const(count[1])}};
  IrRef mm = ir_matmul(out, wf, ir_reshape(out, u, &cols, loc), loc);
  return ir_reshape(out, mm, &img, loc);
}

/* The taps of phase (py, px) of a stride-2 fold's filters: [C*nh*nw, O]
   with taps (py + 2j, px + 2l). */
static IrRef phase_filters(IrGraph *out, const FoldConv *f, const int64_t *ph,
                           const int64_t *nk, McLoc loc) {
  IrShape s = {4, {ir_dim_const(f->c), ir_dim_const(f->k[0]), ir_dim_const(f->k[1]),
                   ir_dim_const(f->o)}};
  int64_t start[4] = {0, ph[0], ph[1], 0}, step[4] = {1, f->stride[0], f->stride[1], 1};
  int64_t count[4] = {f->c, nk[0], nk[1], f->o};
  IrRef w = ir_slice(out, ir_reshape(out, f->wt, &s, loc), start, step, count, loc);
  IrShape flat = {2, {ir_dim_const(f->c * nk[0] * nk[1]), ir_dim_const(f->o)}};
  return ir_reshape(out, w, &flat, loc);
}

/* Rows per phase along axis i of strided_conv (the longest phase's). */
static int64_t phase_rows(const FoldConv *f, int i) {
  return f->oh[i] - 1 + (f->k[i] + f->stride[i] - 1) / f->stride[i];
}

/* A strided fold (windows S = 2 apart on an axis) as stride-1 transposed
   convolutions, one per phase: the result's rows S t + p take the taps
   k = p + S j from windows t - j, a convolution of dY with those taps
   (OH + nk - 1 rows, nk = ceil((K - p) / S)). The phases, padded to the
   longest, are interleaved (concatenated on new axes of one, reshaped),
   then cropped or padded with zeros to [from, from + count). No product
   of every window is written and no fold adds them up. */
static IrRef strided_conv(IrGraph *out, const FoldConv *f, const int64_t *from,
                          const int64_t *count, McLoc loc) {
  int64_t S[2] = {f->stride[0], f->stride[1]}, T[2] = {phase_rows(f, 0), phase_rows(f, 1)};
  IrRef rows[2] = {IR_NONE, IR_NONE};
  for (int py = 0; py < S[0]; py++) {
    IrRef cols[2] = {IR_NONE, IR_NONE};
    for (int px = 0; px < S[1]; px++) {
      int64_t ph[2] = {py, px}, nk[2], zero[2] = {0, 0};
      FoldConv p = *f;
      for (int i = 0; i < 2; i++) {
        nk[i] = (f->k[i] - ph[i] + S[i] - 1) / S[i];
        p.k[i] = nk[i];
        p.size[i] = f->oh[i] - 1 + nk[i];
        p.dil[i] = 1;
        p.stride[i] = 1;
      }
      p.wt = phase_filters(out, f, ph, nk, loc);
      IrRef c = transposed_conv(out, &p, zero, p.size, loc); /* [B, C, Tp, Tq] */
      int64_t pb[4] = {0}, pa[4] = {0, 0, T[0] - p.size[0], T[1] - p.size[1]};
      if (pa[2] || pa[3]) c = ir_pad(out, c, pb, pa, loc);
      IrShape s6 = {6, {f->batch, ir_dim_const(f->c), ir_dim_const(T[0]), ir_dim_const(1),
                        ir_dim_const(T[1]), ir_dim_const(1)}};
      cols[px] = ir_reshape(out, c, &s6, loc);
    }
    rows[py] = S[1] > 1 ? ir_concat(out, cols, (int)S[1], 5, loc) : cols[0];
  }
  IrRef all = S[0] > 1 ? ir_concat(out, rows, (int)S[0], 3, loc) : rows[0];
  IrShape s4 = {4, {f->batch, ir_dim_const(f->c), ir_dim_const(T[0] * S[0]),
                    ir_dim_const(T[1] * S[1])}};
  IrRef full = ir_reshape(out, all, &s4, loc);
  int64_t start[4] = {0, 0, from[0], from[1]}, step[4] = {1, 1, 1, 1}, keep[4];
  int64_t before[4] = {0}, after[4] = {0};
  IrShape fs = ir_node(out, full)->shape;
  keep[0] = fs.d[0].n;
  keep[1] = f->c;
  bool crop = false;
  for (int i = 0; i < 2; i++) {
    int64_t len = T[i] * S[i], end = from[i] + count[i] < len ? from[i] + count[i] : len;
    keep[2 + i] = end - from[i];
    after[2 + i] = count[i] - keep[2 + i];
    crop |= from[i] != 0 || end != len;
  }
  if (crop) full = ir_slice(out, full, start, step, keep, loc);
  if (after[2] || after[3]) full = ir_pad(out, full, before, after, loc);
  return full;
}

static IrRef fold_conv(IrGraph *out, const FoldConv *f, const int64_t *from,
                       const int64_t *count, McLoc loc) {
  bool strided = f->stride[0] != 1 || f->stride[1] != 1;
  return strided ? strided_conv(out, f, from, count, loc) : transposed_conv(out, f, from, count, loc);
}

static bool fold_as_conv(IrGraph *out, const IrNode *n, const IrRef *m, bool sole, IrRef *res) {
  FoldConv f;
  if (!sole || !match_fold_conv(out, n, m, &f)) return false;
  int64_t from[2] = {0, 0};
  *res = fold_conv(out, &f, from, f.size, n->loc);
  return true;
}

/* slice(fold) -> the cropped transposed convolution, when the slice keeps
   whole lead axes with step 1 and the crop leaves pads >= 0. fold_in: the
   slice's operand as it was before this pass, fm: the fold's operands in out. */
static bool crop_conv(IrGraph *out, const IrNode *n, const IrNode *fold_in, const IrRef *fm,
                      IrRef *res) {
  FoldConv f;
  if (n->op != IR_OP_SLICE || !match_fold_conv(out, fold_in, fm, &f)) return false;
  int64_t from[2], count[2];
  for (int i = 0; i < 4; i++)
    if (n->attr.step[i] != 1 || (i < 2 && n->attr.start[i] != 0)) return false;
  if (!ir_dim_same(n->shape.d[0], f.batch) || n->shape.d[1].n != f.c)
    return false;
  bool strided = f.stride[0] != 1 || f.stride[1] != 1;
  for (int i = 0; i < 2; i++) {
    from[i] = n->attr.start[2 + i];
    count[i] = n->shape.d[2 + i].n;
    int64_t span = (f.k[i] - 1) * f.dil[i];
    if (!strided && (from[i] > span || f.size[i] - from[i] - count[i] > span)) return false;
    if (strided && from[i] >= phase_rows(&f, i) * f.stride[i]) return false; /* all zeros */
  }
  *res = fold_conv(out, &f, from, count, n->loc);
  return true;
}

/* ---- factors constant along a sum's axes ---------------------------------------------
   sum(a * c * b, A) with c (an operand broadcast by the multiplication, or
   an expand) not varying along the axes A -> c' * sum(a * b, A), c' its
   values in the sum's shape; and a
   sum over A2 of a sum over A1 that nothing else reads -> one sum over
   both. A batch norm's gradient sums dy * (x - mean) * rstd for its scale
   and dy * gamma * (x - mean) for its input, two passes over the
   activations; with rstd and gamma outside, both are one sum that cse
   shares. */
#define FACTOR_MAX_LEAVES 8

/* The values node r of out stands for: an expand's operand, else r. */
static const IrNode *values_of(const IrGraph *out, IrRef r, IrRef *v) {
  const IrNode *c = ir_node(out, r);
  *v = c->op == IR_OP_EXPAND ? c->src[0] : r;
  return ir_node(out, *v);
}

/* Node r of out, broadcast to rank `rank` as a multiplication's operand
   is (aligned to the right), does not vary along the axes in `axes`: its
   values have size 1 there or no such axis. */
static bool const_along(const IrGraph *out, IrRef r, uint32_t axes, int rank) {
  IrRef v;
  const IrShape *s = &values_of(out, r, &v)->shape;
  int lead = rank - s->rank;
  if (lead < 0) return false;
  for (int a = lead; a < rank; a++)
    if ((axes & (1u << a)) && (s->d[a - lead].n != 1 || s->d[a - lead].syms)) return false;
  return true;
}

/* The leaves of a tree of multiplications at r (operands broadcast), left
   to right; -1 past FACTOR_MAX_LEAVES. */
static int mul_leaves(const IrGraph *out, IrRef r, IrRef *leaf, int n) {
  const IrNode *x = ir_node(out, r);
  if (x->op != IR_OP_MUL) {
    if (n >= FACTOR_MAX_LEAVES) return -1;
    leaf[n] = r;
    return n + 1;
  }
  n = mul_leaves(out, x->src[0], leaf, n);
  return n < 0 ? -1 : mul_leaves(out, x->src[1], leaf, n);
}

/* The values of r (constant along `axes` of rank `rank`) as those of a sum
   over the axes: shape `to` (keepdims: rank `rank`, else without them). */
static IrRef reduced_factor(IrGraph *out, IrRef r, uint32_t axes, int rank, bool keepdims,
                            const IrShape *to, McLoc loc) {
  IrRef v;
  const IrShape s = values_of(out, r, &v)->shape;
  if (s.rank == 0) return v; /* a scalar: broadcast as it is */
  int lead = rank - s.rank;
  IrShape kept = {.rank = 0};
  for (int a = 0; a < rank; a++) {
    bool reduced = axes & (1u << a);
    if (reduced && !keepdims) continue;
    kept.d[kept.rank++] = reduced || a < lead ? ir_dim_const(1) : s.d[a - lead];
  }
  if (!same_dims(&s, &kept)) v = ir_reshape(out, v, &kept, loc);
  return v == IR_NONE || same_dims(&kept, to) ? v : ir_expand(out, v, to, loc);
}

/* Readers of r among out's nodes so far. */
static int readers_so_far(const IrGraph *out, IrRef r) {
  int k = 0;
  for (uint32_t i = r + 1; i < out->nnodes; i++)
    for (int j = 0; j < ir_node(out, i)->nsrc; j++) k += ir_node(out, i)->src[j] == r;
  return k;
}

/* sum(x, axes, keepdims) in out; with merge, when x is itself a sum: one
   sum over both sets of axes kept, reshaped to the shape the two give. */
static IrRef make_sum(IrGraph *out, IrRef x, uint32_t axes, bool keepdims, bool merge,
                      McLoc loc) {
  const IrNode *in = ir_node(out, x);
  if (!merge || in->op != IR_OP_SUM) return ir_reduce(out, IR_OP_SUM, x, axes, keepdims, loc);
  const IrNode *src = ir_node(out, in->src[0]);
  uint32_t all = in->attr.axes;
  for (int a = 0, j = 0; a < src->shape.rank; a++) { /* j: axis a in in's shape */
    if ((in->attr.axes & (1u << a)) && !in->attr.keepdims) continue;
    if (axes & (1u << j)) all |= 1u << a;
    j++;
  }
  IrShape want = {.rank = 0};
  for (int j = 0; j < in->shape.rank; j++)
    if (!(axes & (1u << j))) want.d[want.rank++] = in->shape.d[j];
    else if (keepdims) want.d[want.rank++] = ir_dim_const(1);
  IrRef s = ir_reduce(out, IR_OP_SUM, in->src[0], all, true, loc);
  return s == IR_NONE || same_dims(&ir_node(out, s)->shape, &want)
             ? s : ir_reshape(out, s, &want, loc);
}

static bool factor_sum(IrGraph *out, const IrNode *n, const IrRef *m, bool sole, IrRef *res) {
  if (n->op != IR_OP_SUM || (n->dtype != IR_F32 && n->dtype != IR_F64)) return false;
  const IrNode *x = ir_node(out, m[0]);
  const IrShape xs = x->shape; /* nodes built below may move out's */
  bool x_sum = x->op == IR_OP_SUM;
  /* a quotient by a divisor constant along the axes: the divisor leaves too */
  IrRef top = m[0], divisor = IR_NONE;
  if (x->op == IR_OP_DIV && const_along(out, x->src[1], n->attr.axes, xs.rank) &&
      same_dims(&ir_node(out, x->src[0])->shape, &xs)) {
    top = x->src[0];
    divisor = x->src[1];
  }
  IrRef leaf[FACTOR_MAX_LEAVES], rest[FACTOR_MAX_LEAVES], outside[FACTOR_MAX_LEAVES];
  int nl = mul_leaves(out, top, leaf, 0), nr = 0, no = 0;
  for (int i = 0; i < nl; i++) {
    if (const_along(out, leaf[i], n->attr.axes, xs.rank)) outside[no++] = leaf[i];
    else rest[nr++] = leaf[i];
  }
  bool merge = sole && x_sum, factored = no > 0 || divisor != IR_NONE;
  if (nl < 0 || nr == 0 || (!factored && !merge)) return false;
  IrRef prod = rest[0];
  for (int i = 1; i < nr && prod != IR_NONE; i++)
    prod = ir_binary(out, IR_OP_MUL, prod, rest[i], n->loc);
  if (prod != IR_NONE && !same_dims(&ir_node(out, prod)->shape, &xs))
    prod = ir_expand(out, prod, &xs, n->loc);
  /* a sum read only through this product (the one factored out of the
     sum before) merges with this one; readers are counted among the nodes
     built so far, so a later reader of the same sum would keep it too, at
     the cost of one more pass, never a wrong value */
  bool inner = sole && nr == 1 && factored && readers_so_far(out, prod) == 1;
  IrRef v = prod == IR_NONE ? IR_NONE
                            : make_sum(out, prod, n->attr.axes, n->attr.keepdims,
                                       !factored || inner, n->loc);
  for (int i = 0; i <= no && v != IR_NONE; i++) {
    IrRef f = i < no ? outside[i] : divisor;
    if (f == IR_NONE) break;
    IrRef c = reduced_factor(out, f, n->attr.axes, xs.rank, n->attr.keepdims, &n->shape, n->loc);
    v = c == IR_NONE ? IR_NONE : ir_binary(out, i < no ? IR_OP_MUL : IR_OP_DIV, v, c, n->loc);
  }
  *res = v;
  return true;
}

/* Applies the first rule that matches n (operands m in out); true when one
   did, with the replacement (IR_NONE if building it failed) in *res. */
static bool rewrite(IrGraph *out, const IrNode *n, const IrRef *m, bool sole, IrRef *res) {
  if (n->op == IR_OP_INPUT || n->op == IR_OP_PARAM) return false;
  return fold(out, n, m, res) || identity(out, n, m, res) || collapse(out, n, m, res) ||
         merge_batch_sum(out, n, m, sole, res) || join_pads(out, n, m, res) ||
         reduce_tiles(out, n, m, res) || fold_as_conv(out, n, m, sole, res) ||
         factor_sum(out, n, m, sole, res);
}

/* uses[i]: how many operand slots of g's nodes, and outputs, read node i. */
static uint32_t *count_uses(const IrGraph *g) {
  uint32_t *uses = mc_xcalloc(g->nnodes ? g->nnodes : 1, sizeof *uses);
  for (uint32_t id = 0; id < g->nnodes; id++)
    for (int k = 0; k < ir_node(g, id)->nsrc; k++) uses[ir_node(g, id)->src[k]]++;
  for (uint32_t i = 0; i < g->nouts; i++) uses[g->outs[i].ref]++;
  return uses;
}

bool pass_simplify(IrGraph **pg, PassCtx *cx) {
  IrGraph *g = *pg;
  IrRef *map = mc_xmalloc((g->nnodes ? g->nnodes : 1) * sizeof *map);
  IrRef buf[8];
  IrGraph *out = pass_graph_like(g);
  uint32_t *uses = count_uses(g);
  bool ok = true;
  for (uint32_t id = 0; ok && id < g->nnodes; id++) {
    const IrNode *n = ir_node(g, id);
    IrRef *m = n->nsrc <= 8 ? buf : mc_xmalloc(n->nsrc * sizeof *m);
    for (int k = 0; k < n->nsrc; k++) m[k] = map[n->src[k]];
    bool sole = n->nsrc == 1 && uses[n->src[0]] == 1;
    const IrNode *x = n->nsrc == 1 ? ir_node(g, n->src[0]) : NULL;
    bool cropped = sole && x->op == IR_OP_FOLD && crop_conv(out, n, x, &map[x->src[0]], &map[id]);
    if (!cropped && !rewrite(out, n, m, sole, &map[id]))
      map[id] = ir_copy_node(out, g, id, map);
    if (m != buf) free(m);
    if (map[id] == IR_NONE) {
      mc_error(cx->diag, n->loc, "simplify: cannot rebuild node %%%u", id);
      ok = false;
    }
  }
  ok = pass_replace_graph(pg, out, map, ok);
  free(uses);
  free(map);
  return ok;
}
