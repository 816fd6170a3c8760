/* cg_int.h -- declarations shared by the codegen files, never included
   from outside codegen/: the buffer plan, the target's kernel shape, the
   lowering context and its LLVM helpers. One section per source file. */
#ifndef CG_INT_H
#define CG_INT_H

#include <llvm-c/Core.h>

#include "cg.h"

/* ---- the workspace header ------------------------------------------------
   The first bytes of every workspace, read and written by generated code. */
enum {
  CG_WS_POOL = 0,       /* RtPool * for parallel matmul (NULL = run inline) */
  CG_WS_ERR_NODE = 8,   /* i32: id + 1 of the first node whose index failed */
  CG_WS_ERR_VALUE = 16, /* i64: the index it saw */
  CG_WS_HEADER = 64     /* first planned byte */
};
#define CG_ALIGN 64

/* ---- cg_plan.c: where every node's value lives ---------------------------- */
typedef enum {
  CG_LOC_NONE,   /* empty tensor: no storage, no kernel */
  CG_LOC_SLOT,   /* a caller buffer: input, param, or the first output of a node */
  CG_LOC_WORK,   /* the workspace at `offset` */
  CG_LOC_CONST,  /* a module constant (CONST nodes) */
  CG_LOC_ALIAS   /* the storage of node `alias` (a reshape, no copy) */
} CgLocKind;

typedef struct CgLoc {
  CgLocKind kind;
  int slot;            /* CG_LOC_SLOT */
  int64_t offset;      /* CG_LOC_WORK: byte offset in the workspace */
  IrRef alias;         /* CG_LOC_ALIAS: a node whose kind is not ALIAS */
  int64_t scratch;     /* byte offset of the node's scratch (matmul packing) */
} CgLoc;

/* An output that is filled by a copy after every node ran: the node lives
   elsewhere (a source, or the home slot of an earlier output). */
typedef struct CgCopy {
  int slot;
  IrRef node;
} CgCopy;

typedef struct CgTarget CgTarget;

typedef struct CgPlan {
  int nslots;
  int ninputs;           /* slots [0, ninputs) are INPUT and PARAM nodes */
  IrRef *slot_node;      /* [nslots] */
  CgLoc *loc;            /* [g->nnodes] */
  CgCopy *copies;        /* output slots filled by a copy */
  int ncopies;
  int64_t workspace_bytes;
  int64_t naive_bytes;
} CgPlan;

int cg_dtype_size(IrDtype t);
int64_t cg_node_bytes(const IrNode *n);
/* Fills plan for g; scratch sizes come from cg_matmul_scratch_bytes. */
void cg_plan_build(CgPlan *plan, const IrGraph *g, const CgTarget *t);
void cg_plan_free(CgPlan *plan);

/* ---- cg_jit.c: the machine the kernels are shaped for --------------------- */
struct CgTarget {
  int vector_bytes;      /* 16, 32 or 64 */
  int threads;           /* parallel parts for matmul (>= 1) */
  int gemm_mr;           /* microkernel rows */
  int gemm_nv;           /* microkernel vectors per row: NR = nv * lanes */
  int64_t gemm_mc, gemm_kc, gemm_nc;   /* cache blocks, in elements */
};

/* ---- cg_module.c: the lowering context ------------------------------------ */
typedef struct CgKernelCache CgKernelCache;

typedef struct Cg {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
  const IrGraph *g;
  const CgPlan *plan;
  const CgTarget *tgt;
  LLVMValueRef fn;           /* the function being emitted */
  LLVMValueRef gemm_fns[2][3];   /* [f32/f64][microkernel, pack_a, pack_b] */
  CgKernelCache *cache;
  int nkernels;
} Cg;

/* Builds the module of g into cx->mod (which the caller created). */
void cg_module_build(Cg *cx);

/* The kernel function every node of one class gets: (ptr out, ptr in...,
   ptr ws, ptr scratch, i64 len), internal and never inlined. Its entry block is the
   builder's position on return. */
LLVMValueRef cg_kernel_begin(Cg *cx, const char *name, int nin);
void cg_kernel_end(Cg *cx);

