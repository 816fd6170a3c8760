/* cg_kernel.c -- lowers each node to calls of shared kernels, with one
   loop-nest emitter per op class (ELEM, REDUCE, MOVE, INDEX, and IOTA among
   the sources); CONTRACT goes to cg_matmul.c. A kernel's code depends only
   on its key: extents and strides that vary between nodes are arguments
   (the call's descriptor), so every node with the same op, dtypes and
   broadcast pattern shares one kernel. Axes are merged where every array
   allows, and the innermost loop runs along the result's contiguous axis
   so LLVM can vectorize it (a kernel's buffers never overlap: noalias
   scopes). Every movement (permute, expand, slice, pad, concat) is a
   strided copy by one kernel per element size. The element math comes from
   cg_scalar.c. Kernel arguments (cg_karg): out, in..., ws, scratch, then
   the call's extents. */
#include <inttypes.h>
#include <string.h>

#include "cg_int.h"

static int64_t numel(const IrNode *n) { return ir_shape_numel(&n->shape); }

static const IrNode *node_of(Cg *cx, const CgCall *c) { return ir_node(cx->g, c->node); }
static const IrNode *operand(Cg *cx, const IrNode *n, int k) { return ir_node(cx->g, n->src[k]); }

static LLVMValueRef out_ptr(Cg *cx) { return cg_karg(cx, 0); }
static LLVMValueRef in_ptr(Cg *cx, int k) { return cg_karg(cx, 1 + k); }
static LLVMValueRef ws_ptr(Cg *cx, const CgCall *c) { return cg_karg(cx, 1 + c->nin); }
static LLVMValueRef extent(Cg *cx, const CgCall *c, int i) { return cg_karg(cx, 3 + c->nin + i); }

/* element index base + i * stride of array a on the walk's innermost axis */
static LLVMValueRef inner_index(Cg *cx, const CgWalk *w, int a, LLVMValueRef base, LLVMValueRef i) {
  return cg_index_at(cx, base, i, w->vst[a][w->rank - 1]);
}

static LLVMValueRef inner_extent(const CgWalk *w) { return w->vdims[w->rank - 1]; }

/* ---- calls ---------------------------------------------------------------------- */

static void call_init(Cg *cx, CgCall *c, IrRef node, const char *kind) {
  memset(c, 0, sizeof *c);
  c->node = node;
  c->kind = kind;
  c->out = cg_plan_entry(cx->plan, cx->g, node);
}

static void call_input(Cg *cx, CgCall *c, IrRef operand_node) {
  MC_ASSERT(c->nin < (int)MC_COUNTOF(c->in));
  c->in[c->nin++] = cg_plan_entry(cx->plan, cx->g, operand_node);
}

static void call_extent(CgCall *c, int64_t v) {
  MC_ASSERT(c->n < CG_MAX_EXTENTS);
  c->ext[c->n++] = v;
}

void cg_key_printf(CgCall *c, const char *fmt, ...) {
  size_t used = strlen(c->key);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->key + used, sizeof c->key - used, fmt, ap);
  va_end(ap);
}

/* ---- zero and memcpy: byte counts as extents ------------------------------------------
   A result zeroed (a pad's border, an empty product) as 64-byte stores;
   when big, in parts over its leading axis's rows (extents: bytes, rows;
   both linear in a batch dim). glibc's memset zeroed a padded feature map
   of 3.7 MB with `rep stosb` at about 4.5 GB/s on a Zen 4 (0.82 ms, right
   after both cores had read it): the kernel is kept from turning its loop
   back into a memset call. */
#define ZERO_PARALLEL_BYTES 131072

static void no_memset_calls(Cg *cx) {
  LLVMAddAttributeAtIndex(cx->fn, LLVMAttributeFunctionIndex,
                          LLVMCreateStringAttribute(cx->ctx, "no-builtins", 11, "", 0));
}

static void zero_bytes(Cg *cx, LLVMValueRef at, LLVMValueRef n) {
  LLVMTypeRef vt = LLVMVectorType(cx->t_i64, 8);
  LLVMValueRef whole = LLVMBuildAnd(cx->b, n, cg_i64(cx, ~(int64_t)63), "");
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), whole, cg_i64(cx, 64));
  LLVMValueRef st = LLVMBuildStore(cx->b, LLVMConstNull(vt), cg_gep(cx, cx->t_i8, at, l.iv));
  LLVMSetAlignment(st, 1);
  cg_for_end(cx, &l);
  cg_for_begin(cx, &l, whole, n, cg_i64(cx, 1));
  cg_store(cx, LLVMConstInt(cx->t_i8, 0, 0), cg_gep(cx, cx->t_i8, at, l.iv), cg_i64(cx, 0));
  cg_for_end(cx, &l);
}

/* Rows [begin, end) of the leading axis, or all. */
static void emit_zero_walk(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end) {
  no_memset_calls(cx);
  LLVMValueRef bytes = extent(cx, c, 0), from = cg_i64(cx, 0), to = bytes;
  if (begin) {
    LLVMValueRef row = LLVMBuildSDiv(cx->b, bytes, extent(cx, c, 1), "");
    from = LLVMBuildNSWMul(cx->b, begin, row, "");
    to = LLVMBuildNSWMul(cx->b, end, row, "");
  }
  zero_bytes(cx, cg_gep(cx, cx->t_i8, out_ptr(cx), from), LLVMBuildNSWSub(cx->b, to, from, ""));
}

static void emit_zero(Cg *cx, const CgCall *c) { cg_emit_in_parts(cx, c, emit_zero_walk); }

static int64_t leading_rows(const IrNode *n) { return n->shape.rank ? n->shape.d[0].n : 1; }

static void lower_zero(Cg *cx, IrRef id, CgAddCall add) {
  CgCall c;
  call_init(cx, &c, id, "zero");
  const IrNode *n = ir_node(cx->g, id);
  c.parallel = cg_zero_parallel(cx->tgt, cx->g, id);
  snprintf(c.key, sizeof c.key, "zero%s", c.parallel ? " parts" : "");
  c.emit = emit_zero;
  call_extent(&c, cg_node_bytes(n));
  call_extent(&c, leading_rows(n));
  c.split_axis = 1;
  add(cx, &c);
}

bool cg_zero_parallel(const CgTarget *t, const IrGraph *g, IrRef id) {
  const IrNode *n = ir_node(g, id);
  return t->threads >= 2 && cg_node_bytes(n) >= ZERO_PARALLEL_BYTES && leading_rows(n) >= 2;
}

static void emit_memcpy(Cg *cx, const CgCall *c) {
  cg_tag(cx, LLVMBuildMemCpy(cx->b, out_ptr(cx), 1, in_ptr(cx, 0), 1, extent(cx, c, 0)), 0, 1);
}

void cg_copy_call(Cg *cx, CgCall *c, IrRef node, int64_t dst_entry, int64_t bytes) {
  call_init(cx, c, node, "memcpy");
  snprintf(c->key, sizeof c->key, "memcpy");
  c->emit = emit_memcpy;
  c->out = dst_entry;
  call_input(cx, c, node);
  call_extent(c, bytes);
}

/* ---- IOTA ------------------------------------------------------------------------------
   The walk carries a second "array" whose stride is 1 on the counting axis
   and 0 elsewhere: its offset is the value to store. The extents are the
   call's, so iotas of any size share a kernel. */
static void iota_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  const IrNode *n = ctx;
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), inner_extent(w), cg_i64(cx, 1));
  LLVMValueRef v = inner_index(cx, w, 1, off[1], l.iv);
  LLVMTypeRef t = cg_type(cx, (IrDtype)n->dtype);
  v = n->dtype == IR_I32 ? LLVMBuildTrunc(cx->b, v, t, "") : LLVMBuildSIToFP(cx->b, v, t, "");
  cg_store(cx, v, out_ptr(cx), inner_index(cx, w, 0, off[0], l.iv));
  cg_for_end(cx, &l);
}

static void iota_walk(const IrNode *n, CgWalk *w) {
  cg_walk_init(w, &n->shape);
  cg_contiguous_strides(&n->shape, w->st[0]);
  w->st[1][n->attr.axis] = 1;
  cg_walk_coalesce(w);
}

static void emit_iota(Cg *cx, const CgCall *c) {
  const IrNode *n = node_of(cx, c);
  CgWalk w;
  iota_walk(n, &w);
  cg_walk_runtime(cx, &w, 3 + c->nin);
  cg_walk_emit(cx, &w, iota_row, (void *)n);
}

static void lower_iota(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id);
  CgWalk w;
  iota_walk(n, &w);
  CgCall c;
  call_init(cx, &c, id, "iota");
  snprintf(c.key, sizeof c.key, "iota %s rank=%d/%x/%x", ir_dtype_name((IrDtype)n->dtype), w.rank,
           cg_walk_mask(&w, 0), cg_walk_mask(&w, 1));
  for (int i = 0; i < w.rank; i++)
    call_extent(&c, w.dims[i]);
  c.emit = emit_iota;
  add(cx, &c);
}

/* ---- ELEM ---------------------------------------------------------------------------- */

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

typedef struct Elem {
  const IrNode *n;
  IrDtype dt[3];  /* operand dtypes */
  LLVMTypeRef ct; /* compute type */
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
  CgFor l;
  cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), inner_extent(w), cg_i64(cx, 1));
  LLVMValueRef v[3] = {NULL, NULL, NULL};
  for (int k = 0; k < e->n->nsrc; k++) {
    LLVMValueRef x = cg_load(cx, cg_type(cx, e->dt[k]), in_ptr(cx, k),
                             inner_index(cx, w, 1 + k, off[1 + k], l.iv));
    v[k] = cg_to_compute(cx, x, e->dt[k], e->ct);
  }
  LLVMValueRef r = cg_scalar(cx, (IrOp)e->n->op, e->ct, v[0], v[1], v[2]);
  r = cg_from_compute(cx, r, e->ct, (IrDtype)e->n->dtype);
  cg_store(cx, r, out_ptr(cx), inner_index(cx, w, 0, off[0], l.iv));
  cg_for_end(cx, &l);
}

