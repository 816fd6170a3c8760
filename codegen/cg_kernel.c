/* cg_kernel.c -- one loop-nest emitter per op class (ELEM, REDUCE, MOVE,
   INDEX, and IOTA among the sources); CONTRACT goes to cg_matmul.c. Every
   kernel is specialized for its node's static shapes: strides and trip
   counts are constants, axes are merged where every array allows, and the
   innermost loop runs along the result's contiguous axis so LLVM can
   vectorize it (buffer parameters are noalias). The element math comes from
   cg_scalar.c. Kernel parameters: out, in_0 .. in_{n-1}, ws, scratch, len. */
#include "cg_int.h"

static int64_t numel(const IrNode *n) { return ir_shape_numel(&n->shape); }

static const IrNode *operand(Cg *cx, const IrNode *n, int k) { return ir_node(cx->g, n->src[k]); }

static LLVMValueRef out_ptr(Cg *cx) { return cg_param(cx, 0); }
static LLVMValueRef in_ptr(Cg *cx, int k) { return cg_param(cx, 1 + k); }
static LLVMValueRef ws_ptr(Cg *cx, const IrNode *n) { return cg_param(cx, 1 + n->nsrc); }
static LLVMValueRef len_param(Cg *cx, const IrNode *n) { return cg_param(cx, 3 + n->nsrc); }

/* element index base + i * stride, folding the trivial cases */
static LLVMValueRef index_at(Cg *cx, LLVMValueRef base, LLVMValueRef i, int64_t stride) {
  if (stride == 0) return base;
  LLVMValueRef step = stride == 1 ? i : LLVMBuildNSWMul(cx->b, i, cg_i64(cx, stride), "");
  return LLVMBuildNSWAdd(cx->b, base, step, "");
}

/* The float type an ELEM node computes in: float when every operand and
   the result are f32 or bool, else double (exact for i32 and f64). */
static LLVMTypeRef compute_type(Cg *cx, const IrNode *n) {
  bool wide = n->dtype == IR_F64 || n->dtype == IR_I32;
  for (int k = 0; k < n->nsrc; k++) {
    IrDtype t = (IrDtype)operand(cx, n, k)->dtype;
    wide |= t == IR_F64 || t == IR_I32;
  }
  return wide ? cx->t_f64 : cx->t_f32;
}

static LLVMValueRef byte_size(Cg *cx, const IrNode *n) { return cg_i64(cx, cg_node_bytes(n)); }

static void zero_fill(Cg *cx, const IrNode *n) {
  LLVMBuildMemSet(cx->b, out_ptr(cx), LLVMConstInt(cx->t_i8, 0, 0), byte_size(cx, n), 1);
}

/* ---- IOTA ---------------------------------------------------------------------
   The walk carries a second "array" whose stride is 1 on the counting axis
   and 0 elsewhere: its offset is the value to store. */
static void iota_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  const IrNode *n = ctx;
  int last = w->rank - 1;
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), cg_i64(cx, w->dims[last]), cg_i64(cx, 1));
  LLVMValueRef v = index_at(cx, off[1], l.iv, w->st[1][last]);
  LLVMTypeRef t = cg_type(cx, (IrDtype)n->dtype);
  v = n->dtype == IR_I32 ? LLVMBuildTrunc(cx->b, v, t, "") : LLVMBuildSIToFP(cx->b, v, t, "");
  cg_store(cx, v, out_ptr(cx), index_at(cx, off[0], l.iv, w->st[0][last]));
  cg_for_end(cx, &l);
}

static void emit_iota(Cg *cx, const IrNode *n) {
  CgWalk w;
  cg_walk_init(&w, &n->shape);
  cg_contiguous_strides(&n->shape, w.st[0]);
  w.st[1][n->attr.axis] = 1;
  cg_walk_coalesce(&w);
  cg_walk_emit(cx, &w, iota_row, (void *)n);
}

