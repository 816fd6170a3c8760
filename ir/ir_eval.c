/* ir_eval.c -- the reference evaluator: a plain interpreter over tensors of
   doubles, the oracle that every backend and gradient check is held against.
   One switch over op classes; the math of ELEM ops and REDUCE combiners comes
   from ir_scalar.def, so a new elementwise op needs no code here.

   Conventions at non-smooth or undefined points are those of the scalar
   table: relu(0) = 0, sign(0) = 0, maximum/minimum/max keep the first operand
   on ties and propagate NaN, gelu is the exact erf form. Derivatives at those
   points (relu'(0) = 0, max ties) are the gradient rules' choice, not ours.
   f32 semantics: every float result is rounded to float after each op (the
   op itself is computed in double, so a reduction or matmul is rounded once).
   i32 results truncate toward zero (saturating), bool results are 0 or 1. */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct IrEval {
  const IrGraph *g;
  bool f64;        /* compute every float tensor in double */
  uint32_t n;      /* nodes evaluated: the graph's size at creation */
  IrTensor *vals;  /* per node id; data is NULL until bound or computed */
  int64_t held;    /* bytes of all tensors' data, held against mc_memory_limit */
};

static const double zero_operand[1] = {0.0};

static void report(McDiag *d, McLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(McDiag *d, McLoc loc, const char *fmt, ...) {
  if (!d) return;
  va_list ap;
  va_start(ap, fmt);
  mc_diag_vreport(d, MC_DIAG_ERROR, loc, fmt, ap);
  va_end(ap);
}

/* ---- tensors -------------------------------------------------------------- */

/* Tensors larger than this are refused rather than allocated (32 GiB). */
#define MAX_ELEMENTS ((int64_t)1 << 32)

static int64_t node_numel(const IrNode *nd) {
  int64_t numel = 1;
  for (int i = 0; i < nd->shape.rank; i++) {
    int64_t n = nd->shape.d[i].n;
    if (n < 0 || (n > 0 && numel > MAX_ELEMENTS / n)) return MAX_ELEMENTS + 1;
    numel *= n;
  }
  return numel;
}

int64_t ir_eval_bytes(const IrGraph *g) {
  int64_t total = 0;
  for (IrRef r = 0; r < g->nnodes; r++) {
    int64_t n = node_numel(ir_node(g, r));
    if (n > MAX_ELEMENTS || __builtin_add_overflow(total, n * 8, &total)) return INT64_MAX;
  }
  return total;
}

/* Gives t the node's dtype and (current) shape; keeps its buffer when the
   element count is unchanged, so repeated runs do not reallocate. False
   (with a diagnostic) when the tensor is too large to hold. */
static bool tensor_prepare(IrTensor *t, const IrNode *nd, IrRef id, int64_t *held,
                           McDiag *d) {
  int64_t numel = node_numel(nd);
  if (numel > MAX_ELEMENTS) {
    report(d, nd->loc, "node %%%u has too many elements to evaluate", id);
    return false;
  }
  int64_t grow = t->data && t->numel == numel ? 0 : (numel - (t->data ? t->numel : 0)) * 8;
  if (*held + grow > mc_memory_limit()) {
    char need[32], limit[32];
    mc_format_bytes(need, sizeof need, *held + grow);
    mc_format_bytes(limit, sizeof limit, mc_memory_limit());
    report(d, nd->loc, "evaluating node %%%u needs %s in all; this process may use %s (use "
           "smaller dims, -D)", id, need, limit);
    return false;
  }
  *held += grow;
  t->dtype = (IrDtype)nd->dtype;
  t->rank = nd->shape.rank;
  for (int i = 0; i < t->rank; i++) t->dims[i] = nd->shape.d[i].n;
  if (t->data && t->numel == numel) return true;
  free(t->data);
  t->numel = numel;
  t->data = mc_xcalloc(numel > 0 ? (size_t)numel : 1, sizeof(double));
  return true;
}

static double to_i32(double v) {
  if (isnan(v)) return 0.0;
  if (v >= 2147483647.0) return 2147483647.0;
  if (v <= -2147483648.0) return -2147483648.0;
  return trunc(v);
}

/* Rounds every element of t to what its dtype can hold. */
static void round_to_dtype(const IrEval *e, IrTensor *t) {
  double *x = t->data;
  switch (t->dtype) {
  case IR_F32:
    if (!e->f64)
      for (int64_t i = 0; i < t->numel; i++) x[i] = (double)(float)x[i];
    return;
  case IR_F64:
  case IR_DTYPE_COUNT:
    return;
  case IR_I32:
    for (int64_t i = 0; i < t->numel; i++) x[i] = to_i32(x[i]);
    return;
  case IR_BOOL:
    for (int64_t i = 0; i < t->numel; i++) x[i] = x[i] != 0.0 ? 1.0 : 0.0;
    return;
  }
}

static void contiguous_strides(const int64_t *dims, int rank, int64_t *st) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = s;
    s *= dims[i];
  }
}