/* Elements of at least this many run in parts, split along the outermost
   axis of the walk (each result element is computed by one part, so the
   results do not depend on the thread count). */
#define PARALLEL_MIN_ELEMS 65536

static void emit_elem_walk(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end) {
  const IrNode *n = node_of(cx, c);
  Elem e = {.n = n, .ct = compute_type(cx, n)};
  for (int k = 0; k < n->nsrc && k < 3; k++)
    e.dt[k] = (IrDtype)operand(cx, n, k)->dtype;
  CgWalk w;
  elem_walk(cx->g, n, &w);
  cg_walk_runtime(cx, &w, 3 + c->nin);
  if (begin) { /* rows [begin, end) of the outermost axis */
    for (int a = 0; a <= c->nin; a++) {
      IrDtype t = a == 0 ? (IrDtype)n->dtype : e.dt[a - 1];
      LLVMValueRef at = LLVMBuildNSWMul(cx->b, begin, w.vst[a][0], "");
      cx->kargs[a] = cg_gep(cx, cg_type(cx, t), cx->kargs[a], at);
    }
    w.vdims[0] = LLVMBuildNSWSub(cx->b, end, begin, "");
  }
  cx->interleave = cg_op_interleave((IrOp)n->op);
  cg_walk_emit(cx, &w, elem_row, &e);
  cx->interleave = 0;
}

/* part(ctx = {ws, desc}, begin, end): the kernel over rows [begin, end). */
static LLVMValueRef emit_part(Cg *cx, const CgCall *c, const char *name, CgPartWalk walk) {
  LLVMTypeRef p[3] = {cx->t_ptr, cx->t_i64, cx->t_i64};
  LLVMValueRef fn = cg_function(cx, name, cx->t_void, p, 3);
  cg_set_local(cx, fn);
  cg_set_fn_attr(cx, fn, "nounwind");
  cx->fn = fn;
  LLVMPositionBuilderAtEnd(cx->b, cg_block(cx, "entry"));
  LLVMValueRef ctx = cg_param(cx, 0);
  LLVMValueRef ws = cg_load(cx, cx->t_ptr, ctx, cg_i64(cx, 0));
  cg_kernel_decode(cx, ws, cg_load(cx, cx->t_ptr, ctx, cg_i64(cx, 1)), false);
  walk(cx, c, cg_param(cx, 1), cg_param(cx, 2));
  LLVMBuildRetVoid(cx->b);
  return fn;
}

void cg_emit_in_parts(Cg *cx, const CgCall *c, CgPartWalk walk) {
  if (!c->parallel) {
    walk(cx, c, NULL, NULL);
    return;
  }
  LLVMValueRef kernel = cx->fn, ws = ws_ptr(cx, c), desc = cx->kdesc;
  LLVMValueRef rows = extent(cx, c, c->split_axis);
  LLVMBasicBlockRef at = LLVMGetInsertBlock(cx->b);
  char name[80];
  snprintf(name, sizeof name, "%s_part", LLVMGetValueName(kernel));
  LLVMValueRef part = emit_part(cx, c, name, walk);
  cx->fn = kernel;
  LLVMPositionBuilderAtEnd(cx->b, at);
  cg_kernel_decode(cx, ws, desc, false);
  LLVMValueRef ctx = LLVMBuildAlloca(cx->b, LLVMArrayType(cx->t_ptr, 2), "ctx");
  cg_store(cx, ws, ctx, cg_i64(cx, 0));
  cg_store(cx, desc, ctx, cg_i64(cx, 1));
  LLVMValueRef pool = LLVMBuildLoad2(cx->b, cx->t_ptr, ws, "pool"); /* CG_WS_POOL */
  LLVMTypeRef pf[4] = {cx->t_ptr, cx->t_i64, cx->t_ptr, cx->t_ptr};
  LLVMValueRef pfor = cg_function(cx, "rt_parallel_for", cx->t_void, pf, 4);
  cg_call(cx, pfor, (LLVMValueRef[]){pool, rows, part, ctx}, 4);
}

static void emit_elem(Cg *cx, const CgCall *c) { cg_emit_in_parts(cx, c, emit_elem_walk); }

bool cg_elem_parallel(const CgTarget *t, const IrGraph *g, IrRef id) {
  const IrNode *n = ir_node(g, id);
  if (t->threads < 2 || ir_ops[n->op].cls != IR_CLASS_ELEM ||
      ir_shape_numel(&n->shape) < PARALLEL_MIN_ELEMS)
    return false;
  CgWalk w;
  elem_walk(g, n, &w);
  return w.dims[0] >= 2;
}

static void lower_elem(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id);
  CgWalk w;
  elem_walk(cx->g, n, &w);
  CgCall c;
  call_init(cx, &c, id, ir_ops[n->op].name);
  snprintf(c.key, sizeof c.key, "%s %s", ir_ops[n->op].name, ir_dtype_name((IrDtype)n->dtype));
  for (int k = 0; k < n->nsrc; k++) {
    cg_key_printf(&c, " %s/%x", ir_dtype_name((IrDtype)operand(cx, n, k)->dtype),
               cg_walk_mask(&w, 1 + k));
    call_input(cx, &c, n->src[k]);
  }
  cg_key_printf(&c, " rank=%d/%x", w.rank, cg_walk_mask(&w, 0));
  c.parallel = cg_elem_parallel(cx->tgt, cx->g, id);
  if (c.parallel)
    cg_key_printf(&c, " parts");
  for (int i = 0; i < w.rank; i++)
    call_extent(&c, w.dims[i]);
  c.emit = emit_elem;
  add(cx, &c);
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

static bool is_zero(LLVMValueRef v) {
  return LLVMIsAConstantInt(v) && LLVMConstIntGetSExtValue(v) == 0;
}

static void reduce_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  Reduce *r = ctx;
  LLVMTypeRef xty = cg_type(cx, r->xt), oty = cg_type(cx, r->ot);
  CgFor l;
  if (is_zero(w->vst[1][w->rank - 1])) {
    LLVMValueRef init = cg_to_compute(cx, cg_load(cx, oty, out_ptr(cx), off[1]), r->ot, r->ct);
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), inner_extent(w), cg_i64(cx, 1));
    LLVMValueRef acc = cg_for_carry(cx, &l, init);
    LLVMValueRef x = cg_load(cx, xty, in_ptr(cx, 0), inner_index(cx, w, 0, off[0], l.iv));
    LLVMValueRef next = combine(cx, r, acc, cg_to_compute(cx, x, r->xt, r->ct), true);
    cg_for_carry_next(cx, acc, next);
    cg_for_end(cx, &l);
    cg_store(cx, cg_from_compute(cx, next, r->ct, r->ot), out_ptr(cx), off[1]);
    return;
  }
  cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), inner_extent(w), cg_i64(cx, 1));
  LLVMValueRef oi = inner_index(cx, w, 1, off[1], l.iv);
  LLVMValueRef acc = cg_to_compute(cx, cg_load(cx, oty, out_ptr(cx), oi), r->ot, r->ct);
  LLVMValueRef x = cg_load(cx, xty, in_ptr(cx, 0), inner_index(cx, w, 0, off[0], l.iv));
  LLVMValueRef v = combine(cx, r, acc, cg_to_compute(cx, x, r->xt, r->ct), false);
  cg_store(cx, cg_from_compute(cx, v, r->ct, r->ot), out_ptr(cx), oi);
  cg_for_end(cx, &l);
}

/* The combiner's identity as a value of the result's type. */
static LLVMValueRef identity(Cg *cx, const Reduce *r) {
  double id = r->n->op == IR_OP_MAX ? -__builtin_inf() : 0.0;
  return cg_from_compute(cx, LLVMConstReal(r->ct, id), r->ct, r->ot);
}

/* The result's elements: the product of the extents it moves along. */
static void fill_identity(Cg *cx, const Reduce *r, const CgWalk *w) {
  LLVMValueRef v = identity(cx, r);
  LLVMValueRef count = cg_i64(cx, 1);
  for (int i = 0; i < w->rank; i++)
    if (w->st[1][i])
      count = LLVMBuildNSWMul(cx->b, count, w->vdims[i], "");
  CgFor l;
  cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), count, cg_i64(cx, 1));
  cg_store(cx, v, out_ptr(cx), l.iv);
  cg_for_end(cx, &l);
}

/* Over the operand: array 0 the operand (contiguous), array 1 the result
   (stride 0 on reduced axes). An empty operand walks the result instead. */
static void reduce_walk(const IrGraph *g, const IrNode *n, CgWalk *w) {
  const IrNode *x = ir_node(g, n->src[0]);
  int64_t ost[IR_MAX_RANK];
  cg_contiguous_strides(&n->shape, ost);
  if (numel(x) == 0) {
    cg_walk_init(w, &n->shape);
    memcpy(w->st[1], ost, sizeof ost);
    cg_walk_coalesce(w);
    return;
  }
  cg_walk_init(w, &x->shape);
  cg_contiguous_strides(&x->shape, w->st[0]);
  for (int i = 0, oi = 0; i < x->shape.rank; i++) {
    bool reduced = (n->attr.axes >> i) & 1u;
    w->st[1][i] = reduced ? 0 : ost[oi];
    if (!reduced || n->attr.keepdims)
      oi++;
  }
  cg_walk_coalesce(w);
}