/* ---- ELEM ----------------------------------------------------------------------
   The kernel depends only on the op, the dtypes and the merged walk, so
   nodes of different shapes with one walk share it; a one-axis walk (equal
   shapes, or a scalar broadcast) takes its length as the runtime argument,
   so such nodes share one kernel whatever their size. */
typedef struct Elem {
  const IrNode *n;
  IrDtype dt[3];      /* operand dtypes */
  LLVMTypeRef ct;     /* compute type */
  LLVMValueRef len;   /* runtime length of a one-axis walk, else NULL */
} Elem;

static void elem_walk(const IrGraph *g, const IrNode *n, CgWalk *w) {
  cg_walk_init(w, &n->shape);
  cg_contiguous_strides(&n->shape, w->st[0]);
  for (int k = 0; k < n->nsrc && k < 3; k++)
    cg_broadcast_strides(&ir_node(g, n->src[k])->shape, n->shape.rank, w->st[1 + k]);
  cg_walk_coalesce(w);
}

static void elem_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  Elem *e = ctx;
  int last = w->rank - 1;
  CgFor l;
  LLVMValueRef end = e->len && w->rank == 1 ? e->len : cg_i64(cx, w->dims[last]);
  cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), end, cg_i64(cx, 1));
  LLVMValueRef v[3] = {NULL, NULL, NULL};
  for (int k = 0; k < e->n->nsrc; k++) {
    LLVMValueRef x = cg_load(cx, cg_type(cx, e->dt[k]), in_ptr(cx, k),
                             index_at(cx, off[1 + k], l.iv, w->st[1 + k][last]));
    v[k] = cg_to_compute(cx, x, e->dt[k], e->ct);
  }
  LLVMValueRef r = cg_scalar(cx, (IrOp)e->n->op, e->ct, v[0], v[1], v[2]);
  r = cg_from_compute(cx, r, e->ct, (IrDtype)e->n->dtype);
  cg_store(cx, r, out_ptr(cx), index_at(cx, off[0], l.iv, w->st[0][last]));
  cg_for_end(cx, &l);
}

static void emit_elem(Cg *cx, const IrNode *n) {
  Elem e = {.n = n, .ct = compute_type(cx, n)};
  for (int k = 0; k < n->nsrc && k < 3; k++) e.dt[k] = (IrDtype)operand(cx, n, k)->dtype;
  CgWalk w;
  elem_walk(cx->g, n, &w);
  if (w.rank == 1) e.len = len_param(cx, n);
  cg_walk_emit(cx, &w, elem_row, &e);
}

static void elem_key(const IrGraph *g, const IrNode *n, McStr *k, int64_t *len) {
  CgWalk w;
  elem_walk(g, n, &w);
  mc_str_printf(k, "%s %s", ir_ops[n->op].name, ir_dtype_name((IrDtype)n->dtype));
  for (int i = 0; i < n->nsrc; i++) mc_str_printf(k, " %s", ir_dtype_name((IrDtype)ir_node(g, n->src[i])->dtype));
  for (int ax = 0; ax < w.rank; ax++) {
    if (w.rank > 1) mc_str_printf(k, " |%lld", (long long)w.dims[ax]);
    for (int a = 0; a <= n->nsrc && a < CG_WALK_ARRAYS; a++) mc_str_printf(k, ":%lld", (long long)w.st[a][ax]);
  }
  *len = w.rank == 1 ? w.dims[0] : 0;
}

/* ---- REDUCE ----------------------------------------------------------------------
   The result starts at the combiner's identity; the walk runs over the
   operand in memory order and folds each element into the result element it
   maps to (stride 0 on reduced axes). When the innermost axis is reduced
   the row folds into a register first; float sums may reassociate there so
   the loop vectorizes. */
typedef struct Reduce {
  const IrNode *n;
  IrDtype xt, ot;
  LLVMTypeRef ct;
} Reduce;