/* Strides that read t at the index of a rank-`rank` result it broadcasts to:
   axes are right-aligned; missing and size-1 axes read with stride 0. */
static void broadcast_strides(const IrTensor *t, int rank, int64_t *st) {
  int64_t own[IR_MAX_RANK];
  contiguous_strides(t->dims, t->rank, own);
  int lead = rank - t->rank;
  for (int i = 0; i < rank; i++) {
    int j = i - lead;
    st[i] = (j < 0 || t->dims[j] == 1) ? 0 : own[j];
  }
}

/* ---- strided walks -----------------------------------------------------------
   A walk visits an index space row by row (the last axis is the row) and
   keeps one element offset per array. Axes that are contiguous in every
   array are merged first, so equal-shape operands become one long row. */
#define WALK_ARRAYS 4

typedef struct Walk {
  int rank;                               /* >= 1 after walk_coalesce */
  int64_t dims[IR_MAX_RANK];
  int64_t st[WALK_ARRAYS][IR_MAX_RANK];   /* element strides; unused arrays 0 */
} Walk;

static void walk_init(Walk *w, const int64_t *dims, int rank) {
  memset(w, 0, sizeof *w);
  w->rank = rank;
  for (int i = 0; i < rank; i++) w->dims[i] = dims[i];
}

static bool walk_can_merge(const Walk *w, int outer, int inner) {
  for (int a = 0; a < WALK_ARRAYS; a++)
    if (w->st[a][outer] != w->st[a][inner] * w->dims[inner]) return false;
  return true;
}

/* Drops size-1 axes and merges an axis into the next when every array steps
   through both as one. */
static void walk_coalesce(Walk *w) {
  int r = 0;
  for (int i = 0; i < w->rank; i++) {
    if (w->dims[i] == 1) continue;
    if (r > 0 && walk_can_merge(w, r - 1, i)) {
      w->dims[r - 1] *= w->dims[i];
      for (int a = 0; a < WALK_ARRAYS; a++) w->st[a][r - 1] = w->st[a][i];
      continue;
    }
    w->dims[r] = w->dims[i];
    for (int a = 0; a < WALK_ARRAYS; a++) w->st[a][r] = w->st[a][i];
    r++;
  }
  if (r == 0) {
    w->dims[0] = 1;
    for (int a = 0; a < WALK_ARRAYS; a++) w->st[a][0] = 0;
    r = 1;
  }
  w->rank = r;
}

/* Steps to the next row (odometer over every axis but the last). */
static bool walk_next_row(const Walk *w, int64_t *idx, int64_t *off) {
  for (int ax = w->rank - 2; ax >= 0; ax--) {
    idx[ax]++;
    for (int a = 0; a < WALK_ARRAYS; a++) off[a] += w->st[a][ax];
    if (idx[ax] < w->dims[ax]) return true;
    for (int a = 0; a < WALK_ARRAYS; a++) off[a] -= w->st[a][ax] * w->dims[ax];
    idx[ax] = 0;
  }
  return false;
}

/* dst[i] = src[i] over an index space of shape dims, both strided. */
static void copy_strided(double *dst, const int64_t *dst_st, const double *src,
                         const int64_t *src_st, const int64_t *dims, int rank) {
  for (int i = 0; i < rank; i++)
    if (dims[i] == 0) return;
  Walk w;
  walk_init(&w, dims, rank);
  memcpy(w.st[0], dst_st, (size_t)rank * sizeof(int64_t));
  memcpy(w.st[1], src_st, (size_t)rank * sizeof(int64_t));
  walk_coalesce(&w);
  int last = w.rank - 1;
  int64_t n = w.dims[last], sd = w.st[0][last], ss = w.st[1][last];
  int64_t idx[IR_MAX_RANK] = {0}, off[WALK_ARRAYS] = {0};
  do {
    double *d = dst + off[0];
    const double *s = src + off[1];
    if (sd == 1 && ss == 1)
      memcpy(d, s, (size_t)n * sizeof(double));
    else
      for (int64_t i = 0; i < n; i++) d[i * sd] = s[i * ss];
  } while (walk_next_row(&w, idx, off));
}