/* A reduced innermost axis this short (a pooling window's row) folds
   poorly as a loop of its own (a few elements, then a store that the next
   row loads again): the kernel walks the kept axis outside it instead, a
   vector of results at a time, and folds each result's short rows into it
   in registers (one wide load per row, a shuffle per element of the row).
   Each result element folds its elements in the same order as before.
   When no reduced axis is left to the outer walk, a result starts at the
   identity in a register and is stored once: no pass filling the result
   and no load of it, whose masked store and masked load of the next
   vector (overlapping by address, not by lanes) waited on each other
   (lenet's first 2x2 pool took 0.137 ms on one thread, now 0.043 ms).
   The row's length is in the kernel's key. */
#define SHORT_ROW 8

static bool short_reduced_row(const CgWalk *w, IrDtype xt, IrDtype ot) {
  int r = w->rank;
  return r >= 2 && w->st[1][r - 1] == 0 && w->dims[r - 1] <= SHORT_ROW && w->st[1][r - 2] != 0 &&
         xt == ot && (ot == IR_F32 || ot == IR_F64);
}

/* The axis a reduction's walk runs in parts along: its outermost, or,
   when that one is reduced, the outermost that the result moves along if
   it is not the innermost (batch norm's per-channel sums of [B, C, H*W]
   run in parts along C). -1: none. Rows folded as short rows keep their
   walk. */
static int reduce_parts_axis(const CgWalk *w, IrDtype xt, IrDtype ot) {
  if (w->rank < 2 || w->dims[0] < 2)
    return -1;
  if (w->st[1][0] != 0)
    return 0;
  if (short_reduced_row(w, xt, ot))
    return -1;
  for (int k = 1; k < w->rank - 1; k++)
    if (w->st[1][k] != 0)
      return w->dims[k] >= 2 ? k : -1;
  return -1;
}

/* Walks axis k outermost (after cg_walk_runtime: the runtime strides
   move with it). Each result element still folds its elements in the
   same order: only the kept axis k moves, which changes the result. */
static void walk_axis_outermost(CgWalk *w, int k) {
  for (int i = k; i > 0; i--) {
    int64_t d = w->dims[i];
    LLVMValueRef vd = w->vdims[i];
    w->dims[i] = w->dims[i - 1], w->dims[i - 1] = d;
    w->vdims[i] = w->vdims[i - 1], w->vdims[i - 1] = vd;
    for (int a = 0; a < CG_WALK_ARRAYS; a++) {
      int64_t st = w->st[a][i];
      LLVMValueRef vst = w->vst[a][i];
      w->st[a][i] = w->st[a][i - 1], w->st[a][i - 1] = st;
      w->vst[a][i] = w->vst[a][i - 1], w->vst[a][i - 1] = vst;
    }
  }
}

typedef struct ShortRow {
  Reduce *r;
  bool whole; /* each result folds all its elements here: it starts at the
                 identity in a register, not from memory */
  int len;   /* the short row's length E */
  int lanes; /* result elements per vector, lanes * E <= 64 */
  LLVMValueRef rows, row_step; /* a reduced axis outside the kept one (NULL: none):
                                  its extent and the operand's stride along it */
} ShortRow;

/* Folds element e = 0..E-1 of each short row in wide into acc. */
static LLVMValueRef fold_short_rows(Cg *cx, const ShortRow *sr, LLVMValueRef acc,
                                    LLVMValueRef wide) {
  int E = sr->len, L = sr->lanes;
  for (int e = 0; e < E; e++) {
    LLVMValueRef pick[64];
    for (int l = 0; l < L; l++)
      pick[l] = LLVMConstInt(cx->t_i32, (unsigned long long)(e + l * E), 0);
    LLVMValueRef x = LLVMBuildShuffleVector(cx->b, wide, LLVMGetPoison(LLVMTypeOf(wide)),
                                            LLVMConstVector(pick, (unsigned)L), "");
    acc = combine(cx, sr->r, acc, x, false);
  }
  return acc;
}

/* Result elements [i, i + lanes) (those under the mask): their E * lanes
   operand elements in one load per row of the outer reduced axis (if
   any), each short row's element e picked out by a shuffle; the result
   is loaded and stored once. */
static void short_rows_vector(Cg *cx, const ShortRow *sr, const CgWalk *w, LLVMValueRef *off,
                              LLVMValueRef i, LLVMValueRef mask, LLVMValueRef wide_mask) {
  Reduce *r = sr->r;
  LLVMTypeRef et = cg_type(cx, r->ot), vt = LLVMVectorType(et, (unsigned)sr->lanes);
  LLVMTypeRef wt = LLVMVectorType(et, (unsigned)(sr->lanes * sr->len));
  unsigned esz = (unsigned)cg_dtype_size(r->ot);
  LLVMValueRef oi = inner_index(cx, w, 1, off[1], i);
  LLVMValueRef xi = inner_index(cx, w, 0, off[0], i);
  LLVMValueRef acc;
  if (sr->whole) {
    LLVMValueRef ids[64];
    for (int l = 0; l < sr->lanes; l++)
      ids[l] = identity(cx, r);
    acc = LLVMConstVector(ids, (unsigned)sr->lanes);
  } else {
    acc = cg_masked_load(cx, vt, out_ptr(cx), oi, mask, esz);
  }
  if (sr->rows) {
    CgFor l;
    cg_for_begin_nonempty(cx, &l, cg_i64(cx, 0), sr->rows, cg_i64(cx, 1));
    LLVMValueRef carried = cg_for_carry(cx, &l, acc);
    LLVMValueRef at = cg_index_at(cx, xi, l.iv, sr->row_step);
    acc = fold_short_rows(cx, sr, carried, cg_masked_load(cx, wt, in_ptr(cx, 0), at, wide_mask, esz));
    cg_for_carry_next(cx, carried, acc);
    cg_for_end(cx, &l);
  } else {
    acc = fold_short_rows(cx, sr, acc, cg_masked_load(cx, wt, in_ptr(cx, 0), xi, wide_mask, esz));
  }
  cg_masked_store(cx, acc, et, out_ptr(cx), oi, mask, esz);
}

/* One step of the walk without the short row: the kept axis outside it,
   lanes result elements at a time (the operand is contiguous, so element
   e of result j sits at j * E + e; the result's stride along it is 1). */
static void reduce_short_rows(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  const ShortRow *sr = ctx;
  LLVMValueRef n = inner_extent(w), L = cg_i64(cx, sr->lanes), E = cg_i64(cx, sr->len);
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), n, L);
  LLVMValueRef first = LLVMBuildNSWMul(cx->b, l.iv, E, "");
  LLVMValueRef wide_mask = cg_lane_mask(cx, sr->lanes * sr->len, first,
                                        LLVMBuildNSWMul(cx->b, n, E, ""));
  short_rows_vector(cx, sr, w, off, l.iv, cg_lane_mask(cx, sr->lanes, l.iv, n), wide_mask);
  cg_for_end(cx, &l);
}

/* Results per vector: the target's lanes (fewer when a vector would span
   more than 64 elements of short rows), halved while half still holds a
   whole run of the kept axis (its 5 results in 8 lanes, not 16). */
static int short_lanes(const Cg *cx, const CgWalk *w, IrDtype ot) {
  int L = cx->tgt->vector_bytes / cg_dtype_size(ot), len = (int)w->dims[w->rank - 1];
  while (L * len > 64) L /= 2;
  while (L > 4 && L / 2 >= w->dims[w->rank - 2]) L /= 2;
  return L;
}

/* Whether the short-row walk folds every element of each result in one
   step: no reduced axis left to the outer walk (the axes outside the kept
   one, less a reduced one right outside it, folded with the short row). */
static bool short_rows_whole(const CgWalk *w) {
  int k = w->rank - 2; /* the kept axis */
  int outer = k >= 1 && w->st[1][k - 1] == 0 ? k - 1 : k;
  for (int a = 0; a < outer; a++)
    if (w->st[1][a] == 0) return false;
  return true;
}

/* Walks w without its short innermost row (nor the reduced axis outside
   the kept one, when there is one: a pooling window's other rows), folding
   them in each step. */
static void emit_short_rows(Cg *cx, Reduce *r, const CgWalk *w) {
  CgWalk outer = *w;
  int k = w->rank - 2; /* the kept axis */
  ShortRow sr = {.r = r, .len = (int)w->dims[w->rank - 1]};
  sr.lanes = short_lanes(cx, w, r->ot);
  sr.whole = short_rows_whole(w);
  outer.rank = k + 1;
  if (k >= 1 && w->st[1][k - 1] == 0) {
    sr.rows = w->vdims[k - 1];
    sr.row_step = w->vst[0][k - 1];
    outer.rank = k;
    outer.dims[k - 1] = w->dims[k];
    outer.vdims[k - 1] = w->vdims[k];
    for (int a = 0; a < CG_WALK_ARRAYS; a++) {
      outer.st[a][k - 1] = w->st[a][k];
      outer.vst[a][k - 1] = w->vst[a][k];
    }
  }
  cg_walk_emit(cx, &outer, reduce_short_rows, &sr);
}

/* In parts: rows [begin, end) of the walk's outermost axis, which the
   result moves along (each part folds into results of its own). */
