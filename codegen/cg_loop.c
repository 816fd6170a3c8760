/* cg_loop.c -- small LLVM-building helpers the kernel emitters share:
   types, loads and stores, intrinsic and libm calls, counted loops,
   if/else, dtype conversions, and strided loop nests over static shapes. */
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "cg_int.h"

LLVMTypeRef cg_type(Cg *cx, IrDtype t) {
  switch (t) {
  case IR_F32:
    return cx->t_f32;
  case IR_F64:
    return cx->t_f64;
  case IR_I32:
    return cx->t_i32;
  case IR_BOOL:
  case IR_DTYPE_COUNT:
    return cx->t_i8;
  }
  return cx->t_i8;
}

LLVMValueRef cg_i64(Cg *cx, int64_t v) { return LLVMConstInt(cx->t_i64, (unsigned long long)v, 1); }

LLVMValueRef cg_param(Cg *cx, int i) { return LLVMGetParam(cx->fn, (unsigned)i); }

LLVMValueRef cg_gep(Cg *cx, LLVMTypeRef ty, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(cx->b, ty, base, &idx, 1, "");
}

/* The kernel buffer `base` is, or -1. */
static int buffer_of(const Cg *cx, LLVMValueRef base) {
  for (int k = 0; cx->kargs && k < cx->nbufs; k++)
    if (cx->kargs[k] == base)
      return k;
  return -1;
}

void cg_tag(Cg *cx, LLVMValueRef access, int a, int b) {
  if (a < 0 || !cx->scopes)
    return;
  LLVMMetadataRef in[2], out[64];
  int nin = 0, nout = 0;
  in[nin++] = cx->scopes[a];
  if (b >= 0 && b != a)
    in[nin++] = cx->scopes[b];
  for (int k = 0; k < cx->nbufs && nout < (int)MC_COUNTOF(out); k++)
    if (k != a && k != b)
      out[nout++] = cx->scopes[k];
  unsigned scope_kind = LLVMGetMDKindIDInContext(cx->ctx, "alias.scope", 11);
  unsigned noalias_kind = LLVMGetMDKindIDInContext(cx->ctx, "noalias", 7);
  LLVMSetMetadata(access, scope_kind,
                  LLVMMetadataAsValue(cx->ctx, LLVMMDNodeInContext2(cx->ctx, in, (size_t)nin)));
  if (nout > 0)
    LLVMSetMetadata(access, noalias_kind,
                    LLVMMetadataAsValue(cx->ctx, LLVMMDNodeInContext2(cx->ctx, out, (size_t)nout)));
}

LLVMValueRef cg_load(Cg *cx, LLVMTypeRef ty, LLVMValueRef base, LLVMValueRef idx) {
  LLVMValueRef v = LLVMBuildLoad2(cx->b, ty, cg_gep(cx, ty, base, idx), "");
  cg_tag(cx, v, buffer_of(cx, base), -1);
  return v;
}

void cg_store(Cg *cx, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
  LLVMValueRef s = LLVMBuildStore(cx->b, v, cg_gep(cx, LLVMTypeOf(v), base, idx));
  cg_tag(cx, s, buffer_of(cx, base), -1);
}

LLVMValueRef cg_min(Cg *cx, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cx->b, LLVMBuildICmp(cx->b, LLVMIntSLT, a, b, ""), a, b, "");
}

LLVMValueRef cg_max(Cg *cx, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cx->b, LLVMBuildICmp(cx->b, LLVMIntSGT, a, b, ""), a, b, "");
}

LLVMValueRef cg_intrinsic(Cg *cx, const char *name, LLVMTypeRef *over, int nover,
                          LLVMValueRef *args, int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  MC_ASSERT(id != 0);
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cx->mod, id, over, (size_t)nover);
  LLVMTypeRef fty = LLVMIntrinsicGetType(cx->ctx, id, over, (size_t)nover);
  return LLVMBuildCall2(cx->b, fty, fn, args, (unsigned)nargs, "");
}

LLVMValueRef cg_function(Cg *cx, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                         int nparams) {
  LLVMValueRef fn = LLVMGetNamedFunction(cx->mod, name);
  if (fn)
    return fn;
  LLVMTypeRef fty = LLVMFunctionType(ret, params, (unsigned)nparams, 0);
  fn = LLVMAddFunction(cx->mod, name, fty);
  cg_set_fn_attr(cx, fn, "nounwind");
  return fn;
}

