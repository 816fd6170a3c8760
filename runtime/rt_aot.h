/* rt_aot.h -- the run-time half of a library made by `modelc build`. The
   build describes the model as C data of this header's types (an image:
   its inputs, outputs, params, and compiled programs (forward; with
   --train also the training step and its two halves, grad and apply)
   whose descriptors and workspace layout are linear in the batch), and writes
   thin exported functions named after the model that call rt_aot_*. All of
   this is compiled with hidden visibility into the library, which needs
   nothing at run time but libc, libm and pthreads.

   A program is the JIT's program (codegen/cg_module.c) with its constant
   tables made data: `run(bufs, ws, descs)` copies the slot pointers into
   the workspace's pointer table and runs every kernel with its descriptor
   words, which rt_aot computes for the batch of the call. */
#ifndef RT_AOT_H
#define RT_AOT_H

#include <stddef.h>
#include <stdint.h>

#define RT_AOT_ABI 3 /* 2: the grad and apply programs; 3: split_min_batch */
#define RT_AOT_MAX_RANK 8

/* The workspace header the generated code reads and writes (the JIT's
   CG_WS_* in codegen/cg_int.h have the same values). */
enum {
  RT_AOT_WS_POOL = 0,       /* RtPool * (NULL: kernels run inline) */
  RT_AOT_WS_ERR_NODE = 8,   /* i32: node id + 1 of the first bad index, 0 = none */
  RT_AOT_WS_ERR_VALUE = 16, /* i64: the index it saw */
  RT_AOT_WS_HEADER = 64     /* the pointer table starts here, 8 bytes an entry */
};
#define RT_AOT_ALIGN 64

/* Error codes; the generated header repeats them with the model's prefix. */
enum {
  RT_AOT_OK = 0,
  RT_AOT_ERR_ARG = 1,     /* a NULL pointer, an index or name out of range */
  RT_AOT_ERR_BATCH = 2,   /* batch < 1, or too large for memory */
  RT_AOT_ERR_SIZE = 3,    /* a buffer's element count does not fit the shape */
  RT_AOT_ERR_IO = 4,      /* a file cannot be opened, read or written */
  RT_AOT_ERR_FORMAT = 5,  /* a weights file is truncated or not safetensors */
  RT_AOT_ERR_NAME = 6,    /* a weights file lacks a param the model has */
  RT_AOT_ERR_SHAPE = 7,   /* a weights tensor's shape or dtype differs */
  RT_AOT_ERR_NOMEM = 8,   /* out of memory */
  RT_AOT_ERR_INDEX = 9,   /* an integer input (a label, a token) out of range */
  RT_AOT_ERR_NOTRAIN = 10, /* the library was built without --train */
  RT_AOT_ERR_THREADS = 11  /* the worker threads cannot be started */
};

/* A value linear in the batch: c0 + c1 * batch. */
typedef struct RtAotLin {
  int64_t c0, c1;
} RtAotLin;

/* A tensor the caller sees (an input, an output, a param). Dim i is
   dims[i], times the batch when bit i of batch_mask is set. dtype: rt.h's
   RT_U8, RT_I32, RT_I64, RT_F32, RT_F64 (models use f32, f64, i32 and u8
   for bool). */
typedef struct RtAotTensor {
  const char *name;
  int32_t dtype;
  int32_t rank;
  int64_t dims[RT_AOT_MAX_RANK];
  uint32_t batch_mask;
  int64_t bound; /* i32 inputs: > 0 when the valid values are [0, bound)
                    (class labels, tokens), checked before a call runs */
} RtAotTensor;

/* What a program slot is bound to at a call. */
enum {
  RT_AOT_SLOT_INPUT,  /* model input `index` (caller's buffer) */
  RT_AOT_SLOT_PARAM,  /* param `index` (the context's storage) */
  RT_AOT_SLOT_HYPER,  /* hyperparameter input `index` (an f32 scalar the context computes) */
  RT_AOT_SLOT_OUTPUT, /* model output `index` (caller's buffer) */
  RT_AOT_SLOT_LOSS,   /* the loss (an f32 scalar) */
  RT_AOT_SLOT_UPDATE, /* the new value of param `index`, swapped in after the step */
  RT_AOT_SLOT_UNUSED, /* not read or written (an update computed in its param's buffer) */
  RT_AOT_SLOT_GRAD    /* gradient `index` (of param grad_params[index]): the caller's
                         buffer, written by the grad program, read by the apply program */
};