static void emit_reduce_walk(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end) {
  const IrNode *n = node_of(cx, c), *x = operand(cx, n, 0);
  Reduce r = {.n = n, .xt = (IrDtype)x->dtype, .ot = (IrDtype)n->dtype};
  r.ct = (r.xt == IR_F32 && r.ot == IR_F32) ? cx->t_f32 : cx->t_f64;
  CgWalk w;
  reduce_walk(cx->g, n, &w);
  cg_walk_runtime(cx, &w, 3 + c->nin);
  int axis = reduce_parts_axis(&w, r.xt, r.ot);
  if (axis > 0)
    walk_axis_outermost(&w, axis);
  if (begin) {
    cx->kargs[0] = cg_gep(cx, cg_type(cx, r.ot), cx->kargs[0],
                          LLVMBuildNSWMul(cx->b, begin, w.vst[1][0], ""));
    cx->kargs[1] = cg_gep(cx, cg_type(cx, r.xt), cx->kargs[1],
                          LLVMBuildNSWMul(cx->b, begin, w.vst[0][0], ""));
    w.vdims[0] = LLVMBuildNSWSub(cx->b, end, begin, "");
  }
  bool shortrows = numel(x) > 0 && short_reduced_row(&w, r.xt, r.ot);
  if (!shortrows || !short_rows_whole(&w))
    fill_identity(cx, &r, &w);
  if (shortrows)
    emit_short_rows(cx, &r, &w);
  else if (numel(x) > 0)
    cg_walk_emit(cx, &w, reduce_row, &r);
}

static void emit_reduce(Cg *cx, const CgCall *c) { cg_emit_in_parts(cx, c, emit_reduce_walk); }

bool cg_reduce_parallel(const CgTarget *t, const IrGraph *g, IrRef id) {
  const IrNode *n = ir_node(g, id);
  if (t->threads < 2 || ir_ops[n->op].cls != IR_CLASS_REDUCE ||
      ir_shape_numel(&ir_node(g, n->src[0])->shape) < PARALLEL_MIN_ELEMS)
    return false;
  CgWalk w;
  reduce_walk(g, n, &w);
  const IrNode *x = ir_node(g, n->src[0]);
  return reduce_parts_axis(&w, (IrDtype)x->dtype, (IrDtype)n->dtype) >= 0;
}

static void lower_reduce(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id), *x = operand(cx, n, 0);
  CgWalk w;
  reduce_walk(cx->g, n, &w);
  CgCall c;
  call_init(cx, &c, id, ir_ops[n->op].name);
  int short_row = short_reduced_row(&w, (IrDtype)x->dtype, (IrDtype)n->dtype)
                      ? (int)w.dims[w.rank - 1] : 0;
  snprintf(c.key, sizeof c.key, "%s %s %s/%x/%x rank=%d%s short%d/%d", ir_ops[n->op].name,
           ir_dtype_name((IrDtype)n->dtype), ir_dtype_name((IrDtype)x->dtype), cg_walk_mask(&w, 0),
           cg_walk_mask(&w, 1), w.rank, numel(x) ? "" : " empty", short_row,
           short_row ? short_lanes(cx, &w, (IrDtype)n->dtype) : 0);
  c.parallel = cg_reduce_parallel(cx->tgt, cx->g, id);
  if (c.parallel) {
    c.split_axis = reduce_parts_axis(&w, (IrDtype)x->dtype, (IrDtype)n->dtype);
    cg_key_printf(&c, " parts");
  }
  call_input(cx, &c, n->src[0]);
  for (int i = 0; i < w.rank; i++)
    call_extent(&c, w.dims[i]);
  c.emit = emit_reduce;
  add(cx, &c);
}

/* ---- MOVE ------------------------------------------------------------------------
   Every movement is a strided copy of whole elements (as integers of their
   size): array 0 the destination, array 1 the source, each from a base
   offset. The kernel takes extents, strides and bases as arguments; only the
   element size, the rank and whether each innermost stride is 0, 1, 2 (class
   3) or other (class 2) are in its key (so the contiguous cases vectorize,
   and rows read at every other element: a stride-2 convolution's windows). */
static int stride_class(int64_t st) { return st == 0 ? 0 : st == 1 ? 1 : st == 2 ? 3 : 2; }

typedef struct MoveRow {
  LLVMTypeRef et;  /* the element: an integer of its size, or the float type (add_into) */
  bool add_into;
  int lanes;       /* > 1: rows contiguous on both sides move as vectors of this many */
  unsigned esz;
  bool even;       /* with lanes: the source row is read at every other element */
  bool spread;     /* with lanes: the row is written at every other element */
} MoveRow;

/* Elements [from, to) of the row, one at a time. */
static void move_scalars(Cg *cx, const MoveRow *m, const CgWalk *w, LLVMValueRef *off,
                         LLVMValueRef from, LLVMValueRef to) {
  CgFor l;
  cg_for_begin(cx, &l, from, to, cg_i64(cx, 1));
  LLVMValueRef at = inner_index(cx, w, 0, off[0], l.iv);
  LLVMValueRef v = cg_load(cx, m->et, in_ptr(cx, 0), inner_index(cx, w, 1, off[1], l.iv));
  if (m->add_into) v = LLVMBuildFAdd(cx->b, cg_load(cx, m->et, out_ptr(cx), at), v, "");
  cg_store(cx, v, out_ptr(cx), at);
  cg_for_end(cx, &l);
}

static LLVMValueRef load_vector(Cg *cx, const MoveRow *m, LLVMTypeRef vt, LLVMValueRef base,
                                LLVMValueRef at, LLVMValueRef mask) {
  if (mask) return cg_masked_load(cx, vt, base, at, mask, m->esz);
  LLVMValueRef v = LLVMBuildLoad2(cx->b, vt, cg_gep(cx, m->et, base, at), "");
  LLVMSetAlignment(v, m->esz);
  return v;
}

/* v to the result at element `at` (the lanes off the mask, when there is
   one, untouched). */
static void store_vector(Cg *cx, const MoveRow *m, LLVMValueRef v, LLVMValueRef at,
                         LLVMValueRef mask) {
  if (mask) {
    cg_masked_store(cx, v, m->et, out_ptr(cx), at, mask, m->esz);
  } else {
    LLVMValueRef st = LLVMBuildStore(cx->b, v, cg_gep(cx, m->et, out_ptr(cx), at));
    LLVMSetAlignment(st, m->esz);
  }
}

/* Elements [i, i + lanes) of a row contiguous on both sides (the lanes
   off the mask, when there is one, untouched). */
static void move_vector(Cg *cx, const MoveRow *m, const CgWalk *w, LLVMValueRef *off,
                        LLVMValueRef i, LLVMValueRef mask) {
  LLVMTypeRef vt = LLVMVectorType(m->et, (unsigned)m->lanes);
  LLVMValueRef at = inner_index(cx, w, 0, off[0], i), from = inner_index(cx, w, 1, off[1], i);
  LLVMValueRef v = load_vector(cx, m, vt, in_ptr(cx, 0), from, mask);
  if (m->add_into) v = LLVMBuildFAdd(cx->b, load_vector(cx, m, vt, out_ptr(cx), at, mask), v, "");
  store_vector(cx, m, v, at, mask);
}

/* The lanes of a vector of 2L elements, from element 2i of a row read or
   written at every other element, that lie within its elements [i, n):
   up to element 2(n - 1), never past it. */
static LLVMValueRef stride2_lanes(Cg *cx, int L, LLVMValueRef i, LLVMValueRef n) {
  LLVMValueRef two = cg_i64(cx, 2);
  return cg_lane_mask(cx, 2 * L, LLVMBuildNSWMul(cx->b, two, i, ""),
                      LLVMBuildNSWSub(cx->b, LLVMBuildNSWMul(cx->b, two, n, ""), cg_i64(cx, 1), ""));
}

/* Elements [i, i + lanes) of a row read at every other element of the
   source (a stride-2 window): twice as many source elements loaded as a
   vector, the even lanes kept and stored; with n (the row's length), the
   last vector, masked to elements [i, n) and the source to its element
   2(n - 1), never past it. */
static void move_vector_even(Cg *cx, const MoveRow *m, const CgWalk *w, LLVMValueRef *off,
                             LLVMValueRef i, LLVMValueRef n) {
  int L = m->lanes;
  LLVMValueRef at = inner_index(cx, w, 0, off[0], i), from = inner_index(cx, w, 1, off[1], i);
  LLVMValueRef mask = NULL, wide_mask = NULL, even[32];
  if (n) {
    mask = cg_lane_mask(cx, L, i, n);
    wide_mask = stride2_lanes(cx, L, i, n);
  }
  LLVMValueRef v = load_vector(cx, m, LLVMVectorType(m->et, (unsigned)(2 * L)), in_ptr(cx, 0),
                               from, wide_mask);
  for (int l = 0; l < L; l++) even[l] = LLVMConstInt(cx->t_i32, (unsigned)(2 * l), 0);
  v = LLVMBuildShuffleVector(cx->b, v, LLVMGetPoison(LLVMTypeOf(v)),
                             LLVMConstVector(even, (unsigned)L), "");
  store_vector(cx, m, v, at, mask);
}

/* Elements [i, i + lanes) of a contiguous source row written at every
   other element of the result (a concat interleaving its operands, a
   stride-2 convolution's 1 x 1 input gradient): spread to the even lanes
   of a vector twice as long, stored under a mask of those lanes (with n,
   the row's length: the lanes of elements [i, n) only), so the odd
   elements, another operand's, stay untouched. */