static LLVMValueRef combine(Cg *cx, const Reduce *r, LLVMValueRef acc, LLVMValueRef x,
                            bool reassoc) {
  LLVMValueRef v = cg_scalar(cx, (IrOp)r->n->op, r->ct, acc, x, NULL);
  if (reassoc && r->n->op == IR_OP_SUM && LLVMCanValueUseFastMathFlags(v))
    LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc);
  return v;
}

static void reduce_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  Reduce *r = ctx;
  int last = w->rank - 1;
  LLVMTypeRef xty = cg_type(cx, r->xt), oty = cg_type(cx, r->ot);
  CgFor l;
  if (w->st[1][last] == 0) {
    LLVMValueRef init = cg_to_compute(cx, cg_load(cx, oty, out_ptr(cx), off[1]), r->ot, r->ct);
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), cg_i64(cx, w->dims[last]), cg_i64(cx, 1));
    LLVMValueRef acc = cg_for_carry(cx, &l, init);
    LLVMValueRef x = cg_load(cx, xty, in_ptr(cx, 0), index_at(cx, off[0], l.iv, w->st[0][last]));
    LLVMValueRef next = combine(cx, r, acc, cg_to_compute(cx, x, r->xt, r->ct), true);
    cg_for_carry_next(cx, acc, next);
    cg_for_end(cx, &l);
    cg_store(cx, cg_from_compute(cx, next, r->ct, r->ot), out_ptr(cx), off[1]);
    return;
  }
  cg_for_begin(cx, &l, cg_i64(cx, 0), cg_i64(cx, w->dims[last]), cg_i64(cx, 1));
  LLVMValueRef oi = index_at(cx, off[1], l.iv, w->st[1][last]);
  LLVMValueRef acc = cg_to_compute(cx, cg_load(cx, oty, out_ptr(cx), oi), r->ot, r->ct);
  LLVMValueRef x = cg_load(cx, xty, in_ptr(cx, 0), index_at(cx, off[0], l.iv, w->st[0][last]));
  LLVMValueRef v = combine(cx, r, acc, cg_to_compute(cx, x, r->xt, r->ct), false);
  cg_store(cx, cg_from_compute(cx, v, r->ct, r->ot), out_ptr(cx), oi);
  cg_for_end(cx, &l);
}

static void fill_identity(Cg *cx, const Reduce *r) {
  double id = r->n->op == IR_OP_MAX ? -__builtin_inf() : 0.0;
  LLVMValueRef v = cg_from_compute(cx, LLVMConstReal(r->ct, id), r->ct, r->ot);
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), cg_i64(cx, numel(r->n)), cg_i64(cx, 1));
  cg_store(cx, v, out_ptr(cx), l.iv);
  cg_for_end(cx, &l);
}

static void emit_reduce(Cg *cx, const IrNode *n) {
  const IrNode *x = operand(cx, n, 0);
  Reduce r = {.n = n, .xt = (IrDtype)x->dtype, .ot = (IrDtype)n->dtype};
  r.ct = (r.xt == IR_F32 && r.ot == IR_F32) ? cx->t_f32 : cx->t_f64;
  fill_identity(cx, &r);
  if (numel(x) == 0) return;
  int64_t ost[IR_MAX_RANK];
  cg_contiguous_strides(&n->shape, ost);
  CgWalk w;
  cg_walk_init(&w, &x->shape);
  cg_contiguous_strides(&x->shape, w.st[0]);
  for (int i = 0, oi = 0; i < x->shape.rank; i++) {
    bool reduced = (n->attr.axes >> i) & 1u;
    w.st[1][i] = reduced ? 0 : ost[oi];
    if (!reduced || n->attr.keepdims) oi++;
  }
  cg_walk_coalesce(&w);
  cg_walk_emit(cx, &w, reduce_row, &r);
}

/* ---- MOVE ------------------------------------------------------------------------
   Every movement is a strided copy: array 0 is the destination, array 1 the
   source, each from its own base offset. */