typedef struct RtAotSlot {
  int32_t role;  /* RT_AOT_SLOT_* */
  int32_t index; /* see the roles */
} RtAotSlot;

/* A constant the workspace holds, stored once per batch at `offset` as
   dtype (RT_F32, RT_F64, RT_I32, RT_U8): power 0: value; power 1: value *
   batch (e.g. the element count of a mean); power -1: 1 / (value * batch);
   power 2: n / (n - 1) with n = value * batch (Bessel's correction of an
   unbiased variance)
   (its reciprocal), computed in double. */
typedef struct RtAotConst {
  RtAotLin offset;
  int32_t dtype;
  int32_t power;
  double value;
} RtAotConst;

/* A gather or scatter_add, for the message when its index is out of range. */
typedef struct RtAotIndexNode {
  int64_t node;
  const char *op;   /* "gather" */
  const char *where; /* "mlp.model:12:7" or "" */
  RtAotLin rows;    /* the valid range is [0, rows) */
} RtAotIndexNode;

typedef void (*RtAotRunFn)(void *const *bufs, void *ws, const int64_t *descs);

typedef struct RtAotProgram {
  RtAotRunFn run;
  int32_t nslots;
  const RtAotSlot *slots;
  int32_t ndesc; /* descriptor words */
  const RtAotLin *desc;
  /* Pointer-table entries after the slots: entry nslots + i points at byte
     table[i] of the workspace (c0 == -1 && c1 == 0: a null pointer). */
  int32_t ntable;
  const RtAotLin *table;
  int32_t nconst;
  const RtAotConst *consts;
  RtAotLin ws_bytes;  /* the workspace's size */
  RtAotLin heap_base; /* bytes [0, heap_base) are zeroed before the table is filled */
  int32_t uses_pool;  /* kernels may run in parts on the pool */
  int32_t nindex;
  const RtAotIndexNode *index_nodes;
  /* > 0: the program's batch rows never meet (codegen's cg_split_ok), and
     from this batch on the runtime runs it as one copy per pool thread,
     each on its own rows, with the kernels inline; 0: never */
  int64_t split_min_batch;
} RtAotProgram;

/* Initializers (torch.nn.init): rt.h's RtInit fields (rt_init.c). */
typedef struct RtAotInit {
  int32_t kind; /* RtInitKind */
  double a, b;
  int32_t fan_out;
} RtAotInit;

typedef struct RtAotParam {
  RtAotTensor t;      /* never batch-dependent */
  int32_t state;      /* 1: optimizer state ("fc1.weight.exp_avg"), 0: a model param */
  RtAotInit init;     /* used when initial is NULL */
  const void *initial; /* embedded values (`modelc build --weights`) or NULL */
} RtAotParam;

typedef struct RtAotModel {
  int32_t abi; /* RT_AOT_ABI */
  const char *name;
  int32_t ninputs;
  const RtAotTensor *inputs;
  int32_t noutputs;
  const RtAotTensor *outputs;
  int32_t nparams; /* model params first, then optimizer state */
  const RtAotParam *params;
  /* The train step's hyperparameter inputs ("opt.lr", "opt.step_size", ...)
     in slot order; their values come from RtAotHyper and the step count. */
  int32_t nhyper;
  const char *const *hyper_names;
  int32_t optimizer; /* RtOptimKind; -1 without --train */
  int32_t nesterov, clip_grad_norm;
  const RtAotProgram *forward;
  const RtAotProgram *train; /* NULL without --train */
  /* With --train, for data-parallel training with the caller's allreduce
     (NULL otherwise): the gradient program (the training step's forward and
     gradient, and its buffer updates such as running statistics; no
     optimizer) and the apply program (the optimizer update alone, reading
     the gradients as inputs). Gradient k of both is that of model param
     grad_params[k] (the trained params, in model order). */
  const RtAotProgram *grad;
  const RtAotProgram *apply;
  int32_t ngrads;
  const int32_t *grad_params;
} RtAotModel;