static void move_vector_spread(Cg *cx, const MoveRow *m, const CgWalk *w, LLVMValueRef *off,
                               LLVMValueRef i, LLVMValueRef n) {
  int L = m->lanes;
  LLVMValueRef at = inner_index(cx, w, 0, off[0], i), from = inner_index(cx, w, 1, off[1], i);
  LLVMValueRef spread[64], even[64];
  for (int l = 0; l < 2 * L; l++) {
    spread[l] = LLVMConstInt(cx->t_i32, (unsigned)(l % 2 ? L : l / 2), 0);
    even[l] = LLVMConstInt(cx->t_i1, l % 2 == 0, 0);
  }
  LLVMValueRef mask = LLVMConstVector(even, (unsigned)(2 * L));
  if (n) mask = LLVMBuildAnd(cx->b, mask, stride2_lanes(cx, L, i, n), "");
  LLVMTypeRef vt = LLVMVectorType(m->et, (unsigned)L), wt = LLVMVectorType(m->et, (unsigned)(2 * L));
  LLVMValueRef v = load_vector(cx, m, vt, in_ptr(cx, 0), from, n ? cg_lane_mask(cx, L, i, n) : NULL);
  v = LLVMBuildShuffleVector(cx->b, v, LLVMGetPoison(vt), LLVMConstVector(spread, (unsigned)(2 * L)),
                             "");
  if (m->add_into) v = LLVMBuildFAdd(cx->b, load_vector(cx, m, wt, out_ptr(cx), at, mask), v, "");
  store_vector(cx, m, v, at, mask);
}

/* A contiguous row as whole vectors of at most 32 bytes, then one masked
   vector: rows of a convolution's windows (28, 10 or 5 elements) are too
   short for the loop vectorizer, which leaves loops of fewer than its
   unrolled width scalar. An accumulating copy (fold) ends one element at a
   time instead: on a Zen 4 its masked tails (load, add, masked store, rows
   14 apart) made lenet's fold taps about 3x slower than scalar ones, and
   64-byte vectors were no faster than 32-byte ones on rows this short. */
static void move_row_vectors(Cg *cx, const MoveRow *m, const CgWalk *w, LLVMValueRef *off) {
  LLVMValueRef n = inner_extent(w), L = cg_i64(cx, m->lanes);
  void (*stride2)(Cg *, const MoveRow *, const CgWalk *, LLVMValueRef *, LLVMValueRef,
                  LLVMValueRef) = m->even ? move_vector_even : m->spread ? move_vector_spread : NULL;
  /* even rows: the whole vectors end before the last element, as the wide
     load of a vector ending at it would read one element past the row */
  LLVMValueRef upto = m->even ? LLVMBuildNSWSub(cx->b, n, cg_i64(cx, 1), "") : n;
  LLVMValueRef whole = LLVMBuildNSWSub(cx->b, upto, LLVMBuildSRem(cx->b, upto, L, ""), "");
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), whole, L);
  if (stride2) stride2(cx, m, w, off, l.iv, NULL);
  else move_vector(cx, m, w, off, l.iv, NULL);
  cg_for_end(cx, &l);
  if (stride2) { /* the rest: one vector masked to the row's end */
    CgIf tail;
    cg_if_begin(cx, &tail, LLVMBuildICmp(cx->b, LLVMIntSLT, whole, n, ""));
    stride2(cx, m, w, off, whole, n);
    cg_if_end(cx, &tail);
    return;
  }
  if (m->add_into) {
    move_scalars(cx, m, w, off, whole, n);
    return;
  }
  CgIf tail;
  cg_if_begin(cx, &tail, LLVMBuildICmp(cx->b, LLVMIntSLT, whole, n, ""));
  move_vector(cx, m, w, off, whole, cg_lane_mask(cx, m->lanes, whole, n));
  cg_if_end(cx, &tail);
}

/* Lanes of the vectors a row contiguous on both sides moves in (1: one
   element at a time). */
static int move_lanes(const Cg *cx, int esz) {
  if (esz != 4 && esz != 8) return 1;
  return (cx->tgt->vector_bytes < 32 ? cx->tgt->vector_bytes : 32) / esz;
}

static void move_row(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off) {
  const MoveRow *m = ctx;
  if (m->lanes > 1)
    move_row_vectors(cx, m, w, off);
  else
    move_scalars(cx, m, w, off, cg_i64(cx, 0), inner_extent(w));
}

/* The walk of a copy from its extents (dims[rank], destination strides,
   source strides) and its row mover. */
static void move_walk_init(Cg *cx, const CgCall *c, CgWalk *w, MoveRow *m) {
  int r = c->rank;
  *w = (CgWalk){.rank = r};
  for (int i = 0; i < r; i++) {
    w->vdims[i] = extent(cx, c, i);
    w->vst[0][i] = extent(cx, c, r + i);
    w->vst[1][i] = extent(cx, c, 2 * r + i);
  }
  for (int a = 0; a < 2; a++)
    if (c->cls[a] != 2)
      w->vst[a][r - 1] = cg_i64(cx, c->cls[a] == 3 ? 2 : c->cls[a]);
  for (int a = 2; a < CG_WALK_ARRAYS; a++)
    for (int i = 0; i < r; i++)
      w->vst[a][i] = cg_i64(cx, 0);
  *m = (MoveRow){.add_into = c->add_into, .esz = (unsigned)c->esz, .lanes = 1};
  m->et = c->add_into ? cg_type(cx, (IrDtype)c->dtype)
                      : LLVMIntTypeInContext(cx->ctx, (unsigned)(8 * c->esz));
  if ((c->cls[0] == 1 && (c->cls[1] == 1 || (c->cls[1] == 3 && !c->add_into))) ||
      (c->cls[0] == 3 && c->cls[1] == 1))
    m->lanes = move_lanes(cx, c->esz);
  m->even = m->lanes > 1 && c->cls[1] == 3;
  m->spread = m->lanes > 1 && c->cls[0] == 3;
}

/* The copy from element src of the operand to element dst of the result
   (the bases move the buffers: offsets inside the walk stay from 0). */
static void move_from(Cg *cx, const CgWalk *w, const MoveRow *m, LLVMValueRef out,
                      LLVMValueRef in, LLVMValueRef dst, LLVMValueRef src) {
  cx->kargs[0] = cg_gep(cx, m->et, out, dst);
  cx->kargs[1] = cg_gep(cx, m->et, in, src);
  cg_walk_emit(cx, w, move_row, (void *)m);
}

/* Extents: dims[rank], destination strides[rank], source strides[rank],
   destination base, source base. In parts: rows [begin, end) of the
   outermost axis. */
static void emit_move_walk(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end) {
  int r = c->rank;
  CgWalk w;
  MoveRow m;
  move_walk_init(cx, c, &w, &m);
  LLVMValueRef dst = extent(cx, c, 3 * r), src = extent(cx, c, 3 * r + 1);
  if (begin) {
    dst = LLVMBuildNSWAdd(cx->b, dst, LLVMBuildNSWMul(cx->b, begin, w.vst[0][0], ""), "");
    src = LLVMBuildNSWAdd(cx->b, src, LLVMBuildNSWMul(cx->b, begin, w.vst[1][0], ""), "");
    w.vdims[0] = LLVMBuildNSWSub(cx->b, end, begin, "");
  }
  move_from(cx, &w, &m, out_ptr(cx), in_ptr(cx, 0), dst, src);
}

/* fold's kernel. Extents: the tap walk's dims[rank], destination and
   source strides (as a copy's), then the window's extents[k], destination
   strides[k] and source strides[k] per kernel tap axis (k = c->taps_rank),
   the result's elements. Zeros its rows of the result (all of it when not
   in parts), then adds each tap's windows in tap order.
   In parts: rows [begin, end) of the walk's outermost axis, whose windows
   no other row touches (see rows_tile). */
static void emit_fold_walk(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end) {
  int r = c->rank, k = c->taps_rank;
  CgWalk w;
  MoveRow m;
  move_walk_init(cx, c, &w, &m);
  LLVMValueRef out = out_ptr(cx), in = in_ptr(cx, 0);
  LLVMValueRef rows = w.vdims[0], first = cg_i64(cx, 0);
  if (begin) {
    first = begin;
    rows = LLVMBuildNSWSub(cx->b, end, begin, "");
  }
  w.vdims[0] = rows;
  LLVMValueRef dst0 = LLVMBuildNSWMul(cx->b, first, w.vst[0][0], "");
  LLVMValueRef src0 = LLVMBuildNSWMul(cx->b, first, w.vst[1][0], "");
  LLVMValueRef elems = begin ? LLVMBuildNSWMul(cx->b, rows, w.vst[0][0], "")
                             : extent(cx, c, 3 * r + 3 * k);
  LLVMValueRef bytes = LLVMBuildNSWMul(cx->b, elems, cg_i64(cx, c->esz), "");
  no_memset_calls(cx);
  zero_bytes(cx, cg_gep(cx, m.et, out, dst0), bytes);
  LLVMValueRef taps = cg_i64(cx, 1);
  for (int i = 0; i < k; i++)
    taps = LLVMBuildNSWMul(cx->b, taps, extent(cx, c, 3 * r + i), "");
  CgFor t;
  cg_for_begin(cx, &t, cg_i64(cx, 0), taps, cg_i64(cx, 1));
  LLVMValueRef rest = t.iv, dst = dst0, src = src0;
  for (int i = k - 1; i >= 0; i--) {
    LLVMValueRef size = extent(cx, c, 3 * r + i);
    LLVMValueRef kk = LLVMBuildSRem(cx->b, rest, size, "");
    rest = LLVMBuildSDiv(cx->b, rest, size, "");
    dst = LLVMBuildNSWAdd(cx->b, dst, LLVMBuildNSWMul(cx->b, kk, extent(cx, c, 3 * r + k + i), ""), "");
    src = LLVMBuildNSWAdd(cx->b, src,
                          LLVMBuildNSWMul(cx->b, kk, extent(cx, c, 3 * r + 2 * k + i), ""), "");
  }
  move_from(cx, &w, &m, out, in, dst, src);
  cg_for_end(cx, &t);
}

static void emit_fold(Cg *cx, const CgCall *c) { cg_emit_in_parts(cx, c, emit_fold_walk); }