typedef struct Copy {
  LLVMTypeRef ty;
  LLVMValueRef dst, src;
  int64_t dst_base, src_base;
} Copy;

static void copy_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  Copy *c = ctx;
  int last = w->rank - 1;
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), cg_i64(cx, w->dims[last]), cg_i64(cx, 1));
  LLVMValueRef si = index_at(cx, LLVMBuildNSWAdd(cx->b, off[1], cg_i64(cx, c->src_base), ""),
                             l.iv, w->st[1][last]);
  LLVMValueRef di = index_at(cx, LLVMBuildNSWAdd(cx->b, off[0], cg_i64(cx, c->dst_base), ""),
                             l.iv, w->st[0][last]);
  cg_store(cx, cg_load(cx, c->ty, c->src, si), c->dst, di);
  cg_for_end(cx, &l);
}

/* Copies over index space `shape` with the given strides and bases. */
static void strided_copy(Cg *cx, Copy *c, const IrShape *shape, const int64_t *dst_st,
                         const int64_t *src_st) {
  if (ir_shape_numel(shape) == 0) return;
  CgWalk w;
  cg_walk_init(&w, shape);
  for (int i = 0; i < shape->rank; i++) {
    w.st[0][i] = dst_st[i];
    w.st[1][i] = src_st[i];
  }
  cg_walk_coalesce(&w);
  cg_walk_emit(cx, &w, copy_row, c);
}

static void emit_move(Cg *cx, const IrNode *n) {
  const IrNode *x = operand(cx, n, 0);
  Copy c = {.ty = cg_type(cx, (IrDtype)n->dtype), .dst = out_ptr(cx), .src = in_ptr(cx, 0)};
  int64_t os[IR_MAX_RANK], xs[IR_MAX_RANK], st[IR_MAX_RANK];
  cg_contiguous_strides(&n->shape, os);
  cg_contiguous_strides(&x->shape, xs);
  switch ((IrOp)n->op) {
  case IR_OP_RESHAPE: /* only when it is an output's home: else an alias */
    LLVMBuildMemCpy(cx->b, out_ptr(cx), 1, in_ptr(cx, 0), 1, byte_size(cx, n));
    return;
  case IR_OP_PERMUTE:
    for (int i = 0; i < n->shape.rank; i++) st[i] = xs[n->attr.perm[i]];
    strided_copy(cx, &c, &n->shape, os, st);
    return;
  case IR_OP_EXPAND:
    cg_broadcast_strides(&x->shape, n->shape.rank, st);
    strided_copy(cx, &c, &n->shape, os, st);
    return;
  case IR_OP_SLICE:
    for (int i = 0; i < n->shape.rank; i++) {
      c.src_base += n->attr.start[i] * xs[i];
      st[i] = n->attr.step[i] * xs[i];
    }
    strided_copy(cx, &c, &n->shape, os, st);
    return;
  case IR_OP_PAD:
    zero_fill(cx, n);
    for (int i = 0; i < n->shape.rank; i++) c.dst_base += n->attr.start[i] * os[i];
    strided_copy(cx, &c, &x->shape, os, xs);
    return;
  case IR_OP_CONCAT:
    c.dst_base = 0;
    for (int k = 0; k < n->nsrc; k++) {
      const IrNode *part = operand(cx, n, k);
      cg_contiguous_strides(&part->shape, xs);
      c.src = in_ptr(cx, k);
      strided_copy(cx, &c, &part->shape, os, xs);
      c.dst_base += part->shape.d[n->attr.axis].n * os[n->attr.axis];
    }
    return;
  default:
    MC_UNREACHABLE();
  }
}

/* ---- INDEX -----------------------------------------------------------------------
   gather copies row idx[j] of the table to row j; scatter_add adds row j of
   the source into row idx[j] of a zero result. An index outside [0, rows)
   reads a zero row (gather) or is skipped (scatter_add) and is recorded in
   the workspace header, first one wins, for cg_program_run to report. */