/* ---- the hash op ----------------------------------------------------------------- */

static uint32_t hash_word(double v) {
  return fabs(v) < 2147483648.0 ? (uint32_t)(int64_t)v : 0;
}

double ir_hash24(double a, double b) {
  uint32_t h = hash_word(a) * 0x9E3779B1u;
  h ^= hash_word(b) + 0x7F4A7C15u + (h << 6) + (h >> 2);
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return (double)(h >> 8);
}

double ir_fmaximum(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) ? a : b;
  if (a == b) return signbit(a) ? b : a;
  return a > b ? a : b;
}

double ir_gelu_grad(double a) {
  if (isinf(a)) return a > 0;
  return 0.5 * erfc(-a * 0.70710678118654752440) + a * exp(-0.5 * a * a) * 0.39894228040143267794;
}

/* ---- SOURCE ------------------------------------------------------------------ */

static const char *source_kind(const IrNode *nd) {
  return nd->op == IR_OP_PARAM ? "param" : "input";
}

static bool check_bound(IrEval *e, IrRef id, McDiag *d) {
  const IrNode *nd = ir_node(e->g, id);
  IrTensor *t = &e->vals[id];
  const char *name = nd->name ? nd->name : "?";
  if (!t->data) {
    report(d, nd->loc, "%s '%s' is not bound", source_kind(nd), name);
    return false;
  }
  if (t->numel != node_numel(nd)) {
    report(d, nd->loc, "%s '%s' is bound to %lld elements, its type needs %lld",
           source_kind(nd), name, (long long)t->numel, (long long)node_numel(nd));
    return false;
  }
  return tensor_prepare(t, nd, id, &e->held, d); /* dims may be rebound: keeps the data */
}

static void eval_iota(IrTensor *t, int axis) {
  int64_t st[IR_MAX_RANK];
  contiguous_strides(t->dims, t->rank, st);
  bool has_axis = axis >= 0 && axis < t->rank;
  for (int64_t i = 0; i < t->numel; i++)
    t->data[i] = has_axis ? (double)((i / st[axis]) % t->dims[axis]) : 0.0;
}

static bool eval_source(IrEval *e, IrRef id, McDiag *d) {
  const IrNode *nd = ir_node(e->g, id);
  IrTensor *t = &e->vals[id];
  if (nd->op == IR_OP_INPUT || nd->op == IR_OP_PARAM) return check_bound(e, id, d);
  if (!tensor_prepare(t, nd, id, &e->held, d)) return false;
  if (nd->op == IR_OP_IOTA)
    eval_iota(t, nd->attr.axis);
  else
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = nd->attr.value;
  round_to_dtype(e, t);
  return true;
}

/* ---- ELEM ------------------------------------------------------------------ */

double ir_scalar(IrOp op, double a, double b, double c) {
  (void)b;
  (void)c;
  switch (op) {
#define S(E, expr) \
  case IR_OP_##E:  \
    return (expr);
#include "ir_scalar.def"
#undef S
  default:
    MC_UNREACHABLE();
  }
}

/* out[i] = op(a[i*sa], b[i*sb], c[i*sc]) for one row; the same table
   expanded once more with the loop inside each case, so the op is dispatched
   per row rather than per element. */
static void elem_row(IrOp op, double *out, int64_t n, const double *pa, int64_t sa,
                     const double *pb, int64_t sb, const double *pc, int64_t sc) {
  switch (op) {
#define S(E, expr)                                                        \
  case IR_OP_##E:                                                         \
    for (int64_t i = 0; i < n; i++) {                                     \
      double a = pa[i * sa], b = pb[i * sb], c = pc[i * sc];              \
      (void)a, (void)b, (void)c;                                          \
      out[i] = (expr);                                                    \
    }                                                                     \
    return;
#include "ir_scalar.def"
#undef S
  default:
    MC_UNREACHABLE();
  }
}