/* ---- cg_loop.c: LLVM helpers ---------------------------------------------- */
LLVMTypeRef cg_type(Cg *cx, IrDtype t);
LLVMValueRef cg_i64(Cg *cx, int64_t v);
LLVMValueRef cg_param(Cg *cx, int i);
/* &base[idx] for elements of type ty. */
LLVMValueRef cg_gep(Cg *cx, LLVMTypeRef ty, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cg_load(Cg *cx, LLVMTypeRef ty, LLVMValueRef base, LLVMValueRef idx);
void cg_store(Cg *cx, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef cg_min(Cg *cx, LLVMValueRef a, LLVMValueRef b);   /* signed i64 */
/* Calls an overloaded LLVM intrinsic, e.g. "llvm.exp" over {float}. */
LLVMValueRef cg_intrinsic(Cg *cx, const char *name, LLVMTypeRef *over, int nover,
                          LLVMValueRef *args, int nargs);
/* Calls a libm function of one or two arguments: name is the double
   version ("erf"); the float version ("erff") is used for float. */
LLVMValueRef cg_libm(Cg *cx, const char *name, LLVMValueRef a, LLVMValueRef b);
/* A function in the module (declared when absent). */
LLVMValueRef cg_function(Cg *cx, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                         int nparams);
LLVMTypeRef cg_fn_type(Cg *cx, LLVMValueRef fn);
LLVMValueRef cg_call(Cg *cx, LLVMValueRef fn, LLVMValueRef *args, int nargs);
void cg_set_noalias(Cg *cx, LLVMValueRef fn, int param);
void cg_set_fn_attr(Cg *cx, LLVMValueRef fn, const char *attr);
LLVMBasicBlockRef cg_block(Cg *cx, const char *name);

/* for (iv = start; iv < end; iv += step): between cg_for_begin and
   cg_for_end the builder is in the body and l->iv is the counter. */
typedef struct CgFor {
  LLVMBasicBlockRef pre, body, exit;
  LLVMValueRef iv, end, step;
} CgFor;
void cg_for_begin(Cg *cx, CgFor *l, LLVMValueRef start, LLVMValueRef end, LLVMValueRef step);
/* The same when start < end is known: no guard, so values computed in the
   body (the last cg_for_carry_next) are usable after the loop. */
void cg_for_begin_nonempty(Cg *cx, CgFor *l, LLVMValueRef start, LLVMValueRef end,
                           LLVMValueRef step);
/* A loop-carried value: right after cg_for_begin*, cg_for_carry gives the
   phi starting at init; just before cg_for_end, cg_for_carry_next sets its
   value for the next iteration. */
LLVMValueRef cg_for_carry(Cg *cx, CgFor *l, LLVMValueRef init);
void cg_for_carry_next(Cg *cx, LLVMValueRef phi, LLVMValueRef next);
void cg_for_end(Cg *cx, CgFor *l);
/* if (cond) { ... } [else { ... }]: cg_if_begin positions in the then
   block; cg_if_else switches to the else block; cg_if_end joins. */
typedef struct CgIf {
  LLVMBasicBlockRef then_bb, else_bb, join;
} CgIf;
void cg_if_begin(Cg *cx, CgIf *s, LLVMValueRef cond);
void cg_if_else(Cg *cx, CgIf *s);
void cg_if_end(Cg *cx, CgIf *s);

/* Element conversions through a float "compute type" ct (float/double):
   loads widen to ct, results narrow with the evaluator's rules (i32
   truncates and saturates, bool is x != 0). */
LLVMValueRef cg_to_compute(Cg *cx, LLVMValueRef v, IrDtype from, LLVMTypeRef ct);
LLVMValueRef cg_from_compute(Cg *cx, LLVMValueRef v, LLVMTypeRef ct, IrDtype to);

/* A strided walk over an index space: axes that every array steps through
   contiguously are merged, size-1 axes dropped (as in the evaluator). */
#define CG_WALK_ARRAYS 4
typedef struct CgWalk {
  int rank;                                  /* >= 1 after cg_walk_coalesce */
  int64_t dims[IR_MAX_RANK];
  int64_t st[CG_WALK_ARRAYS][IR_MAX_RANK];   /* element strides */
} CgWalk;
void cg_walk_init(CgWalk *w, const IrShape *s);
void cg_walk_coalesce(CgWalk *w);
void cg_contiguous_strides(const IrShape *s, int64_t *st);
/* Strides that read operand shape `x` at the index of a rank-`rank` result
   it broadcasts to (missing and size-1 axes step 0). */
void cg_broadcast_strides(const IrShape *x, int rank, int64_t *st);
/* Emits the loops of every axis but the last and calls row() in the
   innermost one with each array's element offset at the row's start. */
typedef void (*CgRowFn)(Cg *cx, void *ctx, const CgWalk *w, LLVMValueRef *off);
void cg_walk_emit(Cg *cx, const CgWalk *w, CgRowFn row, void *ctx);

/* ---- cg_scalar.c: ir_scalar.def in LLVM ------------------------------------ */
/* The scalar of ELEM op (or REDUCE combiner) op on a, b, c of type ct. */
LLVMValueRef cg_scalar(Cg *cx, IrOp op, LLVMTypeRef ct, LLVMValueRef a, LLVMValueRef b,
                       LLVMValueRef c);

/* ---- cg_kernel.c: one emitter per op class --------------------------------- */
/* Emits the body of node id's kernel (the builder is in its entry block).
   MATMUL goes to cg_matmul_emit. */
void cg_kernel_emit(Cg *cx, IrRef id);
/* What node id's kernel depends on: nodes with equal keys share a kernel,
   called with *len as its length argument. */
void cg_kernel_key(const IrGraph *g, IrRef id, McStr *key, int64_t *len);

/* ---- cg_matmul.c: packed, blocked, multithreaded GEMM ---------------------- */
int64_t cg_matmul_scratch_bytes(const CgTarget *t, const IrGraph *g, IrRef id);
/* How many parallel parts the node's work is split into (1 = inline). */
int64_t cg_matmul_parts(const CgTarget *t, const IrGraph *g, IrRef id);
void cg_matmul_emit(Cg *cx, IrRef id);

#endif