LLVMTypeRef cg_fn_type(Cg *cx, LLVMValueRef fn) {
  (void)cx;
  return LLVMGlobalGetValueType(fn);
}

LLVMValueRef cg_call(Cg *cx, LLVMValueRef fn, LLVMValueRef *args, int nargs) {
  return LLVMBuildCall2(cx->b, cg_fn_type(cx, fn), fn, args, (unsigned)nargs, "");
}

LLVMValueRef cg_libm(Cg *cx, const char *name, LLVMValueRef a, LLVMValueRef b) {
  LLVMTypeRef t = LLVMTypeOf(a);
  char buf[32];
  snprintf(buf, sizeof buf, "%s%s", name, t == cx->t_f32 ? "f" : "");
  LLVMTypeRef params[2] = {t, t};
  int n = b ? 2 : 1;
  LLVMValueRef fn = cg_function(cx, buf, t, params, n);
  cg_set_fn_attr(cx, fn, "willreturn");
  LLVMValueRef args[2] = {a, b};
  return cg_call(cx, fn, args, n);
}

void cg_set_noalias(Cg *cx, LLVMValueRef fn, int param) {
  unsigned kind = LLVMGetEnumAttributeKindForName("noalias", 7);
  LLVMAddAttributeAtIndex(fn, (LLVMAttributeIndex)(param + 1),
                          LLVMCreateEnumAttribute(cx->ctx, kind, 0));
}

void cg_set_fn_attr(Cg *cx, LLVMValueRef fn, const char *attr) {
  unsigned kind = LLVMGetEnumAttributeKindForName(attr, strlen(attr));
  MC_ASSERT(kind != 0);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(cx->ctx, kind, 0));
}

LLVMBasicBlockRef cg_block(Cg *cx, const char *name) {
  return LLVMAppendBasicBlockInContext(cx->ctx, cx->fn, name);
}

/* ---- control flow ---------------------------------------------------------- */

static bool const_less(LLVMValueRef a, LLVMValueRef b) {
  return LLVMIsAConstantInt(a) && LLVMIsAConstantInt(b) &&
         LLVMConstIntGetSExtValue(a) < LLVMConstIntGetSExtValue(b);
}

static void for_begin(Cg *cx, CgFor *l, LLVMValueRef start, LLVMValueRef end, LLVMValueRef step,
                      bool guard) {
  l->pre = LLVMGetInsertBlock(cx->b);
  l->body = cg_block(cx, "loop");
  l->exit = cg_block(cx, "done");
  l->end = end;
  l->step = step;
  if (guard)
    LLVMBuildCondBr(cx->b, LLVMBuildICmp(cx->b, LLVMIntSLT, start, end, ""), l->body, l->exit);
  else
    LLVMBuildBr(cx->b, l->body);
  LLVMPositionBuilderAtEnd(cx->b, l->body);
  l->iv = LLVMBuildPhi(cx->b, cx->t_i64, "i");
  LLVMAddIncoming(l->iv, &start, &l->pre, 1);
}

void cg_for_begin(Cg *cx, CgFor *l, LLVMValueRef start, LLVMValueRef end, LLVMValueRef step) {
  for_begin(cx, l, start, end, step, !const_less(start, end));
}

void cg_for_begin_nonempty(Cg *cx, CgFor *l, LLVMValueRef start, LLVMValueRef end,
                           LLVMValueRef step) {
  for_begin(cx, l, start, end, step, false);
}

LLVMValueRef cg_for_carry(Cg *cx, CgFor *l, LLVMValueRef init) {
  LLVMValueRef phi = LLVMBuildPhi(cx->b, LLVMTypeOf(init), "");
  LLVMAddIncoming(phi, &init, &l->pre, 1);
  return phi;
}

void cg_for_carry_next(Cg *cx, LLVMValueRef phi, LLVMValueRef next) {
  LLVMBasicBlockRef bb = LLVMGetInsertBlock(cx->b);
  LLVMAddIncoming(phi, &next, &bb, 1);
}

/* The float exp, log, erf and tanh (and what is built on them) are long
   chains of dependent operations (cg_math.c): one vector at a time, a loop
   of them waits on latency. Their kernels' loops ask the vectorizer to
   interleave (which the pipeline otherwise leaves off: cg_compile.c),
   keeping several independent vectors in flight. */
int cg_op_interleave(IrOp op) {
  switch (op) {
  case IR_OP_EXP: case IR_OP_LOG: case IR_OP_TANH: case IR_OP_SIGMOID: case IR_OP_GELU:
  case IR_OP_ERF: case IR_OP_GELU_GRAD: case IR_OP_POW:
    return 4;
  default:
    return 1;
  }
}