/* Maps the scalar over the broadcast index space of the result. Operands
   beyond the op's arity read a constant 0 with stride 0. */
static void eval_elem(IrEval *e, IrRef id) {
  const IrNode *nd = ir_node(e->g, id);
  IrTensor *out = &e->vals[id];
  if (out->numel == 0) return;
  Walk w;
  walk_init(&w, out->dims, out->rank);
  contiguous_strides(out->dims, out->rank, w.st[0]);
  const double *src[3] = {zero_operand, zero_operand, zero_operand};
  for (int k = 0; k < nd->nsrc && k < 3; k++) {
    const IrTensor *x = &e->vals[nd->src[k]];
    src[k] = x->data;
    broadcast_strides(x, out->rank, w.st[1 + k]);
  }
  walk_coalesce(&w);
  int last = w.rank - 1;
  int64_t idx[IR_MAX_RANK] = {0}, off[WALK_ARRAYS] = {0};
  do {
    elem_row((IrOp)nd->op, out->data + off[0], w.dims[last], src[0] + off[1], w.st[1][last],
             src[1] + off[2], w.st[2][last], src[2] + off[3], w.st[3][last]);
  } while (walk_next_row(&w, idx, off));
}

/* ---- REDUCE ---------------------------------------------------------------- */

static void reduce_row(IrOp op, double *out, int64_t so, const double *x, int64_t sx, int64_t n) {
  if (so == 0) {
    double acc = out[0];
    for (int64_t i = 0; i < n; i++) acc = ir_scalar(op, acc, x[i * sx], 0.0);
    out[0] = acc;
    return;
  }
  for (int64_t i = 0; i < n; i++) out[i * so] = ir_scalar(op, out[i * so], x[i * sx], 0.0);
}

/* Folds the operand into the result: the walk runs over the operand's index
   space, the result is read and written with stride 0 on reduced axes. */
static void eval_reduce(IrEval *e, IrRef id) {
  const IrNode *nd = ir_node(e->g, id);
  IrTensor *out = &e->vals[id];
  const IrTensor *x = &e->vals[nd->src[0]];
  double identity = nd->op == IR_OP_MAX ? -INFINITY : 0.0;
  for (int64_t i = 0; i < out->numel; i++) out->data[i] = identity;
  if (x->numel == 0 || out->numel == 0) return;
  int64_t ost[IR_MAX_RANK];
  contiguous_strides(out->dims, out->rank, ost);
  Walk w;
  walk_init(&w, x->dims, x->rank);
  contiguous_strides(x->dims, x->rank, w.st[0]);
  for (int i = 0, oi = 0; i < x->rank; i++) {
    bool reduced = (nd->attr.axes >> i) & 1u;
    w.st[1][i] = reduced ? 0 : ost[oi];
    if (!reduced || nd->attr.keepdims) oi++;
  }
  walk_coalesce(&w);
  int last = w.rank - 1;
  int64_t idx[IR_MAX_RANK] = {0}, off[WALK_ARRAYS] = {0};
  do {
    reduce_row((IrOp)nd->op, out->data + off[1], w.st[1][last], x->data + off[0], w.st[0][last],
               w.dims[last]);
  } while (walk_next_row(&w, idx, off));
}

/* ---- CONTRACT -------------------------------------------------------------- */

/* One 4x4 block of c = a b, accumulated over all of k in registers: per k,
   four elements of a column of a and four of a row of b give 16
   multiply-adds (the compiler pairs them into vector instructions). */
static void block4x4(const double *a, const double *b, double *c, int64_t K, int64_t N) {
  const double *a0 = a, *a1 = a + K, *a2 = a + 2 * K, *a3 = a + 3 * K;
  double c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  double c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (int64_t k = 0; k < K; k++) {
    const double *bk = b + k * N;
    double b0 = bk[0], b1 = bk[1], b2 = bk[2], b3 = bk[3];
    double x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
    c00 += x0 * b0, c01 += x0 * b1, c02 += x0 * b2, c03 += x0 * b3;
    c10 += x1 * b0, c11 += x1 * b1, c12 += x1 * b2, c13 += x1 * b3;
    c20 += x2 * b0, c21 += x2 * b1, c22 += x2 * b2, c23 += x2 * b3;
    c30 += x3 * b0, c31 += x3 * b1, c32 += x3 * b2, c33 += x3 * b3;
  }
  double *r0 = c, *r1 = c + N, *r2 = c + 2 * N, *r3 = c + 3 * N;
  r0[0] = c00, r0[1] = c01, r0[2] = c02, r0[3] = c03;
  r1[0] = c10, r1[1] = c11, r1[2] = c12, r1[3] = c13;
  r2[0] = c20, r2[1] = c21, r2[2] = c22, r2[3] = c23;
  r3[0] = c30, r3[1] = c31, r3[2] = c32, r3[3] = c33;
}