static void emit_move(Cg *cx, const CgCall *c) { cg_emit_in_parts(cx, c, emit_move_walk); }

bool cg_move_may_run_in_parts(const CgTarget *t, const IrGraph *g, IrRef id) {
  const IrNode *n = ir_node(g, id);
  return t->threads >= 2 && ir_ops[n->op].cls == IR_CLASS_MOVE &&
         ir_shape_numel(&n->shape) >= PARALLEL_MIN_ELEMS;
}

/* One copy of index space `shape` from operand `src` of node id (with
   add_into: added into what the destination holds). */
static void lower_copy_op(Cg *cx, IrRef id, IrRef src, const IrShape *shape,
                          const int64_t *dst_st, const int64_t *src_st, int64_t dst_base,
                          int64_t src_base, bool add_into, CgAddCall add) {
  if (ir_shape_numel(shape) == 0)
    return;
  CgWalk w;
  cg_walk_init(&w, shape);
  for (int i = 0; i < shape->rank; i++) {
    w.st[0][i] = dst_st[i];
    w.st[1][i] = src_st[i];
  }
  cg_walk_coalesce(&w);
  CgCall c;
  call_init(cx, &c, id, "move");
  c.esz = cg_dtype_size((IrDtype)ir_node(cx->g, id)->dtype);
  c.rank = w.rank;
  c.cls[0] = stride_class(w.st[0][w.rank - 1]);
  c.cls[1] = stride_class(w.st[1][w.rank - 1]);
  c.add_into = add_into;
  c.dtype = ir_node(cx->g, id)->dtype;
  /* every element of the index space is copied once, to its own place: rows
     of the outermost axis may run in parts */
  c.parallel = cx->tgt->threads >= 2 && w.dims[0] >= 2 &&
               ir_shape_numel(shape) >= PARALLEL_MIN_ELEMS;
  snprintf(c.key, sizeof c.key, "move %d rank=%d %d%d%s%s", c.esz, c.rank, c.cls[0], c.cls[1],
           add_into ? " add" : "", c.parallel ? " parts" : "");
  call_input(cx, &c, src);
  for (int i = 0; i < w.rank; i++)
    call_extent(&c, w.dims[i]);
  for (int a = 0; a < 2; a++)
    for (int i = 0; i < w.rank; i++)
      call_extent(&c, w.st[a][i]);
  call_extent(&c, dst_base);
  call_extent(&c, src_base);
  c.emit = emit_move;
  add(cx, &c);
}

static void lower_copy(Cg *cx, IrRef id, IrRef src, const IrShape *shape, const int64_t *dst_st,
                       const int64_t *src_st, int64_t dst_base, int64_t src_base, CgAddCall add) {
  lower_copy_op(cx, id, src, shape, dst_st, src_st, dst_base, src_base, false, add);
}

/* The walk's rows tile a result of numel elements: together they span
   it (rows x outer stride) and each writes within its own stride. */
static bool rows_tile(const CgWalk *w, int64_t numel) {
  int64_t reach = 1; /* elements from a row's first write to its last, inclusive */
  for (int i = 1; i < w->rank; i++) reach += (w->dims[i] - 1) * w->st[0][i];
  return w->dims[0] * w->st[0][0] == numel && reach <= w->st[0][0];
}

/* fold: one kernel that zeros the result, then adds the windows of each
   kernel tap in turn (the same sums, in the same order, as a copy per tap).
   Its rows run in parts when no two rows of the walk write one element:
   with several taps, when the walk's outer axis is leading axes only (its
   destination stride at least the last leading axis's: windows of
   different leading rows never meet); with one tap (a 1 x 1 window, a
   stride-2 convolution's input gradient), when the rows tile the result
   (rows_tile): a part then zeroes and fills its own stretch. */
static void lower_fold(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id), *y = operand(cx, n, 0);
  int k = n->attr.nwin, lead = n->shape.rank - k;
  int64_t os[IR_MAX_RANK], ys[IR_MAX_RANK], st[IR_MAX_RANK];
  cg_contiguous_strides(&n->shape, os);
  cg_contiguous_strides(&y->shape, ys);
  ir_window_strides(n, n->shape.rank, os, st);
  IrShape tap = {.rank = (uint8_t)(lead + k)};       /* [lead..., O...] */
  int64_t tap_dst[IR_MAX_RANK], tap_src[IR_MAX_RANK], taps = 1;
  for (int i = 0; i < lead + k; i++) {
    int from = i < lead ? i : i + k;
    tap.d[i] = y->shape.d[from];
    tap_dst[i] = st[from];
    tap_src[i] = ys[from];
  }
  for (int i = 0; i < k; i++) taps *= y->shape.d[lead + i].n;
  if (ir_shape_numel(&tap) == 0 || taps == 0) {
    lower_zero(cx, id, add);
    return;
  }
  CgWalk w;
  cg_walk_init(&w, &tap);
  for (int i = 0; i < tap.rank; i++) {
    w.st[0][i] = tap_dst[i];
    w.st[1][i] = tap_src[i];
  }
  cg_walk_coalesce(&w);
  CgCall c;
  call_init(cx, &c, id, "fold");
  c.esz = cg_dtype_size((IrDtype)n->dtype);
  c.rank = w.rank;
  c.taps_rank = k;
  c.cls[0] = stride_class(w.st[0][w.rank - 1]);
  c.cls[1] = stride_class(w.st[1][w.rank - 1]);
  c.add_into = true;
  c.dtype = n->dtype;
  c.parallel = cg_move_may_run_in_parts(cx->tgt, cx->g, id) && w.dims[0] >= 2 &&
               (taps == 1 ? rows_tile(&w, ir_shape_numel(&n->shape))
                          : lead >= 1 && w.st[0][0] >= tap_dst[lead - 1]);
  snprintf(c.key, sizeof c.key, "fold %d rank=%d/%d %d%d%s", c.esz, c.rank, k, c.cls[0], c.cls[1],
           c.parallel ? " parts" : "");
  call_input(cx, &c, n->src[0]);
  for (int i = 0; i < w.rank; i++)
    call_extent(&c, w.dims[i]);
  for (int a = 0; a < 2; a++)
    for (int i = 0; i < w.rank; i++)
      call_extent(&c, w.st[a][i]);
  for (int i = 0; i < k; i++)
    call_extent(&c, y->shape.d[lead + i].n);
  for (int i = 0; i < k; i++)
    call_extent(&c, st[lead + i]);
  for (int i = 0; i < k; i++)
    call_extent(&c, ys[lead + i]);
  call_extent(&c, ir_shape_numel(&n->shape));
  c.emit = emit_fold;
  add(cx, &c);
}

/* ---- pad ---------------------------------------------------------------------------
   A pad of the last two axes only (a convolution's), their sizes fixed:
   one pass writing each plane of the result once, its rows of zeros
   above and below and, per row of the operand, the zeros left of it, the
   row, the zeros right of it (not zeros over all of the result, then the
   operand copied in: a second pass over most of it). The geometry is in
   the key (per element size); the extent is the count of planes (the
   leading axes, batch included), which run in parts. */
typedef struct PadGeo {
  int64_t h, w, top, left, oh, ow; /* operand rows and row length, offsets, result's */
} PadGeo;

static bool pad_geometry(const IrNode *n, const IrNode *x, PadGeo *p) {
  int r = n->shape.rank;
  if (r < 2) return false;
  for (int i = 0; i < r - 2; i++)
    if (n->shape.d[i].n != x->shape.d[i].n || n->attr.start[i] != 0) return false;
  for (int i = r - 2; i < r; i++)
    if (n->shape.d[i].syms || x->shape.d[i].syms) return false;
  *p = (PadGeo){x->shape.d[r - 2].n, x->shape.d[r - 1].n, n->attr.start[r - 2],
                n->attr.start[r - 1], n->shape.d[r - 2].n, n->shape.d[r - 1].n};
  return p->h >= 1 && p->w >= 1;
}

bool cg_pad_by_planes(const IrGraph *g, IrRef pad) {
  const IrNode *n = ir_node(g, pad);
  PadGeo p;
  return n->op == IR_OP_PAD && pad_geometry(n, ir_node(g, n->src[0]), &p);
}

/* Elements [from, to) of a row at `row` (element type et) set to zero. */
static void pad_zeros(Cg *cx, LLVMTypeRef et, LLVMValueRef row, int64_t from, int64_t to) {
  if (to <= from) return;
  CgFor x;
  cg_for_begin(cx, &x, cg_i64(cx, from), cg_i64(cx, to), cg_i64(cx, 1));
  cg_store(cx, LLVMConstNull(et), row, x.iv);
  cg_for_end(cx, &x);
}

/* A row split in phases whose operand row and result row fit two vectors
   each: the operand row in two loads, each vector of the result one
   shuffle of them (zeros where the result pads), stored whole or masked. */