/* !llvm.loop !{self, hint...} on a latch branch: a loop id refers to
   itself, made through a temporary node. A hint is !{name} or, with a
   value, !{name, value}. */
static LLVMMetadataRef loop_hint(Cg *cx, const char *name, LLVMValueRef value) {
  LLVMMetadataRef op[2] = {LLVMMDStringInContext2(cx->ctx, name, strlen(name)),
                           value ? LLVMValueAsMetadata(value) : NULL};
  return LLVMMDNodeInContext2(cx->ctx, op, value ? 2 : 1);
}

static void set_loop_hints(Cg *cx, LLVMValueRef br, LLVMMetadataRef *hints, int n) {
  LLVMMetadataRef ops[4];
  ops[0] = LLVMTemporaryMDNode(cx->ctx, NULL, 0);
  for (int i = 0; i < n; i++)
    ops[1 + i] = hints[i];
  LLVMMetadataRef id = LLVMMDNodeInContext2(cx->ctx, ops, (size_t)n + 1);
  LLVMMetadataReplaceAllUsesWith(ops[0], id);
  unsigned kind = LLVMGetMDKindIDInContext(cx->ctx, "llvm.loop", 9);
  LLVMSetMetadata(br, kind, LLVMMetadataAsValue(cx->ctx, id));
}