/* The same for a block at the right or bottom edge (rows x cols <= 4x4). */
static void block_edge(const double *a, const double *b, double *c, int64_t K, int64_t N,
                       int rows, int cols) {
  for (int r = 0; r < rows; r++)
    for (int q = 0; q < cols; q++) {
      double s = 0.0;
      for (int64_t k = 0; k < K; k++) s += a[r * K + k] * b[k * N + q];
      c[r * N + q] = s;
    }
}

/* c[M,N] = a[M,K] b[K,N], row-major, by 4x4 blocks of c. Every element is
   summed over k in increasing order. */
static void gemm(const double *a, const double *b, double *c, int64_t M, int64_t K, int64_t N) {
  for (int64_t j = 0; j < N; j += 4)
    for (int64_t i = 0; i < M; i += 4) {
      int rows = M - i < 4 ? (int)(M - i) : 4, cols = N - j < 4 ? (int)(N - j) : 4;
      if (rows == 4 && cols == 4)
        block4x4(a + i * K, b + j, c + i * N + j, K, N);
      else
        block_edge(a + i * K, b + j, c + i * N + j, K, N, rows, cols);
    }
}

/* Batched matmul: a[..., M, K] @ b[..., K, N] -> [..., M, N], the batch
   axes broadcast as in NumPy (operands have rank >= 2). */
static bool eval_matmul(IrEval *e, IrRef id, McDiag *d) {
  const IrNode *nd = ir_node(e->g, id);
  IrTensor *out = &e->vals[id];
  const IrTensor *A = &e->vals[nd->src[0]], *B = &e->vals[nd->src[1]];
  int ra = A->rank, rb = B->rank, nbatch_axes = out->rank - 2;
  if (ra < 2 || rb < 2 || nbatch_axes < ra - 2 || nbatch_axes < rb - 2) {
    report(d, nd->loc, "matmul of ranks %d and %d to rank %d at node %%%u", ra, rb, out->rank, id);
    return false;
  }
  int64_t M = A->dims[ra - 2], K = A->dims[ra - 1], N = B->dims[rb - 1], Kb = B->dims[rb - 2];
  int64_t nbatch = 1;
  for (int i = 0; i < nbatch_axes; i++) nbatch *= out->dims[i];
  if (K != Kb || nbatch * M * N != out->numel) {
    report(d, nd->loc, "matmul shapes do not match at node %%%u", id);
    return false;
  }
  /* Batch strides in units of elements: the operand's leading axes,
     right-aligned to the result's batch axes. */
  IrTensor abatch = *A, bbatch = *B;
  abatch.rank = ra - 2;
  bbatch.rank = rb - 2;
  int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK];
  broadcast_strides(&abatch, nbatch_axes, sa);
  broadcast_strides(&bbatch, nbatch_axes, sb);
  for (int64_t bi = 0; bi < nbatch; bi++) {
    int64_t rest = bi, oa = 0, ob = 0;
    for (int ax = nbatch_axes - 1; ax >= 0; ax--) {
      int64_t k = rest % out->dims[ax];
      rest /= out->dims[ax];
      oa += k * sa[ax];
      ob += k * sb[ax];
    }
    gemm(A->data + oa * M * K, B->data + ob * K * N, out->data + bi * M * N, M, K, N);
  }
  return true;
}

/* ---- MOVE ------------------------------------------------------------------ */

/* The operand lands at offset attr.start (the zeros before it) inside a
   zero result. */