static void record_bad_index(Cg *cx, const IrNode *n, IrRef id, LLVMValueRef v) {
  LLVMValueRef ws = ws_ptr(cx, n);
  LLVMValueRef errp = cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_ERR_NODE));
  LLVMValueRef seen = LLVMBuildLoad2(cx->b, cx->t_i32, errp, "");
  CgIf first;
  cg_if_begin(cx, &first, LLVMBuildICmp(cx->b, LLVMIntEQ, seen, LLVMConstInt(cx->t_i32, 0, 0), ""));
  LLVMBuildStore(cx->b, LLVMConstInt(cx->t_i32, id + 1ull, 0), errp);
  LLVMBuildStore(cx->b, v, cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_ERR_VALUE)));
  cg_if_end(cx, &first);
}

/* Rows and elements per row of the indexed operand (table or result). */
static void row_geometry(const IrNode *t, int64_t *rows, int64_t *width) {
  *rows = t->shape.d[0].n;
  *width = 1;
  for (int i = 1; i < t->shape.rank; i++) *width *= t->shape.d[i].n;
}

static void emit_gather(Cg *cx, const IrNode *n, IrRef id) {
  const IrNode *tab = operand(cx, n, 0), *idx = operand(cx, n, 1);
  int64_t rows, width;
  row_geometry(tab, &rows, &width);
  int64_t esz = cg_dtype_size((IrDtype)n->dtype), row_bytes = width * esz;
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), cg_i64(cx, numel(idx)), cg_i64(cx, 1));
  LLVMValueRef v = LLVMBuildSExt(cx->b, cg_load(cx, cx->t_i32, in_ptr(cx, 1), l.iv), cx->t_i64, "");
  LLVMValueRef dst = cg_gep(cx, cx->t_i8, out_ptr(cx), LLVMBuildNSWMul(cx->b, l.iv, cg_i64(cx, row_bytes), ""));
  CgIf ok;
  cg_if_begin(cx, &ok, LLVMBuildICmp(cx->b, LLVMIntULT, v, cg_i64(cx, rows), ""));
  LLVMValueRef src = cg_gep(cx, cx->t_i8, in_ptr(cx, 0), LLVMBuildNSWMul(cx->b, v, cg_i64(cx, row_bytes), ""));
  LLVMBuildMemCpy(cx->b, dst, 1, src, 1, cg_i64(cx, row_bytes));
  cg_if_else(cx, &ok);
  LLVMBuildMemSet(cx->b, dst, LLVMConstInt(cx->t_i8, 0, 0), cg_i64(cx, row_bytes), 1);
  record_bad_index(cx, n, id, v);
  cg_if_end(cx, &ok);
  cg_for_end(cx, &l);
}

static void emit_scatter_add(Cg *cx, const IrNode *n, IrRef id) {
  const IrNode *src = operand(cx, n, 0), *idx = operand(cx, n, 1);
  int64_t rows, width;
  row_geometry(n, &rows, &width);
  IrDtype dt = (IrDtype)n->dtype;
  LLVMTypeRef ty = cg_type(cx, dt), ct = dt == IR_F32 ? cx->t_f32 : cx->t_f64;
  zero_fill(cx, n);
  if (numel(src) == 0) return;
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), cg_i64(cx, numel(idx)), cg_i64(cx, 1));
  LLVMValueRef v = LLVMBuildSExt(cx->b, cg_load(cx, cx->t_i32, in_ptr(cx, 1), l.iv), cx->t_i64, "");
  CgIf ok;
  cg_if_begin(cx, &ok, LLVMBuildICmp(cx->b, LLVMIntULT, v, cg_i64(cx, rows), ""));
  LLVMValueRef dbase = LLVMBuildNSWMul(cx->b, v, cg_i64(cx, width), "");
  LLVMValueRef sbase = LLVMBuildNSWMul(cx->b, l.iv, cg_i64(cx, width), "");
  CgFor t;
  cg_for_begin(cx, &t, cg_i64(cx, 0), cg_i64(cx, width), cg_i64(cx, 1));
  LLVMValueRef di = LLVMBuildNSWAdd(cx->b, dbase, t.iv, "");
  LLVMValueRef a = cg_to_compute(cx, cg_load(cx, ty, out_ptr(cx), di), dt, ct);
  LLVMValueRef b = cg_to_compute(cx, cg_load(cx, ty, in_ptr(cx, 0), LLVMBuildNSWAdd(cx->b, sbase, t.iv, "")), dt, ct);
  cg_store(cx, cg_from_compute(cx, LLVMBuildFAdd(cx->b, a, b, ""), ct, dt), out_ptr(cx), di);
  cg_for_end(cx, &t);
  cg_if_else(cx, &ok);
  record_bad_index(cx, n, id, v);
  cg_if_end(cx, &ok);
  cg_for_end(cx, &l);
}