/* The user's hyperparameters (torch.optim's names). */
typedef struct RtAotHyper {
  double lr, momentum, weight_decay, beta1, beta2, eps, max_norm;
} RtAotHyper;

typedef struct RtAotConfig {
  uint64_t seed; /* initializers (ignored for params with embedded values) */
  int threads;   /* <= 0: all online cores */
} RtAotConfig;

/* ---- rt_aot.c ---------------------------------------------------------------
   Every function takes the context's lock: calls on one context from
   several threads are serialized (contexts are independent). Errors return
   a code and leave a message for rt_aot_last_error. */
typedef struct RtAotCtx RtAotCtx;

/* On failure *out is NULL and the message is left for
   rt_aot_last_error(NULL) in the calling thread. */
int rt_aot_create(const RtAotModel *m, const RtAotConfig *cfg, RtAotCtx **out);
void rt_aot_destroy(RtAotCtx *c);
/* The message of the context's last failed call ("" after success), or with
   c == NULL of this thread's last failed rt_aot_create. */
const char *rt_aot_last_error(const RtAotCtx *c);

/* inputs[i] / outputs[i]: model input / output i (outputs may be NULL
   for outputs the caller does not want); counts: their element counts,
   checked against the shapes at this batch. */
int rt_aot_forward(RtAotCtx *c, int64_t batch, const void *const *inputs, const size_t *in_counts,
                   void *const *outputs, const size_t *out_counts);
/* One training step: forward, gradient, optimizer update of the params and
   optimizer state in place; loss (may be NULL) receives the batch loss.
   h NULL: torch.optim's defaults for the built optimizer. */
int rt_aot_train_step(RtAotCtx *c, int64_t batch, const void *const *inputs,
                      const size_t *in_counts, const RtAotHyper *h, float *loss);
/* The training step in two halves, for data-parallel training: each rank
   runs rt_aot_grad on its part of the batch, the caller averages the
   gradients over the ranks, every rank runs rt_aot_apply on the mean.
   grads[k] / grad_counts[k]: gradient k (of param m->grad_params[k]), of
   its param's dtype and element count; every one must be given, distinct
   from the inputs. rt_aot_grad writes the gradients of the batch loss
   (loss may be NULL) and applies the step's buffer updates (running
   statistics, the dropout state) to the context's params as a training
   step does; it changes no trained param, no optimizer state and not the
   step count. rt_aot_apply takes the optimizer step rt_aot_train_step
   takes after its gradient, on the given gradients (hyperparameters from h
   and the step count, which goes up). Without --train both return
   RT_AOT_ERR_NOTRAIN. */
int rt_aot_grad(RtAotCtx *c, int64_t batch, const void *const *inputs, const size_t *in_counts,
                void *const *grads, const size_t *grad_counts, float *loss);
int rt_aot_apply(RtAotCtx *c, const void *const *grads, const size_t *grad_counts,
                 const RtAotHyper *h);
void rt_aot_hyper_default(const RtAotModel *m, RtAotHyper *h);
int64_t rt_aot_steps(const RtAotCtx *c); /* training steps taken */

/* Params (model params, then optimizer state) by index or name. */
int rt_aot_param_find(const RtAotModel *m, const char *name); /* -1: none */
void *rt_aot_param_data(RtAotCtx *c, int i);                  /* NULL: bad index */
/* safetensors with the params' names (optimizer state and the step count
   included when present); save is atomic (a failed save leaves the old
   file). A load checks every name, shape and dtype before changing
   anything: a missing param is an error, a missing optimizer state tensor
   is zeroed, tensors the model lacks are ignored (a training checkpoint
   loads into an inference library). */
int rt_aot_load(RtAotCtx *c, const char *path);
int rt_aot_save(RtAotCtx *c, const char *path);

#endif
