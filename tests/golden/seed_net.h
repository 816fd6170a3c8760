/* seed_net.h -- the C API of model 'seed_net', made by modelc VERSION (`modelc build`).
   Do not edit: rebuild the library instead. The library needs only libc,
   libm and pthreads at run time.

   Buffers are the caller's, dense and row-major. The batch is bound per call:
   dims marked `batch` below scale with it (the model's dim 'B').
   Every function returning int returns 0 on success or an error code below;
   the message of the last failure is seed_net_last_error(ctx). Errors never
   abort or print.

   Thread safety: each context has a lock. Calls on one context from several
   threads are serialized; separate contexts run in parallel.

   forward:
     input  x: f32[batch, 10] (float, 10 per sample)
     output out: f32[batch, 10] (float, 10 per sample)
   train_step (optimizer adam):
     input  x: f32[batch, 10] (float, 10 per sample)
     input  target: f32[batch, 10] (float, 10 per sample)
   params (index: name, shape):
     0: fc1.weight f32[20, 10]
     1: fc1.bias f32[20]
     2: fc2.weight f32[10, 20]
     3: fc2.bias f32[10]
     4: fc1.weight.exp_avg f32[20, 10] (optimizer state)
     5: fc1.weight.exp_avg_sq f32[20, 10] (optimizer state)
     6: fc1.bias.exp_avg f32[20] (optimizer state)
     7: fc1.bias.exp_avg_sq f32[20] (optimizer state)
     8: fc2.weight.exp_avg f32[10, 20] (optimizer state)
     9: fc2.weight.exp_avg_sq f32[10, 20] (optimizer state)
     10: fc2.bias.exp_avg f32[10] (optimizer state)
     11: fc2.bias.exp_avg_sq f32[10] (optimizer state)
   gradients of grad and apply (index: param):
     0: fc1.weight
     1: fc1.bias
     2: fc2.weight
     3: fc2.bias
*/
#ifndef SEED_NET_H_
#define SEED_NET_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SEED_NET_OK 0 /* success */
#define SEED_NET_ERR_ARG 1 /* a NULL pointer, or an index or name out of range */
#define SEED_NET_ERR_BATCH 2 /* batch < 1, or too large for memory */
#define SEED_NET_ERR_SIZE 3 /* a buffer's element count does not fit its shape at this batch */
#define SEED_NET_ERR_IO 4 /* a file cannot be opened, read or written */
#define SEED_NET_ERR_FORMAT 5 /* a weights file is truncated or not safetensors */
#define SEED_NET_ERR_NAME 6 /* a weights file lacks a param of the model */
#define SEED_NET_ERR_SHAPE 7 /* a weights tensor's shape or dtype differs from the param's */
#define SEED_NET_ERR_NOMEM 8 /* out of memory */
#define SEED_NET_ERR_INDEX 9 /* an integer input (a label, a token) is out of range */
#define SEED_NET_ERR_NOTRAIN 10 /* the library was built without --train */
#define SEED_NET_ERR_THREADS 11 /* the worker threads cannot be started */

#define SEED_NET_NUM_PARAMS 12
#define SEED_NET_PARAM_FC1_WEIGHT 0
#define SEED_NET_PARAM_FC1_BIAS 1
#define SEED_NET_PARAM_FC2_WEIGHT 2
#define SEED_NET_PARAM_FC2_BIAS 3
#define SEED_NET_PARAM_FC1_WEIGHT_EXP_AVG 4
#define SEED_NET_PARAM_FC1_WEIGHT_EXP_AVG_SQ 5
#define SEED_NET_PARAM_FC1_BIAS_EXP_AVG 6
#define SEED_NET_PARAM_FC1_BIAS_EXP_AVG_SQ 7
#define SEED_NET_PARAM_FC2_WEIGHT_EXP_AVG 8
#define SEED_NET_PARAM_FC2_WEIGHT_EXP_AVG_SQ 9
#define SEED_NET_PARAM_FC2_BIAS_EXP_AVG 10
#define SEED_NET_PARAM_FC2_BIAS_EXP_AVG_SQ 11
#define SEED_NET_NUM_GRADS 4

typedef struct seed_net_ctx seed_net_ctx;

typedef struct seed_net_config {
  uint64_t seed; /* initializers of params not embedded */
  int threads;    /* <= 0: all online cores */
} seed_net_config;