static LLVMValueRef for_latch(Cg *cx, CgFor *l) {
  LLVMValueRef next = LLVMBuildNSWAdd(cx->b, l->iv, l->step, "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(cx->b);
  LLVMValueRef br =
      LLVMBuildCondBr(cx->b, LLVMBuildICmp(cx->b, LLVMIntSLT, next, l->end, ""), l->body, l->exit);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(cx->b, l->exit);
  return br;
}

void cg_for_end(Cg *cx, CgFor *l) {
  LLVMValueRef br = for_latch(cx, l);
  if (cx->interleave > 1) {
    LLVMMetadataRef h = loop_hint(cx, "llvm.loop.interleave.count",
                                  LLVMConstInt(cx->t_i32, (unsigned)cx->interleave, 0));
    set_loop_hints(cx, br, &h, 1);
  }
}

void cg_for_end_unvectorized(Cg *cx, CgFor *l) {
  LLVMMetadataRef h = loop_hint(cx, "llvm.loop.vectorize.enable",
                                LLVMConstInt(LLVMInt1TypeInContext(cx->ctx), 0, 0));
  set_loop_hints(cx, for_latch(cx, l), &h, 1);
}

void cg_for_end_scalar(Cg *cx, CgFor *l) {
  LLVMMetadataRef h[2] = {
      loop_hint(cx, "llvm.loop.vectorize.enable", LLVMConstInt(LLVMInt1TypeInContext(cx->ctx), 0, 0)),
      loop_hint(cx, "llvm.loop.unroll.disable", NULL)};
  set_loop_hints(cx, for_latch(cx, l), h, 2);
}

void cg_if_begin(Cg *cx, CgIf *s, LLVMValueRef cond) {
  s->then_bb = cg_block(cx, "then");
  s->else_bb = cg_block(cx, "else");
  s->join = NULL;
  LLVMBuildCondBr(cx->b, cond, s->then_bb, s->else_bb);
  LLVMPositionBuilderAtEnd(cx->b, s->then_bb);
}

void cg_if_else(Cg *cx, CgIf *s) {
  s->join = cg_block(cx, "join");
  LLVMBuildBr(cx->b, s->join);
  LLVMPositionBuilderAtEnd(cx->b, s->else_bb);
}

void cg_if_end(Cg *cx, CgIf *s) {
  if (!s->join) { /* no else part: the else block is the join */
    LLVMBuildBr(cx->b, s->else_bb);
    LLVMPositionBuilderAtEnd(cx->b, s->else_bb);
    return;
  }
  LLVMBuildBr(cx->b, s->join);
  LLVMPositionBuilderAtEnd(cx->b, s->join);
}

/* ---- conversions ------------------------------------------------------------ */

LLVMValueRef cg_to_compute(Cg *cx, LLVMValueRef v, IrDtype from, LLVMTypeRef ct) {
  switch (from) {
  case IR_F32:
  case IR_F64:
    return LLVMTypeOf(v) == ct ? v : LLVMBuildFPCast(cx->b, v, ct, "");
  case IR_I32:
    return LLVMBuildSIToFP(cx->b, v, ct, "");
  case IR_BOOL:
  case IR_DTYPE_COUNT:
    return LLVMBuildUIToFP(cx->b, v, ct, "");
  }
  return v;
}

LLVMValueRef cg_from_compute(Cg *cx, LLVMValueRef v, LLVMTypeRef ct, IrDtype to) {
  switch (to) {
  case IR_F32:
  case IR_F64: {
    LLVMTypeRef t = cg_type(cx, to);
    return t == ct ? v : LLVMBuildFPCast(cx->b, v, t, "");
  }
  case IR_I32: {
    /* truncates toward zero, saturates, NaN -> 0: the evaluator's to_i32 */
    LLVMTypeRef over[2] = {cx->t_i32, ct};
    return cg_intrinsic(cx, "llvm.fptosi.sat", over, 2, &v, 1);
  }
  case IR_BOOL:
  case IR_DTYPE_COUNT: {
    LLVMValueRef nz = LLVMBuildFCmp(cx->b, LLVMRealUNE, v, LLVMConstNull(ct), "");
    return LLVMBuildZExt(cx->b, nz, cx->t_i8, "");
  }
  }
  return v;
}

/* ---- strided walks ------------------------------------------------------------ */

void cg_contiguous_strides(const IrShape *s, int64_t *st) {
  int64_t n = 1;
  for (int i = s->rank - 1; i >= 0; i--) {
    st[i] = n;
    n *= s->d[i].n;
  }
}

void cg_broadcast_strides(const IrShape *x, int rank, int64_t *st) {
  int64_t own[IR_MAX_RANK];
  cg_contiguous_strides(x, own);
  int lead = rank - x->rank;
  for (int i = 0; i < rank; i++) {
    int j = i - lead;
    st[i] = (j < 0 || x->d[j].n == 1) ? 0 : own[j];
  }
}

void cg_walk_init(CgWalk *w, const IrShape *s) {
  memset(w, 0, sizeof *w);
  w->rank = s->rank;
  for (int i = 0; i < s->rank; i++)
    w->dims[i] = s->d[i].n;
}

static bool can_merge(const CgWalk *w, int outer, int inner) {
  for (int a = 0; a < CG_WALK_ARRAYS; a++)
    if (w->st[a][outer] != w->st[a][inner] * w->dims[inner])
      return false;
  return true;
}

void cg_walk_coalesce(CgWalk *w) {
  int r = 0;
  for (int i = 0; i < w->rank; i++) {
    if (w->dims[i] == 1)
      continue;
    if (r > 0 && can_merge(w, r - 1, i)) {
      w->dims[r - 1] *= w->dims[i];
      for (int a = 0; a < CG_WALK_ARRAYS; a++)
        w->st[a][r - 1] = w->st[a][i];
      continue;
    }
    w->dims[r] = w->dims[i];
    for (int a = 0; a < CG_WALK_ARRAYS; a++)
      w->st[a][r] = w->st[a][i];
    r++;
  }
  if (r == 0) {
    w->dims[0] = 1;
    for (int a = 0; a < CG_WALK_ARRAYS; a++)
      w->st[a][0] = 0;
    r = 1;
  }
  w->rank = r;
}

void cg_walk_constants(Cg *cx, CgWalk *w) {
  for (int i = 0; i < w->rank; i++) {
    w->vdims[i] = cg_i64(cx, w->dims[i]);
    for (int a = 0; a < CG_WALK_ARRAYS; a++)
      w->vst[a][i] = cg_i64(cx, w->st[a][i]);
  }
}

void cg_walk_runtime(Cg *cx, CgWalk *w, int first_arg) {
  for (int i = 0; i < w->rank; i++)
    w->vdims[i] = cg_karg(cx, first_arg + i);
  for (int a = 0; a < CG_WALK_ARRAYS; a++) {
    LLVMValueRef st = cg_i64(cx, 1);
    for (int i = w->rank - 1; i >= 0; i--) {
      bool moves = w->st[a][i] != 0;
      w->vst[a][i] = moves ? st : cg_i64(cx, 0);
      if (moves)
        st = LLVMBuildNSWMul(cx->b, st, w->vdims[i], "");
    }
  }
}

uint32_t cg_walk_mask(const CgWalk *w, int a) {
  uint32_t m = 0;
  for (int i = 0; i < w->rank; i++)
    m |= (uint32_t)(w->st[a][i] != 0) << i;
  return m;
}

static bool is_const(LLVMValueRef v, int64_t c) {
  return LLVMIsAConstantInt(v) && LLVMConstIntGetSExtValue(v) == c;
}

LLVMValueRef cg_index_at(Cg *cx, LLVMValueRef base, LLVMValueRef i, LLVMValueRef stride) {
  if (is_const(stride, 0))
    return base;
  LLVMValueRef step = is_const(stride, 1) ? i : LLVMBuildNSWMul(cx->b, i, stride, "");
  return is_const(base, 0) ? step : LLVMBuildNSWAdd(cx->b, base, step, "");
}

static void walk_axis(Cg *cx, const CgWalk *w, int axis, LLVMValueRef *off, CgRowFn row,
                      void *ctx) {
  if (axis == w->rank - 1) {
    row(cx, ctx, w, off);
    return;
  }
  CgFor l;
  cg_for_begin(cx, &l, cg_i64(cx, 0), w->vdims[axis], cg_i64(cx, 1));
  LLVMValueRef inner[CG_WALK_ARRAYS];
  for (int a = 0; a < CG_WALK_ARRAYS; a++)
    inner[a] = cg_index_at(cx, off[a], l.iv, w->vst[a][axis]);
  walk_axis(cx, w, axis + 1, inner, row, ctx);
  cg_for_end(cx, &l);
}

void cg_walk_emit(Cg *cx, const CgWalk *w, CgRowFn row, void *ctx) {
  LLVMValueRef off[CG_WALK_ARRAYS];
  for (int a = 0; a < CG_WALK_ARRAYS; a++)
    off[a] = cg_i64(cx, 0);
  walk_axis(cx, w, 0, off, row, ctx);
}

/* ---- masked vectors ------------------------------------------------------------------- */

LLVMValueRef cg_lane_mask(Cg *cx, int L, LLVMValueRef first, LLVMValueRef n) {
  LLVMValueRef idx[64];
  MC_ASSERT(L >= 1 && L <= 64);
  for (int l = 0; l < L; l++)
    idx[l] = cg_i64(cx, l);
  LLVMTypeRef vi = LLVMVectorType(cx->t_i64, (unsigned)L);
  LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(cx->t_i32, (unsigned)L));
  LLVMValueRef f = LLVMBuildInsertElement(cx->b, LLVMGetPoison(vi), first, LLVMConstInt(cx->t_i32, 0, 0), "");
  LLVMValueRef e = LLVMBuildInsertElement(cx->b, LLVMGetPoison(vi), n, LLVMConstInt(cx->t_i32, 0, 0), "");
  f = LLVMBuildShuffleVector(cx->b, f, LLVMGetPoison(vi), zeros, "");
  e = LLVMBuildShuffleVector(cx->b, e, LLVMGetPoison(vi), zeros, "");
  LLVMValueRef lanes = LLVMBuildNSWAdd(cx->b, f, LLVMConstVector(idx, (unsigned)L), "");
  return LLVMBuildICmp(cx->b, LLVMIntSLT, lanes, e, "");
}