/* ---- kernel keys -----------------------------------------------------------------
   Everything a kernel's code depends on, as a string: nodes with equal keys
   share one kernel. INDEX kernels record their node id on a bad index, so
   they are never shared. */
static void put_shape(McStr *k, IrDtype t, const IrShape *s) {
  mc_str_printf(k, " %s[", ir_dtype_name(t));
  for (int i = 0; i < s->rank; i++) mc_str_printf(k, "%s%lld", i ? "," : "", (long long)s->d[i].n);
  mc_str_putc(k, ']');
}

static void shape_key(const IrGraph *g, IrRef id, McStr *k) {
  const IrNode *n = ir_node(g, id);
  const IrAttr *a = &n->attr;
  mc_str_puts(k, ir_ops[n->op].name);
  put_shape(k, (IrDtype)n->dtype, &n->shape);
  for (int i = 0; i < n->nsrc; i++) {
    const IrNode *x = ir_node(g, n->src[i]);
    put_shape(k, (IrDtype)x->dtype, &x->shape);
  }
  mc_str_printf(k, " axis=%d axes=%u keep=%d", a->axis, a->axes, a->keepdims);
  int rank = n->nsrc ? ir_node(g, n->src[0])->shape.rank : 0;
  if (n->shape.rank > rank) rank = n->shape.rank;
  for (int i = 0; i < rank; i++)
    mc_str_printf(k, " %d:%lld:%lld", a->perm[i], (long long)a->start[i], (long long)a->step[i]);
  if (ir_ops[n->op].cls == IR_CLASS_INDEX) mc_str_printf(k, " node=%u", id);
}

void cg_kernel_key(const IrGraph *g, IrRef id, McStr *key, int64_t *len) {
  const IrNode *n = ir_node(g, id);
  *len = 0;
  if (ir_ops[n->op].cls == IR_CLASS_ELEM)
    elem_key(g, n, key, len);
  else
    shape_key(g, id, key);
}

/* ---- dispatch -------------------------------------------------------------------- */

void cg_kernel_emit(Cg *cx, IrRef id) {
  const IrNode *n = ir_node(cx->g, id);
  switch (ir_ops[n->op].cls) {
  case IR_CLASS_SOURCE:
    MC_ASSERT(n->op == IR_OP_IOTA);
    emit_iota(cx, n);
    return;
  case IR_CLASS_ELEM:
    emit_elem(cx, n);
    return;
  case IR_CLASS_REDUCE:
    emit_reduce(cx, n);
    return;
  case IR_CLASS_CONTRACT:
    cg_matmul_emit(cx, id);
    return;
  case IR_CLASS_MOVE:
    emit_move(cx, n);
    return;
  case IR_CLASS_INDEX:
    if (n->op == IR_OP_GATHER)
      emit_gather(cx, n, id);
    else
      emit_scatter_add(cx, n, id);
    return;
  }
}