static void pad_phase_row_short(Cg *cx, const PadGeo *p, int L, LLVMTypeRef et, unsigned esz,
                                LLVMValueRef src, LLVMValueRef row) {
  LLVMTypeRef vt = LLVMVectorType(et, (unsigned)L);
  LLVMValueRef zero = LLVMConstNull(vt), part[2];
  for (int i = 0; i < 2; i++)
    part[i] = p->w > i * L ? cg_masked_load(cx, vt, src, cg_i64(cx, i * L),
                                            cg_lane_mask(cx, L, cg_i64(cx, i * L), cg_i64(cx, p->w)),
                                            esz)
                           : zero;
  int64_t half = p->ow / 2;
  for (int64_t b = 0; b * L < p->ow; b++) {
    LLVMValueRef idx[64], valid[64];
    for (int l = 0; l < L; l++) {
      int64_t x = b * L + l, col = x < half ? 2 * x : 2 * (x - half) + 1, s = col - p->left;
      bool in = x < p->ow && s >= 0 && s < p->w;
      idx[l] = LLVMConstInt(cx->t_i32, in ? (unsigned)s : 0, 0);
      valid[l] = LLVMConstInt(LLVMInt1TypeInContext(cx->ctx), in, 0);
    }
    LLVMValueRef v = LLVMBuildShuffleVector(cx->b, part[0], part[1], LLVMConstVector(idx, (unsigned)L), "");
    v = LLVMBuildSelect(cx->b, LLVMConstVector(valid, (unsigned)L), v, zero, "");
    if ((b + 1) * L <= p->ow) {
      LLVMValueRef st = LLVMBuildStore(cx->b, v, cg_gep(cx, et, row, cg_i64(cx, b * L)));
      LLVMSetAlignment(st, esz);
    } else
      cg_masked_store(cx, v, et, row, cg_i64(cx, b * L),
                      cg_lane_mask(cx, L, cg_i64(cx, b * L), cg_i64(cx, p->ow)), esz);
  }
}

/* A row of the result split in phases (cg_pad_splits_phases): its even
   columns, then its odd ones, each half ow/2 long; half h's element j is
   the result's column 2j + h, the operand's 2j + h - left or a zero. Per
   vector of L lanes: 2L operand elements loaded under a mask of the even
   lanes inside the row, the even lanes kept, stored masked to the half. */
static void pad_phase_row(Cg *cx, const PadGeo *p, int L, LLVMTypeRef et, unsigned esz,
                          LLVMValueRef src, LLVMValueRef row) {
  int64_t half = p->ow / 2;
  if (p->w <= 2 * L && p->ow <= 2 * L) {
    pad_phase_row_short(cx, p, L, et, esz, src, row);
    return;
  }
  LLVMValueRef even_lanes[128], keep[64];
  for (int i = 0; i < 2 * L; i++)
    even_lanes[i] = LLVMConstInt(LLVMInt1TypeInContext(cx->ctx), i % 2 == 0, 0);
  for (int l = 0; l < L; l++)
    keep[l] = LLVMConstInt(cx->t_i32, (unsigned)(2 * l), 0);
  LLVMValueRef even = LLVMConstVector(even_lanes, (unsigned)(2 * L));
  LLVMTypeRef wt = LLVMVectorType(et, (unsigned)(2 * L));
  for (int h = 0; h < 2; h++)
    for (int64_t j = 0; j < half; j += L) {
      int64_t s0 = 2 * j + h - p->left;
      LLVMValueRef before = cg_lane_mask(cx, 2 * L, cg_i64(cx, s0), cg_i64(cx, 0));
      LLVMValueRef inside = LLVMBuildAnd(cx->b, cg_lane_mask(cx, 2 * L, cg_i64(cx, s0), cg_i64(cx, p->w)),
                                         LLVMBuildNot(cx->b, before, ""), "");
      LLVMValueRef wide = cg_masked_load(cx, wt, src, cg_i64(cx, s0),
                                         LLVMBuildAnd(cx->b, inside, even, ""), esz);
      LLVMValueRef v = LLVMBuildShuffleVector(cx->b, wide, wide, LLVMConstVector(keep, (unsigned)L), "");
      cg_masked_store(cx, v, et, row, cg_i64(cx, h * half + j),
                      cg_lane_mask(cx, L, cg_i64(cx, j), cg_i64(cx, half)), esz);
    }
}

/* Each row of the operand goes as a copy's row does (move_row: vectors,
   the last one masked), from element src to element dst; or, split in
   phases, by pad_phase_row. */
static void emit_pad_walk(Cg *cx, const CgCall *c, LLVMValueRef begin, LLVMValueRef end) {
  PadGeo p = {c->ext[1], c->ext[2], c->ext[3], c->ext[4], c->ext[5], c->ext[6]}; /* in the key */
  bool phases = c->ext[7] != 0;
  LLVMTypeRef et = LLVMIntTypeInContext(cx->ctx, (unsigned)(8 * c->esz));
  MoveRow m = {.et = et, .esz = (unsigned)c->esz, .lanes = move_lanes(cx, c->esz)};
  CgWalk row_walk = {.rank = 1, .vdims = {cg_i64(cx, p.w)}, .vst = {{cg_i64(cx, 1)}, {cg_i64(cx, 1)}}};
  no_memset_calls(cx);
  CgFor pl, y;
  cg_for_begin(cx, &pl, begin ? begin : cg_i64(cx, 0), end ? end : extent(cx, c, 0), cg_i64(cx, 1));
  LLVMValueRef plane = LLVMBuildNSWMul(cx->b, pl.iv, cg_i64(cx, p.oh * p.ow), "");
  LLVMValueRef out = cg_gep(cx, et, out_ptr(cx), plane);
  LLVMValueRef in0 = LLVMBuildNSWMul(cx->b, pl.iv, cg_i64(cx, p.h * p.w), "");
  int64_t below = p.oh - p.top - p.h;
  if (p.top > 0)
    zero_bytes(cx, out, cg_i64(cx, p.top * p.ow * c->esz));
  cg_for_begin(cx, &y, cg_i64(cx, 0), cg_i64(cx, p.h), cg_i64(cx, 1));
  LLVMValueRef at = LLVMBuildNSWMul(cx->b, LLVMBuildNSWAdd(cx->b, y.iv, cg_i64(cx, p.top), ""),
                                    cg_i64(cx, p.ow), "");
  LLVMValueRef row = cg_gep(cx, et, out, at);
  LLVMValueRef off[2] = {
      LLVMBuildNSWAdd(cx->b, LLVMBuildNSWAdd(cx->b, plane, at, ""), cg_i64(cx, p.left), ""),
      LLVMBuildNSWAdd(cx->b, in0, LLVMBuildNSWMul(cx->b, y.iv, cg_i64(cx, p.w), ""), "")};
  if (phases) {
    pad_phase_row(cx, &p, cx->tgt->vector_bytes / c->esz, et, (unsigned)c->esz,
                  cg_gep(cx, et, in_ptr(cx, 0), off[1]), row);
  } else {
    pad_zeros(cx, et, row, 0, p.left);
    move_row(cx, &m, &row_walk, off);
    pad_zeros(cx, et, row, p.left + p.w, p.ow);
  }
  cg_for_end(cx, &y);
  if (below > 0)
    zero_bytes(cx, cg_gep(cx, et, out, cg_i64(cx, (p.top + p.h) * p.ow)),
               cg_i64(cx, below * p.ow * c->esz));
  cg_for_end(cx, &pl);
}

static void emit_pad(Cg *cx, const CgCall *c) { cg_emit_in_parts(cx, c, emit_pad_walk); }

static bool lower_pad(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id), *x = operand(cx, n, 0);
  PadGeo p;
  if (!pad_geometry(n, x, &p)) /* offsets fit: ir_shape_PAD checked them */
    return false;
  int64_t planes = ir_shape_numel(&n->shape) / (p.oh * p.ow);
  CgCall c;
  call_init(cx, &c, id, "pad");
  c.esz = cg_dtype_size((IrDtype)n->dtype);
  c.parallel = cg_move_may_run_in_parts(cx->tgt, cx->g, id) && planes >= 2;
  bool phases = cg_pad_splits_phases(cx->tgt, cx->g, id);
  snprintf(c.key, sizeof c.key, "pad %d %" PRId64 "x%" PRId64 " at %" PRId64 ",%" PRId64
           " in %" PRId64 "x%" PRId64 "%s%s", c.esz, p.h, p.w, p.top, p.left, p.oh, p.ow,
           phases ? " phases" : "", c.parallel ? " parts" : "");
  call_input(cx, &c, n->src[0]);
  call_extent(&c, planes);
  call_extent(&c, p.h);
  call_extent(&c, p.w);
  call_extent(&c, p.top);
  call_extent(&c, p.left);
  call_extent(&c, p.oh);
  call_extent(&c, p.ow);
  call_extent(&c, phases);
  c.emit = emit_pad;
  add(cx, &c);
  return true;
}