static void eval_pad(const IrNode *nd, IrTensor *out, const IrTensor *x) {
  memset(out->data, 0, (size_t)out->numel * sizeof(double));
  int64_t xs[IR_MAX_RANK], os[IR_MAX_RANK], at = 0;
  contiguous_strides(x->dims, x->rank, xs);
  contiguous_strides(out->dims, out->rank, os);
  for (int i = 0; i < x->rank; i++) at += nd->attr.start[i] * os[i];
  copy_strided(out->data + at, os, x->data, xs, x->dims, x->rank);
}

static void eval_concat(const IrEval *e, const IrNode *nd, IrTensor *out) {
  int axis = nd->attr.axis;
  int64_t os[IR_MAX_RANK];
  contiguous_strides(out->dims, out->rank, os);
  int64_t at = 0;
  for (int k = 0; k < nd->nsrc; k++) {
    const IrTensor *x = &e->vals[nd->src[k]];
    int64_t xs[IR_MAX_RANK];
    contiguous_strides(x->dims, x->rank, xs);
    copy_strided(out->data + at * os[axis], os, x->data, xs, x->dims, x->rank);
    at += x->dims[axis];
  }
}

/* Strides into contiguous image `img` for the index space of its windows. */
static void window_strides(const IrNode *nd, const IrTensor *img, int64_t *st) {
  int64_t is[IR_MAX_RANK];
  contiguous_strides(img->dims, img->rank, is);
  ir_window_strides(nd, img->rank, is, st);
}

/* fold: every window element added into the image, in order (windows may
   overlap). */
static void eval_fold(const IrNode *nd, IrTensor *out, const IrTensor *y) {
  memset(out->data, 0, (size_t)out->numel * sizeof(double));
  if (y->numel == 0) return;
  int64_t st[IR_MAX_RANK], idx[IR_MAX_RANK] = {0};
  window_strides(nd, out, st);
  for (int64_t j = 0; j < y->numel; j++) {
    int64_t at = 0;
    for (int i = 0; i < y->rank; i++) at += idx[i] * st[i];
    out->data[at] += y->data[j];
    for (int i = y->rank - 1; i >= 0 && ++idx[i] == y->dims[i]; i--) idx[i] = 0;
  }
}

/* Moves elements by index arithmetic: every MOVE op is a strided copy. */
static void eval_move(IrEval *e, IrRef id) {
  const IrNode *nd = ir_node(e->g, id);
  IrTensor *out = &e->vals[id];
  const IrTensor *x = &e->vals[nd->src[0]];
  int64_t os[IR_MAX_RANK], xs[IR_MAX_RANK], st[IR_MAX_RANK];
  contiguous_strides(out->dims, out->rank, os);
  contiguous_strides(x->dims, x->rank, xs);
  int64_t off = 0;
  switch ((IrOp)nd->op) {
  case IR_OP_RESHAPE:
    memcpy(out->data, x->data, (size_t)out->numel * sizeof(double));
    return;
  case IR_OP_PERMUTE:
    for (int i = 0; i < out->rank; i++) st[i] = xs[nd->attr.perm[i]];
    break;
  case IR_OP_EXPAND:
    broadcast_strides(x, out->rank, st);
    break;
  case IR_OP_SLICE:
    for (int i = 0; i < out->rank; i++) {
      off += nd->attr.start[i] * xs[i];
      st[i] = nd->attr.step[i] * xs[i];
    }
    break;
  case IR_OP_PAD:
    eval_pad(nd, out, x);
    return;
  case IR_OP_CONCAT:
    eval_concat(e, nd, out);
    return;
  case IR_OP_UNFOLD:
    window_strides(nd, x, st);
    break;
  case IR_OP_FOLD:
    eval_fold(nd, out, x);
    return;
  default:
    MC_UNREACHABLE();
  }
  copy_strided(out->data, os, x->data + off, st, out->dims, out->rank);
}

/* ---- INDEX ------------------------------------------------------------------ */

static bool index_in_range(IrRef id, const IrNode *nd, double v, int64_t rows, McDiag *d) {
  if (v >= 0 && v < (double)rows) return true;
  report(d, nd->loc, "%s index %.17g out of range [0, %lld) at node %%%u", ir_ops[nd->op].name,
         v, (long long)rows, id);
  return false;
}

/* gather(table[V, r...], idx[s...]) -> [s..., r...]: row idx[j] of the table
   becomes row j of the result. scatter_add is its adjoint: row j of src is
   added to row idx[j] of a zero result. */