/* seed 0, all cores */
void seed_net_config_default(seed_net_config *cfg);
/* On failure *out is NULL and seed_net_last_error(NULL) says why. */
int seed_net_create(const seed_net_config *cfg, seed_net_ctx **out);
void seed_net_destroy(seed_net_ctx *ctx);
/* "" after a success; ctx NULL: the last failed create of this thread. */
const char *seed_net_last_error(const seed_net_ctx *ctx);

/* The outputs for `batch` samples; *_count are element counts. */
int seed_net_forward(seed_net_ctx *ctx, int64_t batch, const float *x, size_t x_count, float *out, size_t out_count);
/* The same with every model input (in model order; unused ones may be NULL)
   and output as arrays: for bindings. */
int seed_net_forward_v(seed_net_ctx *ctx, int64_t batch, const void *const *inputs,
    const size_t *input_counts, void *const *outputs, const size_t *output_counts);

/* torch.optim's names; unused ones are ignored by the optimizer. */
typedef struct seed_net_hyper {
  double lr, momentum, weight_decay, beta1, beta2, eps, max_norm;
} seed_net_hyper;
/* torch.optim's defaults for the library's optimizer */
void seed_net_hyper_default(seed_net_hyper *h);
/* One optimizer step on `batch` samples: params and optimizer state are
   updated in place; *loss (may be NULL) gets the batch's loss. h NULL:
   the defaults. */
int seed_net_train_step(seed_net_ctx *ctx, int64_t batch, const float *x, size_t x_count, const float *target, size_t target_count,
    const seed_net_hyper *h, float *loss);
int seed_net_train_step_v(seed_net_ctx *ctx, int64_t batch, const void *const *inputs,
    const size_t *input_counts, const seed_net_hyper *h, float *loss);
/* The training step in two halves, for data-parallel training with your own
   allreduce: grad writes the gradient of the batch's loss for every param
   of the list of gradients above (buffers of its params' shapes) and *loss
   (may be NULL); it updates the buffers (running statistics) as
   train_step does, but no trained param, no optimizer state and not the
   step count. apply takes train_step's optimizer step on the gradients
   given (e.g. grad's averaged over the ranks; h NULL: the defaults); the
   step count goes up. grad then apply on one batch is train_step. */
int seed_net_grad(seed_net_ctx *ctx, int64_t batch, const float *x, size_t x_count, const float *target, size_t target_count, float *fc1_weight_grad, size_t fc1_weight_grad_count, float *fc1_bias_grad, size_t fc1_bias_grad_count, float *fc2_weight_grad, size_t fc2_weight_grad_count, float *fc2_bias_grad, size_t fc2_bias_grad_count,
    float *loss);
int seed_net_grad_v(seed_net_ctx *ctx, int64_t batch, const void *const *inputs,
    const size_t *input_counts, void *const *grads, const size_t *grad_counts,
    float *loss);
int seed_net_apply(seed_net_ctx *ctx, const float *fc1_weight_grad, size_t fc1_weight_grad_count, const float *fc1_bias_grad, size_t fc1_bias_grad_count, const float *fc2_weight_grad, size_t fc2_weight_grad_count, const float *fc2_bias_grad, size_t fc2_bias_grad_count,
    const seed_net_hyper *h);
int seed_net_apply_v(seed_net_ctx *ctx, const void *const *grads, const size_t *grad_counts,
    const seed_net_hyper *h);
/* The param of gradient k (SEED_NET_PARAM_*); -1: no such gradient. */
int seed_net_grad_param(int k);
/* Optimizer steps taken (saved and loaded with the weights). */
int64_t seed_net_steps(const seed_net_ctx *ctx);

/* Params by index (see the list above) or name. */
int seed_net_param_count(void);
const char *seed_net_param_name(int i); /* NULL: no such param */
/* The rank (dims[] gets the shape when not NULL); -1: no such param. */
int seed_net_param_shape(int i, int64_t *dims);
int seed_net_param_find(const char *name); /* -1: no such param */
/* The param's values (float, or double for f64 params); NULL: bad index. */
void *seed_net_param_data(seed_net_ctx *ctx, int i);
/* safetensors, with the params' names (`modelc train --save` writes these);
   save is atomic: a failed save leaves the previous file. */
int seed_net_load(seed_net_ctx *ctx, const char *path);
int seed_net_save(seed_net_ctx *ctx, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* SEED_NET_H_ */