static void lower_move(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id), *x = operand(cx, n, 0);
  int64_t os[IR_MAX_RANK], xs[IR_MAX_RANK], st[IR_MAX_RANK], base = 0;
  cg_contiguous_strides(&n->shape, os);
  cg_contiguous_strides(&x->shape, xs);
  switch ((IrOp)n->op) {
  case IR_OP_RESHAPE: { /* only when it is an output's home: else an alias */
    CgCall c;
    cg_copy_call(cx, &c, n->src[0], cg_plan_entry(cx->plan, cx->g, id), cg_node_bytes(n));
    add(cx, &c);
    return;
  }
  case IR_OP_PERMUTE:
    if (cx->plan->loc[id].product) {
      cg_matmul_lower(cx, id, add);
      return;
    }
    for (int i = 0; i < n->shape.rank; i++)
      st[i] = xs[n->attr.perm[i]];
    lower_copy(cx, id, n->src[0], &n->shape, os, st, 0, 0, add);
    return;
  case IR_OP_EXPAND:
    cg_broadcast_strides(&x->shape, n->shape.rank, st);
    lower_copy(cx, id, n->src[0], &n->shape, os, st, 0, 0, add);
    return;
  case IR_OP_SLICE:
    for (int i = 0; i < n->shape.rank; i++) {
      base += n->attr.start[i] * xs[i];
      st[i] = n->attr.step[i] * xs[i];
    }
    lower_copy(cx, id, n->src[0], &n->shape, os, st, 0, base, add);
    return;
  case IR_OP_PAD:
    if (lower_pad(cx, id, add))
      return;
    lower_zero(cx, id, add);
    for (int i = 0; i < n->shape.rank; i++)
      base += n->attr.start[i] * os[i];
    lower_copy(cx, id, n->src[0], &x->shape, os, xs, base, 0, add);
    return;
  case IR_OP_UNFOLD:
    ir_window_strides(n, x->shape.rank, xs, st);
    lower_copy(cx, id, n->src[0], &n->shape, os, st, 0, 0, add);
    return;
  case IR_OP_FOLD:
    lower_fold(cx, id, add);
    return;
  case IR_OP_CONCAT:
    for (int k = 0; k < n->nsrc; k++) {
      const IrNode *part = operand(cx, n, k);
      cg_contiguous_strides(&part->shape, xs);
      lower_copy(cx, id, n->src[k], &part->shape, os, xs, base, 0, add);
      base += part->shape.d[n->attr.axis].n * os[n->attr.axis];
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
   the workspace header, first one wins, for cg_program_run to report.
   Extents: indices, rows, row width. */
static void record_bad_index(Cg *cx, const CgCall *c, LLVMValueRef v) {
  LLVMValueRef ws = ws_ptr(cx, c);
  LLVMValueRef errp = cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_ERR_NODE));
  LLVMValueRef seen = LLVMBuildLoad2(cx->b, cx->t_i32, errp, "");
  CgIf first;
  cg_if_begin(cx, &first, LLVMBuildICmp(cx->b, LLVMIntEQ, seen, LLVMConstInt(cx->t_i32, 0, 0), ""));
  LLVMValueRef node = LLVMBuildTrunc(cx->b, cg_kernel_node(cx), cx->t_i32, "");
  LLVMBuildStore(cx->b, LLVMBuildAdd(cx->b, node, LLVMConstInt(cx->t_i32, 1, 0), ""), errp);
  LLVMBuildStore(cx->b, v, cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_ERR_VALUE)));
  cg_if_end(cx, &first);
}

static void emit_gather(Cg *cx, const CgCall *c) {
  LLVMValueRef rows = extent(cx, c, 1);
  LLVMValueRef row_bytes = LLVMBuildNSWMul(cx->b, extent(cx, c, 2), cg_i64(cx, c->esz), "");
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), extent(cx, c, 0), cg_i64(cx, 1));
  LLVMValueRef v = LLVMBuildSExt(cx->b, cg_load(cx, cx->t_i32, in_ptr(cx, 1), l.iv), cx->t_i64, "");
  LLVMValueRef dst = cg_gep(cx, cx->t_i8, out_ptr(cx), LLVMBuildNSWMul(cx->b, l.iv, row_bytes, ""));
  CgIf ok;
  cg_if_begin(cx, &ok, LLVMBuildICmp(cx->b, LLVMIntULT, v, rows, ""));
  LLVMValueRef src = cg_gep(cx, cx->t_i8, in_ptr(cx, 0), LLVMBuildNSWMul(cx->b, v, row_bytes, ""));
  cg_tag(cx, LLVMBuildMemCpy(cx->b, dst, 1, src, 1, row_bytes), 0, 1);
  cg_if_else(cx, &ok);
  cg_tag(cx, LLVMBuildMemSet(cx->b, dst, LLVMConstInt(cx->t_i8, 0, 0), row_bytes, 1), 0, -1);
  record_bad_index(cx, c, v);
  cg_if_end(cx, &ok);
  cg_for_end(cx, &l);
}

/* The result is zeroed first (its byte count is extent 3). */
static void emit_scatter_add(Cg *cx, const CgCall *c) {
  IrDtype dt = (IrDtype)c->dtype;
  LLVMTypeRef ty = cg_type(cx, dt), ct = dt == IR_F32 ? cx->t_f32 : cx->t_f64;
  LLVMValueRef rows = extent(cx, c, 1), width = extent(cx, c, 2);
  cg_tag(cx, LLVMBuildMemSet(cx->b, out_ptr(cx), LLVMConstInt(cx->t_i8, 0, 0), extent(cx, c, 3), 1),
         0, -1);
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), extent(cx, c, 0), cg_i64(cx, 1));
  LLVMValueRef v = LLVMBuildSExt(cx->b, cg_load(cx, cx->t_i32, in_ptr(cx, 1), l.iv), cx->t_i64, "");
  CgIf ok;
  cg_if_begin(cx, &ok, LLVMBuildICmp(cx->b, LLVMIntULT, v, rows, ""));
  LLVMValueRef dbase = LLVMBuildNSWMul(cx->b, v, width, "");
  LLVMValueRef sbase = LLVMBuildNSWMul(cx->b, l.iv, width, "");
  CgFor t;
  cg_for_begin(cx, &t, cg_i64(cx, 0), width, cg_i64(cx, 1));
  LLVMValueRef di = LLVMBuildNSWAdd(cx->b, dbase, t.iv, "");
  LLVMValueRef a = cg_to_compute(cx, cg_load(cx, ty, out_ptr(cx), di), dt, ct);
  LLVMValueRef b = cg_to_compute(
      cx, cg_load(cx, ty, in_ptr(cx, 0), LLVMBuildNSWAdd(cx->b, sbase, t.iv, "")), dt, ct);
  cg_store(cx, cg_from_compute(cx, LLVMBuildFAdd(cx->b, a, b, ""), ct, dt), out_ptr(cx), di);
  cg_for_end(cx, &t);
  cg_if_else(cx, &ok);
  record_bad_index(cx, c, v);
  cg_if_end(cx, &ok);
  cg_for_end(cx, &l);
}

/* Rows and elements per row of the indexed operand (table or result). */
static void row_geometry(const IrNode *t, int64_t *rows, int64_t *width) {
  *rows = t->shape.d[0].n;
  *width = 1;
  for (int i = 1; i < t->shape.rank; i++)
    *width *= t->shape.d[i].n;
}

static void lower_index(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id), *x = operand(cx, n, 0), *idx = operand(cx, n, 1);
  bool gather = n->op == IR_OP_GATHER;
  int64_t rows, width;
  row_geometry(gather ? x : n, &rows, &width);
  if (!gather && numel(x) == 0) {
    lower_zero(cx, id, add);
    return;
  }
  CgCall c;
  call_init(cx, &c, id, ir_ops[n->op].name);
  c.dtype = n->dtype;
  c.esz = cg_dtype_size((IrDtype)n->dtype);
  if (gather)
    snprintf(c.key, sizeof c.key, "gather %d", c.esz);
  else
    snprintf(c.key, sizeof c.key, "scatter_add %s", ir_dtype_name((IrDtype)n->dtype));
  call_input(cx, &c, n->src[0]);
  call_input(cx, &c, n->src[1]);
  call_extent(&c, numel(idx));
  call_extent(&c, rows);
  call_extent(&c, width);
  if (!gather)
    call_extent(&c, cg_node_bytes(n));
  c.emit = gather ? emit_gather : emit_scatter_add;
  add(cx, &c);
}

/* ---- SYNC ------------------------------------------------------------------------
   part_sum hands its operand to rt_part_sum with the copy's RtPartSync and
   part index, which the workspace header holds (zeros, then a plain copy,
   in a program that runs whole). Extent: elements. */
static void emit_part_sum(Cg *cx, const CgCall *c) {
  LLVMValueRef ws = ws_ptr(cx, c);
  LLVMTypeRef params[6] = {cx->t_ptr, cx->t_i64, cx->t_ptr, cx->t_ptr, cx->t_i64, cx->t_i32};
  LLVMValueRef fn = cg_function(cx, "rt_part_sum", cx->t_void, params, 6);
  LLVMValueRef args[6] = {
      LLVMBuildLoad2(cx->b, cx->t_ptr, cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_PART_SYNC)), ""),
      LLVMBuildLoad2(cx->b, cx->t_i64, cg_gep(cx, cx->t_i8, ws, cg_i64(cx, CG_WS_PART_INDEX)), ""),
      in_ptr(cx, 0), out_ptr(cx), extent(cx, c, 0), LLVMConstInt(cx->t_i32, c->esz == 8, 0)};
  cg_call(cx, fn, args, 6);
}

static void lower_sync(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id);
  MC_ASSERT(n->op == IR_OP_PART_SUM);
  CgCall c;
  call_init(cx, &c, id, "part_sum");
  c.esz = cg_dtype_size((IrDtype)n->dtype);
  snprintf(c.key, sizeof c.key, "part_sum %d", c.esz);
  call_input(cx, &c, n->src[0]);
  call_extent(&c, ir_shape_numel(&n->shape));
  c.emit = emit_part_sum;
  add(cx, &c);
}

/* ---- dispatch -------------------------------------------------------------------- */

void cg_node_lower(Cg *cx, IrRef id, CgAddCall add) {
  const IrNode *n = ir_node(cx->g, id);
  switch (ir_ops[n->op].cls) {
  case IR_CLASS_SOURCE:
    MC_ASSERT(n->op == IR_OP_IOTA);
    lower_iota(cx, id, add);
    return;
  case IR_CLASS_ELEM:
    lower_elem(cx, id, add);
    return;
  case IR_CLASS_REDUCE:
    if (cx->plan->loc[id].product)
      cg_matmul_lower(cx, id, add);
    else
      lower_reduce(cx, id, add);
    return;
  case IR_CLASS_CONTRACT:
    cg_matmul_lower(cx, id, add);
    return;
  case IR_CLASS_MOVE:
    lower_move(cx, id, add);
    return;
  case IR_CLASS_INDEX:
    lower_index(cx, id, add);
    return;
  case IR_CLASS_SYNC:
    lower_sync(cx, id, add);
    return;
  }
}

void cg_zero_call(Cg *cx, IrRef id, CgAddCall add) { lower_zero(cx, id, add); }