static bool eval_index(IrEval *e, IrRef id, McDiag *d) {
  const IrNode *nd = ir_node(e->g, id);
  IrTensor *out = &e->vals[id];
  const IrTensor *x = &e->vals[nd->src[0]], *idx = &e->vals[nd->src[1]];
  bool gather = nd->op == IR_OP_GATHER;
  const IrTensor *rows_of = gather ? x : out;
  if (rows_of->rank == 0) {
    report(d, nd->loc, "%s of a rank-0 tensor at node %%%u", ir_ops[nd->op].name, id);
    return false;
  }
  int64_t rows = rows_of->dims[0];
  int64_t width = rows > 0 ? rows_of->numel / rows : 0;
  if (!gather) memset(out->data, 0, (size_t)out->numel * sizeof(double));
  for (int64_t j = 0; j < idx->numel; j++) {
    double v = idx->data[j];
    if (!index_in_range(id, nd, v, rows, d)) return false;
    int64_t r = (int64_t)v;
    if (gather) {
      memcpy(out->data + j * width, x->data + r * width, (size_t)width * sizeof(double));
      continue;
    }
    double *dst = out->data + r * width;
    const double *src = x->data + j * width;
    for (int64_t t = 0; t < width; t++) dst[t] += src[t];
  }
  return true;
}

/* ---- the evaluator ------------------------------------------------------------ */

static bool eval_node(IrEval *e, IrRef id, McDiag *d) {
  const IrNode *nd = ir_node(e->g, id);
  IrOpClass cls = ir_ops[nd->op].cls;
  if (cls == IR_CLASS_SOURCE) return eval_source(e, id, d);
  IrTensor *out = &e->vals[id];
  if (!tensor_prepare(out, nd, id, &e->held, d)) return false;
  bool ok = true;
  switch (cls) {
  case IR_CLASS_SOURCE:
    break;
  case IR_CLASS_ELEM:
    eval_elem(e, id);
    break;
  case IR_CLASS_REDUCE:
    eval_reduce(e, id);
    break;
  case IR_CLASS_CONTRACT:
    ok = eval_matmul(e, id, d);
    break;
  case IR_CLASS_MOVE:
    eval_move(e, id);
    return true; /* elements are moved, not computed: nothing to round */
  case IR_CLASS_INDEX:
    ok = eval_index(e, id, d);
    break;
  case IR_CLASS_SYNC: /* part_sum: the reference runs the whole program, one copy */
    memcpy(e->vals[id].data, e->vals[ir_node(e->g, id)->src[0]].data,
           (size_t)e->vals[id].numel * sizeof(double));
    break;
  }
  if (ok) round_to_dtype(e, out);
  return ok;
}

IrEval *ir_eval_new(const IrGraph *g, bool f64) {
  IrEval *e = mc_xcalloc(1, sizeof *e);
  e->g = g;
  e->f64 = f64;
  e->n = g->nnodes;
  e->vals = mc_xcalloc(e->n ? e->n : 1, sizeof(IrTensor));
  return e;
}

void ir_eval_free(IrEval *e) {
  if (!e) return;
  for (uint32_t i = 0; i < e->n; i++) free(e->vals[i].data);
  free(e->vals);
  free(e);
}

/* The INPUT or PARAM node called `name`, or IR_NONE. */
static IrRef find_source(const IrEval *e, const char *name) {
  for (uint32_t i = 0; i < e->n; i++) {
    const IrNode *nd = ir_node(e->g, i);
    if ((nd->op == IR_OP_INPUT || nd->op == IR_OP_PARAM) && nd->name && !strcmp(nd->name, name))
      return i;
  }
  return IR_NONE;
}

bool ir_eval_bind(IrEval *e, const char *name, const double *data, int64_t n, McDiag *d) {
  IrRef id = find_source(e, name);
  if (id == IR_NONE) {
    report(d, (McLoc){0}, "no input or param named '%s'", name);
    return false;
  }
  const IrNode *nd = ir_node(e->g, id);
  if (n != node_numel(nd)) {
    report(d, nd->loc, "%s '%s' has %lld elements, %lld given", source_kind(nd), name,
           (long long)node_numel(nd), (long long)n);
    return false;
  }
  IrTensor *t = &e->vals[id];
  if (!tensor_prepare(t, nd, id, &e->held, d)) return false;
  memcpy(t->data, data, (size_t)n * sizeof(double));
  round_to_dtype(e, t);
  return true;
}