LLVMValueRef cg_masked_load(Cg *cx, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx,
                            LLVMValueRef mask, unsigned align) {
  LLVMTypeRef over[2] = {vt, cx->t_ptr};
  LLVMValueRef args[4] = {cg_gep(cx, LLVMGetElementType(vt), base, idx),
                          LLVMConstInt(cx->t_i32, align, 0), mask, LLVMConstNull(vt)};
  return cg_intrinsic(cx, "llvm.masked.load", over, 2, args, 4);
}

LLVMValueRef cg_masked_load_or(Cg *cx, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx,
                               LLVMValueRef mask, LLVMValueRef rest, unsigned align) {
  LLVMTypeRef over[2] = {vt, cx->t_ptr};
  LLVMValueRef args[4] = {cg_gep(cx, LLVMGetElementType(vt), base, idx),
                          LLVMConstInt(cx->t_i32, align, 0), mask, rest};
  return cg_intrinsic(cx, "llvm.masked.load", over, 2, args, 4);
}

void cg_masked_store(Cg *cx, LLVMValueRef v, LLVMTypeRef et, LLVMValueRef base, LLVMValueRef idx,
                     LLVMValueRef mask, unsigned align) {
  LLVMTypeRef over[2] = {LLVMTypeOf(v), cx->t_ptr};
  LLVMValueRef args[4] = {v, cg_gep(cx, et, base, idx), LLVMConstInt(cx->t_i32, align, 0), mask};
  cg_intrinsic(cx, "llvm.masked.store", over, 2, args, 4);
}