void ir_eval_init_params(IrEval *e, uint64_t seed) {
  for (uint32_t i = 0; i < e->n; i++) {
    const IrNode *nd = ir_node(e->g, i);
    if (nd->op != IR_OP_PARAM || e->vals[i].data || nd->attr.init.kind == IR_INIT_NONE) continue;
    if (!tensor_prepare(&e->vals[i], nd, i, &e->held, NULL)) continue;
    ir_init_fill(e->g, nd, seed, e->vals[i].data);
    round_to_dtype(e, &e->vals[i]);
  }
}

bool ir_eval_run(IrEval *e, McDiag *d) {
  if (e->g->nnodes < e->n) {
    report(d, (McLoc){0}, "graph shrank after the evaluator was created");
    return false;
  }
  for (uint32_t i = 0; i < e->n; i++)
    if (!eval_node(e, i, d)) return false;
  return true;
}

const IrTensor *ir_eval_value(const IrEval *e, IrRef r) {
  if (r >= e->n || !e->vals[r].data) return NULL;
  return &e->vals[r];
}

const IrTensor *ir_eval_output(const IrEval *e, IrOutKind kind, const char *name) {
  for (uint32_t i = 0; i < e->g->nouts; i++) {
    const IrOutput *o = &e->g->outs[i];
    if (o->kind == kind && (!name || (o->name && !strcmp(o->name, name))))
      return ir_eval_value(e, o->ref);
  }
  return NULL;
}

IrTensor *ir_eval_binding(IrEval *e, const char *name) {
  IrRef id = find_source(e, name);
  if (id == IR_NONE || !e->vals[id].data) return NULL;
  return &e->vals[id];
}

/* ---- ir_int_input_bound ----------------------------------------------------- */

static bool is_index_move(const IrNode *nd) {
  return ir_ops[nd->op].cls == IR_CLASS_MOVE ||
         (nd->op == IR_OP_CAST && nd->dtype != IR_BOOL);
}

/* The iota that r is, through single-operand MOVE and CAST ops; IR_NONE. */
static IrRef trace_to_iota(const IrGraph *g, IrRef r) {
  while (r < g->nnodes) {
    const IrNode *nd = ir_node(g, r);
    if (nd->op == IR_OP_IOTA) return r;
    if (nd->nsrc != 1 || !is_index_move(nd)) return IR_NONE;
    r = nd->src[0];
  }
  return IR_NONE;
}

/* The bound one use of a value derived from the input implies (0 = none):
   a gather's table rows, or an iota's length along its axis when compared. */
static int64_t use_bound(const IrGraph *g, const IrNode *user, int operand) {
  if (user->op == IR_OP_GATHER && operand == 1) {
    const IrNode *table = ir_node(g, user->src[0]);
    return table->shape.rank > 0 ? table->shape.d[0].n : 0;
  }
  if ((ir_ops[user->op].flags & IR_F_CMP) && user->nsrc == 2) {
    IrRef iota = trace_to_iota(g, user->src[1 - operand]);
    if (iota == IR_NONE) return 0;
    const IrNode *it = ir_node(g, iota);
    int axis = it->attr.axis;
    return axis >= 0 && axis < it->shape.rank ? it->shape.d[axis].n : 0;
  }
  return 0;
}

int64_t ir_int_input_bound(const IrGraph *g, IrRef input) {
  if (input >= g->nnodes || ir_node(g, input)->op != IR_OP_INPUT) return 0;
  /* derived[i]: node i is the input moved or cast (users come later in id
     order, so one forward scan sees every chain) */
  bool *derived = mc_xcalloc(g->nnodes, sizeof(bool));
  derived[input] = true;
  int64_t best = 0;
  for (uint32_t i = input + 1; i < g->nnodes; i++) {
    const IrNode *nd = ir_node(g, i);
    for (int k = 0; k < nd->nsrc; k++) {
      if (nd->src[k] >= g->nnodes || !derived[nd->src[k]]) continue;
      if (is_index_move(nd)) derived[i] = true;
      int64_t b = use_bound(g, nd, k);
      if (b > 0 && (best == 0 || b < best)) best = b;
    }
  }
  free(derived);
  return best;
}
