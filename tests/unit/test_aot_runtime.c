/* test_aot_runtime.c -- the run-time half of `modelc build` (rt_aot.h) on a
   model image written by hand: input x f32[B,3] (and target f32[B,3] for
   training), params w f32[3] (kaiming_uniform) and b f32[] (zeros), Adam
   state w.exp_avg, output y = x*w + b. Its programs are C functions that
   read their slots from the workspace's pointer table the way generated
   code does and record what they saw (descriptor words, constants, table
   entries, hyperparameters); its grad and apply programs split the step
   in two (rt_aot_grad, rt_aot_apply). Also the runtime's RNG, initializers and
   optimizer scalars against the compiler's, checkpoints, every error path,
   threads sharing a context, and the embedded archive (rt_aot_blob.h). */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir.h"
#include "pass.h"
#include "rt.h"
#include "rt_aot.h"
#include "rt_aot_blob.h"
#include "test_util.h"

/* ---- scratch files ------------------------------------------------------------ */

static char tmpdir[64];

static const char *tpath(const char *name) {
  static char bufs[8][256];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
  return b;
}

/* The whole file, malloc'd; *n = its size (NULL when unreadable). */
static unsigned char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
}

static void write_all(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
  fclose(f);
}

/* ---- the hand-written programs ------------------------------------------------------ */

/* What the last program run saw. */
typedef struct Seen {
  int64_t descs[2];
  int32_t err_node_on_entry; /* must be 0: the runtime clears it */
  void *pool;
  void *null_entry;
  float scale;
  double inv_batch;
  int32_t i32_batch3, i32_saturated, i32_trunc;
  uint8_t u8_true, u8_false;
  float hyper[3]; /* opt.lr, opt.step_size, opt.beta1 */
  int calls;
} Seen;

static Seen seen;
static int64_t bad_index_value = -1; /* >= 0: the programs report a gather out of range */

typedef struct Rows {
  const float *x, *w, *b;
  float *y, *tmp, scale;
  int64_t row;
} Rows;

/* y = (x*w)*scale + b over rows [begin, end), through the batch-sized scratch. */
static void rows_fn(void *ctx, int64_t begin, int64_t end) {
  const Rows *r = ctx;
  for (int64_t i = begin * r->row; i < end * r->row; i++) {
    r->tmp[i] = r->x[i] * r->w[i % r->row];
    r->y[i] = r->tmp[i] * r->scale + r->b[0];
  }
}

static void report_bad_index(char *ws) {
  if (bad_index_value < 0) return;
  int32_t node = 7 + 1;
  memcpy(ws + RT_AOT_WS_ERR_NODE, &node, sizeof node);
  memcpy(ws + RT_AOT_WS_ERR_VALUE, &bad_index_value, sizeof bad_index_value);
}

/* Forward slots: x, w, b, y; table: constants, a null entry, the scratch. */
enum { F_X, F_W, F_B, F_Y, F_NSLOTS };

static void forward_run(void *const *bufs, void *ws, const int64_t *descs) {
  char *base = ws;
  void **tab = (void **)(base + RT_AOT_WS_HEADER);
  memcpy(&seen.err_node_on_entry, base + RT_AOT_WS_ERR_NODE, sizeof(int32_t));
  memcpy(tab, bufs, F_NSLOTS * sizeof *tab);
  const char *k = tab[F_NSLOTS];
  memcpy(&seen.pool, base + RT_AOT_WS_POOL, sizeof seen.pool);
  seen.null_entry = tab[F_NSLOTS + 1];
  memcpy(&seen.scale, k, 4);
  memcpy(&seen.inv_batch, k + 8, 8);
  memcpy(&seen.i32_batch3, k + 16, 4);
  memcpy(&seen.i32_saturated, k + 20, 4);
  seen.u8_true = (uint8_t)k[24];
  seen.u8_false = (uint8_t)k[25];
  memcpy(&seen.i32_trunc, k + 32, 4);
  seen.descs[0] = descs[0];
  seen.descs[1] = descs[1];
  seen.calls++;
  Rows r = {tab[F_X], tab[F_W], tab[F_B], tab[F_Y], tab[F_NSLOTS + 2], seen.scale, descs[1]};
  rt_parallel_for(seen.pool, descs[0] / descs[1], rows_fn, &r);
  report_bad_index(base);
}

/* Train slots. */
enum {
  T_X, T_TARGET, T_W, T_B, T_M, T_LR, T_STEP_SIZE, T_BETA1, T_LOSS, T_UW, T_UB, T_UM, T_Y,
  T_NSLOTS
};

/* The test's gradient on n rows (row = 3): loss = mean over rows of the
   squared error summed over a row, gw[3] and gb[1] its gradients. */
static void grad_math(int64_t n, const float *x, const float *t, const float *w, const float *b,
                      double inv, float *loss, float *gw, float *gb) {
  double dw[3] = {0, 0, 0}, db = 0, l = 0;
  for (int64_t i = 0; i < n * 3; i++) {
    double d = (double)(x[i] * w[i % 3] + b[0]) - t[i];
    l += d * d;
    dw[i % 3] += 2 * d * x[i] * inv;
    db += 2 * d * inv;
  }
  *loss = (float)(l * inv);
  for (int j = 0; j < 3; j++) gw[j] = (float)dw[j];
  gb[0] = (float)db;
}

/* The test's "optimizer": w -= step_size * gw, b -= lr * gb, m = beta1*m +
   (1 - beta1)*gw. */
static void update_math(const float *w, const float *b, const float *m, const float *gw,
                        const float *gb, float lr, float step_size, float beta1, float *w2,
                        float *b2, float *m2) {
  for (int j = 0; j < 3; j++) {
    w2[j] = w[j] - step_size * gw[j];
    m2[j] = beta1 * m[j] + (1 - beta1) * gw[j];
  }
  b2[0] = b[0] - lr * gb[0];
}

/* One step: grad_math, then update_math. */
static void train_math(int64_t n, const float *x, const float *t, const float *w, const float *b,
                       const float *m, double inv, float lr, float step_size, float beta1,
                       float *loss, float *w2, float *b2, float *m2) {
  float gw[3], gb[1];
  grad_math(n, x, t, w, b, inv, loss, gw, gb);
  update_math(w, b, m, gw, gb, lr, step_size, beta1, w2, b2, m2);
}

static void train_run(void *const *bufs, void *ws, const int64_t *descs) {
  char *base = ws;
  void **tab = (void **)(base + RT_AOT_WS_HEADER);
  memcpy(&seen.err_node_on_entry, base + RT_AOT_WS_ERR_NODE, sizeof(int32_t));
  memcpy(tab, bufs, T_NSLOTS * sizeof *tab);
  memcpy(&seen.inv_batch, tab[T_NSLOTS], 8);
  for (int h = 0; h < 3; h++) seen.hyper[h] = *(const float *)tab[T_LR + h];
  seen.descs[0] = descs[0];
  seen.descs[1] = descs[1];
  seen.calls++;
  int64_t n = descs[0] / descs[1];
  const float *x = tab[T_X], *w = tab[T_W], *b = tab[T_B];
  float *y = tab[T_Y];
  for (int64_t i = 0; i < n * 3; i++) y[i] = x[i] * w[i % 3] + b[0];
  train_math(n, x, tab[T_TARGET], w, b, tab[T_M], seen.inv_batch, seen.hyper[0], seen.hyper[1],
             seen.hyper[2], tab[T_LOSS], tab[T_UW], tab[T_UB], tab[T_UM]);
  report_bad_index(base);
}

/* Grad slots: the train program's without the optimizer. */
enum { G_X, G_TARGET, G_W, G_B, G_LOSS, G_GW, G_GB, G_NSLOTS };

static void grad_run(void *const *bufs, void *ws, const int64_t *descs) {
  char *base = ws;
  void **tab = (void **)(base + RT_AOT_WS_HEADER);
  memcpy(tab, bufs, G_NSLOTS * sizeof *tab);
  memcpy(&seen.inv_batch, tab[G_NSLOTS], 8);
  seen.descs[0] = descs[0];
  seen.calls++;
  grad_math(descs[0] / descs[1], tab[G_X], tab[G_TARGET], tab[G_W], tab[G_B], seen.inv_batch,
            tab[G_LOSS], tab[G_GW], tab[G_GB]);
}

/* Apply slots: the params, the gradients (inputs), hyperparameters, updates. */
enum { A_W, A_B, A_M, A_GW, A_GB, A_LR, A_STEP_SIZE, A_BETA1, A_UW, A_UB, A_UM, A_NSLOTS };

static void apply_run(void *const *bufs, void *ws, const int64_t *descs) {
  (void)descs;
  void **tab = (void **)((char *)ws + RT_AOT_WS_HEADER);
  memcpy(tab, bufs, A_NSLOTS * sizeof *tab);
  for (int h = 0; h < 3; h++) seen.hyper[h] = *(const float *)tab[A_LR + h];
  seen.calls++;
  update_math(tab[A_W], tab[A_B], tab[A_M], tab[A_GW], tab[A_GB], seen.hyper[0], seen.hyper[1],
              seen.hyper[2], tab[A_UW], tab[A_UB], tab[A_UM]);
}

/* ---- the image ---------------------------------------------------------------------- */

static const RtAotTensor inputs[] = {
    {"x", RT_F32, 2, {1, 3}, 1u, 0},
    {"target", RT_F32, 2, {1, 3}, 1u, 0},
};
static const RtAotTensor outputs[] = {{"y", RT_F32, 2, {1, 3}, 1u, 0}};

#define SQRT5 2.23606797749979
static const RtAotParam params[] = {
    {{"w", RT_F32, 1, {3}, 0, 0}, 0, {RT_INIT_KAIMING_UNIFORM, SQRT5, 0, 0}, NULL},
    {{"b", RT_F32, 0, {0}, 0, 0}, 0, {RT_INIT_ZEROS, 0, 0, 0}, NULL},
    {{"w.exp_avg", RT_F32, 1, {3}, 0, 0}, 1, {RT_INIT_ZEROS, 0, 0, 0}, NULL},
};

static const RtAotSlot forward_slots[F_NSLOTS] = {
    [F_X] = {RT_AOT_SLOT_INPUT, 0},
    [F_W] = {RT_AOT_SLOT_PARAM, 0},
    [F_B] = {RT_AOT_SLOT_PARAM, 1},
    [F_Y] = {RT_AOT_SLOT_OUTPUT, 0},
};
static const RtAotLin row_descs[] = {{0, 3}, {3, 0}}; /* elements, row length */
static const RtAotLin forward_table[] = {{128, 0}, {-1, 0}, {192, 0}};
static const RtAotConst forward_consts[] = {
    {{128, 0}, RT_F32, 0, 1.0},   /* scale */
    {{136, 0}, RT_F64, -1, 1.0},  /* 1/batch */
    {{144, 0}, RT_I32, 1, 3.0},   /* 3*batch */
    {{148, 0}, RT_I32, 0, 1e12},  /* saturates */
    {{152, 0}, RT_U8, 0, 0.25},   /* true */
    {{153, 0}, RT_U8, 0, 0.0},    /* false */
    {{160, 0}, RT_I32, 0, -7.9},  /* truncates */
};
static const RtAotIndexNode index_nodes[] = {{7, "gather", "tiny.model:4:9", {3, 0}}};

static const RtAotProgram forward_program = {
    .run = forward_run,
    .nslots = F_NSLOTS, .slots = forward_slots,
    .ndesc = 2, .desc = row_descs,
    .ntable = 3, .table = forward_table,
    .nconst = 7, .consts = forward_consts,
    .ws_bytes = {192, 12}, /* the scratch: 3 floats a row */
    .heap_base = {128, 0},
    .uses_pool = 1,
    .nindex = 1, .index_nodes = index_nodes,
};

static const RtAotSlot train_slots[T_NSLOTS] = {
    [T_X] = {RT_AOT_SLOT_INPUT, 0},       [T_TARGET] = {RT_AOT_SLOT_INPUT, 1},
    [T_W] = {RT_AOT_SLOT_PARAM, 0},       [T_B] = {RT_AOT_SLOT_PARAM, 1},
    [T_M] = {RT_AOT_SLOT_PARAM, 2},       [T_LR] = {RT_AOT_SLOT_HYPER, 0},
    [T_STEP_SIZE] = {RT_AOT_SLOT_HYPER, 1}, [T_BETA1] = {RT_AOT_SLOT_HYPER, 2},
    [T_LOSS] = {RT_AOT_SLOT_LOSS, 0},     [T_UW] = {RT_AOT_SLOT_UPDATE, 0},
    [T_UB] = {RT_AOT_SLOT_UPDATE, 1},     [T_UM] = {RT_AOT_SLOT_UPDATE, 2},
    [T_Y] = {RT_AOT_SLOT_OUTPUT, 0},
};
static const RtAotLin train_table[] = {{192, 0}};
static const RtAotConst train_consts[] = {{{192, 0}, RT_F64, -1, 1.0}};
static const char *const hyper_names[] = {"opt.lr", "opt.step_size", "opt.beta1"};

static const RtAotProgram train_program = {
    .run = train_run,
    .nslots = T_NSLOTS, .slots = train_slots,
    .ndesc = 2, .desc = row_descs,
    .ntable = 1, .table = train_table,
    .nconst = 1, .consts = train_consts,
    .ws_bytes = {256, 0},
    .heap_base = {192, 0},
    .nindex = 1, .index_nodes = index_nodes,
};

static const RtAotSlot grad_slots[G_NSLOTS] = {
    [G_X] = {RT_AOT_SLOT_INPUT, 0}, [G_TARGET] = {RT_AOT_SLOT_INPUT, 1},
    [G_W] = {RT_AOT_SLOT_PARAM, 0}, [G_B] = {RT_AOT_SLOT_PARAM, 1},
    [G_LOSS] = {RT_AOT_SLOT_LOSS, 0}, [G_GW] = {RT_AOT_SLOT_GRAD, 0},
    [G_GB] = {RT_AOT_SLOT_GRAD, 1},
};
static const RtAotProgram grad_program = {
    .run = grad_run,
    .nslots = G_NSLOTS, .slots = grad_slots,
    .ndesc = 2, .desc = row_descs,
    .ntable = 1, .table = train_table,
    .nconst = 1, .consts = train_consts,
    .ws_bytes = {256, 0},
    .heap_base = {192, 0},
};

static const RtAotSlot apply_slots[A_NSLOTS] = {
    [A_W] = {RT_AOT_SLOT_PARAM, 0},        [A_B] = {RT_AOT_SLOT_PARAM, 1},
    [A_M] = {RT_AOT_SLOT_PARAM, 2},        [A_GW] = {RT_AOT_SLOT_GRAD, 0},
    [A_GB] = {RT_AOT_SLOT_GRAD, 1},        [A_LR] = {RT_AOT_SLOT_HYPER, 0},
    [A_STEP_SIZE] = {RT_AOT_SLOT_HYPER, 1}, [A_BETA1] = {RT_AOT_SLOT_HYPER, 2},
    [A_UW] = {RT_AOT_SLOT_UPDATE, 0},      [A_UB] = {RT_AOT_SLOT_UPDATE, 1},
    [A_UM] = {RT_AOT_SLOT_UPDATE, 2},
};
static const RtAotProgram apply_program = {
    .run = apply_run,
    .nslots = A_NSLOTS, .slots = apply_slots,
    .ws_bytes = {256, 0},
    .heap_base = {192, 0},
};
static const int32_t grad_params[] = {0, 1}; /* w, b */

/* The training image (Adam), and a forward-only one (x only, no state). */
static const RtAotModel tiny_train = {
    .abi = RT_AOT_ABI, .name = "tiny",
    .ninputs = 2, .inputs = inputs,
    .noutputs = 1, .outputs = outputs,
    .nparams = 3, .params = params,
    .nhyper = 3, .hyper_names = hyper_names,
    .optimizer = RT_OPTIM_ADAM,
    .forward = &forward_program, .train = &train_program,
};

/* The training image with the step's two halves. */
static const RtAotModel tiny_dp = {
    .abi = RT_AOT_ABI, .name = "tiny",
    .ninputs = 2, .inputs = inputs,
    .noutputs = 1, .outputs = outputs,
    .nparams = 3, .params = params,
    .nhyper = 3, .hyper_names = hyper_names,
    .optimizer = RT_OPTIM_ADAM,
    .forward = &forward_program, .train = &train_program,
    .grad = &grad_program, .apply = &apply_program,
    .ngrads = 2, .grad_params = grad_params,
};

static const RtAotModel tiny_forward = {
    .abi = RT_AOT_ABI, .name = "tiny",
    .ninputs = 1, .inputs = inputs,
    .noutputs = 1, .outputs = outputs,
    .nparams = 2, .params = params,
    .optimizer = -1,
    .forward = &forward_program,
};

/* ---- helpers ------------------------------------------------------------------------- */

static RtAotCtx *make(const RtAotModel *m, uint64_t seed) {
  RtAotConfig cfg = {seed, 2};
  RtAotCtx *c = NULL;
  int rc = rt_aot_create(m, &cfg, &c);
  if (rc) fprintf(stderr, "\n  create: %s\n", rt_aot_last_error(NULL));
  CU_ASSERT_EQUAL_FATAL(rc, RT_AOT_OK);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_STRING_EQUAL(rt_aot_last_error(c), "");
  return c;
}

/* x[i] of a batch: a value that depends on i and the salt. */
static float xval(int64_t i, int salt) { return (float)((i * 37 + salt * 11) % 101) / 50.0f - 1.0f; }

static float *make_x(int64_t batch, int salt) {
  float *x = malloc((size_t)batch * 3 * sizeof *x);
  for (int64_t i = 0; i < batch * 3; i++) x[i] = xval(i, salt);
  return x;
}

static float *param_f32(RtAotCtx *c, const char *name) {
  int i = rt_aot_param_find(&tiny_train, name);
  CU_ASSERT_FATAL(i >= 0);
  return rt_aot_param_data(c, i);
}

/* forward at batch with x = make_x(batch, salt); y (batch*3) filled. */
static int forward(RtAotCtx *c, int64_t batch, int salt, float *y) {
  float *x = make_x(batch, salt);
  const void *in[2] = {x, NULL};
  size_t nin[2] = {(size_t)batch * 3, 0}, nout[1] = {(size_t)batch * 3};
  void *out[1] = {y};
  int rc = rt_aot_forward(c, batch, in, nin, out, nout);
  free(x);
  return rc;
}

static bool contains(const char *s, const char *part) {
  bool ok = strstr(s, part) != NULL;
  if (!ok) fprintf(stderr, "\n  '%s' lacks '%s'\n", s, part);
  return ok;
}

/* ---- RNG, initializers, optimizer scalars ------------------------------------------- */

/* The counter RNG keeps its values (pinned from before it moved into the
   runtime), and the compiler's names are the same functions. */
static void test_aot_rng_is_unchanged(void) {
  CU_ASSERT_EQUAL(rt_rng_u64(1, 2, 3), 0x47c675ee3ee64cccULL);
  CU_ASSERT_EQUAL(rt_hash_str("fc1.weight"), 0x0fc5ab63896269edULL);
  CU_ASSERT_EQUAL(rt_rng_uniform(7, 9, 11), 0x1.7a9f136469094p-1);
  CU_ASSERT_EQUAL(rt_rng_normal(7, 9, 11), -0x1.f885bb35de49fp-1);
  for (uint64_t i = 0; i < 1000; i++) {
    CU_ASSERT_EQUAL(mc_rng_u64(i, 3 * i, 7 * i), rt_rng_u64(i, 3 * i, 7 * i));
    CU_ASSERT_EQUAL(mc_rng_normal(5, i, i), rt_rng_normal(5, i, i));
  }
  CU_ASSERT_EQUAL(mc_hash_str("w"), rt_hash_str("w"));
}

/* rt_init_fill gives what ir_init_fill gives for an IR param, bit for bit,
   for every initializer and a few shapes. */
static void test_aot_init_matches_ir(void) {
  static const int64_t shapes[][4] = {{20, 10}, {7}, {4, 3, 2, 2}, {0}};
  static const int ranks[] = {2, 1, 4, 0};
  static double a[512], b[512];
  for (int k = 0; k < RT_INIT_COUNT; k++)
    for (int s = 0; s < 4; s++)
      for (int fan_out = 0; fan_out < 2; fan_out++) {
        McDiag d;
        mc_diag_init(&d, NULL, NULL);
        IrGraph *g = ir_graph_new("t", &d);
        IrShape shape = {.rank = (uint8_t)ranks[s]};
        for (int i = 0; i < ranks[s]; i++) shape.d[i] = ir_dim_const(shapes[s][i]);
        IrInit ii = {(IrInitKind)k, k >= RT_INIT_KAIMING_UNIFORM ? SQRT5 : 0.5, 1.5, fan_out};
        IrRef p = ir_param(g, "layer.weight", IR_F32, &shape, ii, (McLoc){0});
        CU_ASSERT_FATAL(p != IR_NONE);
        memset(a, 0, sizeof a);
        memset(b, 0, sizeof b);
        ir_init_fill(g, ir_node(g, p), 42, a);
        RtInit ri = {(RtInitKind)k, ii.a, ii.b, fan_out};
        rt_init_fill(&ri, "layer.weight", ranks[s], shapes[s], 42, b);
        CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);
        ir_graph_free(g);
        mc_diag_fini(&d);
      }
}

/* A context's params are the JIT's: the initializer in double, rounded to
   f32; they depend on the seed; embedded values win. */
static void test_aot_create_initializes_like_the_jit(void) {
  RtAotCtx *c = make(&tiny_train, 42), *c2 = make(&tiny_train, 42), *c3 = make(&tiny_train, 7);
  double want[3];
  RtInit ri = {RT_INIT_KAIMING_UNIFORM, SQRT5, 0, false};
  rt_init_fill(&ri, "w", 1, params[0].t.dims, 42, want);
  const float *w = param_f32(c, "w");
  for (int j = 0; j < 3; j++) CU_ASSERT_EQUAL(w[j], (float)want[j]);
  CU_ASSERT_NOT_EQUAL(w[0], 0.0f);
  CU_ASSERT_EQUAL(memcmp(w, param_f32(c2, "w"), 3 * sizeof(float)), 0);
  CU_ASSERT_NOT_EQUAL(memcmp(w, param_f32(c3, "w"), 3 * sizeof(float)), 0);
  CU_ASSERT_EQUAL(param_f32(c, "b")[0], 0.0f);
  CU_ASSERT_EQUAL(param_f32(c, "w.exp_avg")[2], 0.0f);
  CU_ASSERT_EQUAL((uintptr_t)w % RT_AOT_ALIGN, 0);
  rt_aot_destroy(c);
  rt_aot_destroy(c2);
  rt_aot_destroy(c3);

  static const float w_given[3] = {0.5f, -2.0f, 3.25f};
  RtAotParam p2[3];
  memcpy(p2, params, sizeof p2);
  p2[0].initial = w_given;
  RtAotModel m = tiny_train;
  m.params = p2;
  RtAotCtx *c4 = make(&m, 42);
  CU_ASSERT_EQUAL(memcmp(rt_aot_param_data(c4, 0), w_given, sizeof w_given), 0);
  rt_aot_destroy(c4);
}

/* The runtime's optimizer scalars are the compiler's (pass_optim). */
static void test_aot_optim_matches_passes(void) {
  static const char *const names[] = {
      "opt.lr", "opt.momentum", "opt.weight_decay", "opt.beta1", "opt.beta2", "opt.eps",
      "opt.step_size", "opt.bias_correction2_sqrt", "opt.one_minus_beta1",
      "opt.one_minus_beta2", "opt.max_norm", "opt.nothing", "x"};
  for (int k = 0; k < PASS_OPTIM_COUNT; k++) {
    PassOptimHyper ph = pass_optim_defaults((PassOptimKind)k);
    RtOptimHyper rh = rt_optim_defaults(k);
    CU_ASSERT_EQUAL(ph.lr, rh.lr);
    CU_ASSERT_EQUAL(ph.weight_decay, rh.weight_decay);
    CU_ASSERT_EQUAL(ph.beta2, rh.beta2);
    CU_ASSERT_STRING_EQUAL(rt_optim_kind_name(k), pass_optim_kind_name((PassOptimKind)k));
    ph.lr = rh.lr = 0.0123;
    ph.momentum = rh.momentum = 0.8;
    for (int64_t step = 0; step < 5; step++)
      for (size_t i = 0; i < MC_COUNTOF(names); i++) {
        double a = -1, b = -2;
        bool oka = pass_optim_input_value(&ph, step, names[i], &a);
        bool okb = rt_optim_input_value(&rh, step, names[i], &b);
        CU_ASSERT_EQUAL(oka, okb);
        if (oka && okb) CU_ASSERT_EQUAL(a, b);
      }
  }
  RtOptimHyper h = rt_optim_defaults(RT_OPTIM_ADAMW);
  double v;
  CU_ASSERT_EQUAL(h.weight_decay, 1e-2);
  CU_ASSERT_TRUE(rt_optim_input_value(&h, 3, "opt.step_size", &v));
  CU_ASSERT_EQUAL(v, 1e-3 / (1.0 - pow(0.9, 3.0)));
  CU_ASSERT_FALSE(rt_optim_input_value(&h, 0, "opt.step_size", &v));
  CU_ASSERT_STRING_EQUAL(rt_optim_kind_name(7), "?");
}

/* ---- forward ------------------------------------------------------------------------- */

static void expect_y(RtAotCtx *c, int64_t batch, int salt, const float *y) {
  const float *w = param_f32(c, "w"), *b = param_f32(c, "b");
  float *x = make_x(batch, salt);
  int bad = 0;
  for (int64_t i = 0; i < batch * 3; i++) bad += y[i] != x[i] * w[i % 3] * 1.0f + b[0];
  CU_ASSERT_EQUAL(bad, 0);
  free(x);
}

/* The workspace at each batch: descriptor words, constants, table entries,
   the pool; the instance is rebuilt when the batch changes (and back). */
static void test_aot_forward_batches(void) {
  RtAotCtx *c = make(&tiny_forward, 1);
  static const int64_t batches[] = {1, 5, 512, 512, 5, 1};
  for (size_t k = 0; k < MC_COUNTOF(batches); k++) {
    int64_t batch = batches[k];
    float *y = calloc((size_t)batch * 3, sizeof *y);
    seen.calls = 0;
    CU_ASSERT_EQUAL(forward(c, batch, (int)k, y), RT_AOT_OK);
    CU_ASSERT_EQUAL(seen.calls, 1);
    expect_y(c, batch, (int)k, y);
    CU_ASSERT_EQUAL(seen.descs[0], 3 * batch);
    CU_ASSERT_EQUAL(seen.descs[1], 3);
    CU_ASSERT_EQUAL(seen.err_node_on_entry, 0);
    CU_ASSERT_PTR_NOT_NULL(seen.pool);
    CU_ASSERT_PTR_NULL(seen.null_entry);
    CU_ASSERT_EQUAL(seen.scale, 1.0f);
    CU_ASSERT_EQUAL(seen.inv_batch, 1.0 / (double)batch);
    CU_ASSERT_EQUAL(seen.i32_batch3, 3 * batch);
    CU_ASSERT_EQUAL(seen.i32_saturated, INT32_MAX);
    CU_ASSERT_EQUAL(seen.i32_trunc, -7);
    CU_ASSERT_EQUAL(seen.u8_true, 1);
    CU_ASSERT_EQUAL(seen.u8_false, 0);
    CU_ASSERT_STRING_EQUAL(rt_aot_last_error(c), "");
    free(y);
  }
  /* Outputs the caller does not want: NULL array or NULL entry. */
  float *x = make_x(4, 0);
  const void *in[1] = {x};
  size_t nin[1] = {12};
  void *none[1] = {NULL};
  CU_ASSERT_EQUAL(rt_aot_forward(c, 4, in, nin, NULL, NULL), RT_AOT_OK);
  CU_ASSERT_EQUAL(rt_aot_forward(c, 4, in, nin, none, NULL), RT_AOT_OK);
  free(x);
  rt_aot_destroy(c);
}

static void expect_fail(RtAotCtx *c, int rc, int want, const char *msg) {
  CU_ASSERT_EQUAL(rc, want);
  if (msg) CU_ASSERT_TRUE(contains(rt_aot_last_error(c), msg));
}

/* Every argument check, and a good call afterwards. */
static void test_aot_forward_errors(void) {
  RtAotCtx *c = make(&tiny_forward, 1);
  float x[300], y[300];
  memset(x, 0, sizeof x);
  const void *in[1] = {x}, *null_in[1] = {NULL};
  size_t n3[1] = {3}, n6[1] = {6}, n100[1] = {100};
  void *out[1] = {y};

  expect_fail(NULL, rt_aot_forward(NULL, 1, in, n3, out, n3), RT_AOT_ERR_ARG, NULL);
  CU_ASSERT_TRUE(contains(rt_aot_last_error(NULL), "forward: the context is NULL"));
  expect_fail(c, rt_aot_forward(c, 1, NULL, n3, out, n3), RT_AOT_ERR_ARG,
              "forward: the input array is NULL");
  expect_fail(c, rt_aot_forward(c, 1, in, NULL, out, n3), RT_AOT_ERR_ARG,
              "forward: the input count array is NULL");
  expect_fail(c, rt_aot_forward(c, 1, null_in, n3, out, n3), RT_AOT_ERR_ARG,
              "forward: input 'x' is NULL");
  expect_fail(c, rt_aot_forward(c, 0, in, n3, out, n3), RT_AOT_ERR_BATCH,
              "forward: batch 0 is not positive");
  expect_fail(c, rt_aot_forward(c, -3, in, n3, out, n3), RT_AOT_ERR_BATCH, "batch -3");
  expect_fail(c, rt_aot_forward(c, 2, in, n100, out, n6), RT_AOT_ERR_SIZE,
              "forward: input 'x' has 100 elements, expected 2*3 = 6 at batch 2");
  expect_fail(c, rt_aot_forward(c, 2, in, n6, out, n3), RT_AOT_ERR_SIZE,
              "forward: output 'y' has 3 elements, expected 2*3 = 6 at batch 2");
  expect_fail(c, rt_aot_forward(c, 2, in, n6, out, NULL), RT_AOT_ERR_ARG, "output count");
  /* Batches whose sizes overflow or exceed memory: an error, never a crash. */
  size_t huge[1] = {(size_t)3 << 44};
  expect_fail(c, rt_aot_forward(c, (int64_t)1 << 44, in, huge, NULL, NULL), RT_AOT_ERR_BATCH,
              "forward: batch 17592186044416 is too large");
  size_t any[1] = {SIZE_MAX};
  expect_fail(c, rt_aot_forward(c, INT64_MAX, in, any, NULL, NULL), RT_AOT_ERR_BATCH,
              "too large");
  expect_fail(c, rt_aot_forward(c, INT64_MAX / 3 + 1, in, any, NULL, NULL), RT_AOT_ERR_BATCH,
              "too large");
  /* Still usable; the message is cleared by a good call. */
  CU_ASSERT_EQUAL(rt_aot_forward(c, 1, in, n3, out, n3), RT_AOT_OK);
  CU_ASSERT_STRING_EQUAL(rt_aot_last_error(c), "");
  rt_aot_destroy(c);
}

/* A gather index out of range: the op, the value, the range and the place. */
static void test_aot_index_error(void) {
  RtAotCtx *c = make(&tiny_forward, 1);
  float y[6];
  bad_index_value = 5;
  expect_fail(c, forward(c, 2, 0, y), RT_AOT_ERR_INDEX,
              "forward: gather index 5 out of range [0, 3) at tiny.model:4:9");
  bad_index_value = -1;
  CU_ASSERT_EQUAL(forward(c, 2, 0, y), RT_AOT_OK);
  CU_ASSERT_EQUAL(seen.err_node_on_entry, 0); /* cleared before the call */
  rt_aot_destroy(c);
}

/* ---- training -------------------------------------------------------------------------- */

static int train(RtAotCtx *c, int64_t batch, const RtAotHyper *h, float *loss) {
  float *x = make_x(batch, 1), *t = make_x(batch, 2);
  const void *in[2] = {x, t};
  size_t n[2] = {(size_t)batch * 3, (size_t)batch * 3};
  int rc = rt_aot_train_step(c, batch, in, n, h, loss);
  free(x);
  free(t);
  return rc;
}

/* Hyperparameters from RtAotHyper and t = steps + 1, the loss, updates
   swapped into the params and the state, the step count. */
static void test_aot_train_step(void) {
  RtAotCtx *c = make(&tiny_train, 3);
  RtAotHyper h;
  rt_aot_hyper_default(&tiny_train, &h);
  CU_ASSERT_EQUAL(h.lr, 1e-3);
  CU_ASSERT_EQUAL(h.beta1, 0.9);
  h.lr = 0.05;
  CU_ASSERT_EQUAL(rt_aot_steps(c), 0);
  for (int64_t step = 1; step <= 3; step++) {
    int64_t batch = step == 2 ? 7 : 4;
    float w[3], b[1], m[3], want_w[3], want_b[1], want_m[3], want_loss, loss = -1;
    memcpy(w, param_f32(c, "w"), sizeof w);
    memcpy(b, param_f32(c, "b"), sizeof b);
    memcpy(m, param_f32(c, "w.exp_avg"), sizeof m);
    float lr = (float)h.lr, step_size = (float)(h.lr / (1.0 - pow(h.beta1, (double)step)));
    float *x = make_x(batch, 1), *t = make_x(batch, 2);
    train_math(batch, x, t, w, b, m, 1.0 / (double)batch, lr, step_size, (float)h.beta1,
               &want_loss, want_w, want_b, want_m);
    free(x);
    free(t);
    CU_ASSERT_EQUAL(train(c, batch, &h, &loss), RT_AOT_OK);
    CU_ASSERT_EQUAL(seen.hyper[0], lr);
    CU_ASSERT_EQUAL(seen.hyper[1], step_size);
    CU_ASSERT_EQUAL(seen.hyper[2], 0.9f);
    CU_ASSERT_EQUAL(seen.descs[0], 3 * batch);
    CU_ASSERT_EQUAL(loss, want_loss);
    CU_ASSERT_EQUAL(memcmp(param_f32(c, "w"), want_w, sizeof want_w), 0);
    CU_ASSERT_EQUAL(memcmp(param_f32(c, "b"), want_b, sizeof want_b), 0);
    CU_ASSERT_EQUAL(memcmp(param_f32(c, "w.exp_avg"), want_m, sizeof want_m), 0);
    CU_ASSERT_EQUAL(rt_aot_steps(c), step);
  }
  /* NULL hyperparameters: Adam's defaults; a NULL loss pointer is fine. */
  CU_ASSERT_EQUAL(train(c, 4, NULL, NULL), RT_AOT_OK);
  CU_ASSERT_EQUAL(seen.hyper[0], 1e-3f);
  CU_ASSERT_EQUAL(seen.hyper[1], (float)(1e-3 / (1.0 - pow(0.9, 4.0))));
  CU_ASSERT_EQUAL(rt_aot_steps(c), 4);
  /* A step that found an index out of range has run (updates computed in
     place happened): its updates are committed and it counts. */
  float before[3];
  memcpy(before, param_f32(c, "w"), sizeof before);
  bad_index_value = 9;
  expect_fail(c, train(c, 4, &h, NULL), RT_AOT_ERR_INDEX, "train_step: gather index 9");
  bad_index_value = -1;
  CU_ASSERT_NOT_EQUAL(memcmp(before, param_f32(c, "w"), sizeof before), 0);
  CU_ASSERT_EQUAL(rt_aot_steps(c), 5);
  /* A step that fails its checks changes nothing. */
  memcpy(before, param_f32(c, "w"), sizeof before);
  expect_fail(c, train(c, 0, &h, NULL), RT_AOT_ERR_BATCH, "train_step: batch 0");
  CU_ASSERT_EQUAL(memcmp(before, param_f32(c, "w"), sizeof before), 0);
  CU_ASSERT_EQUAL(rt_aot_steps(c), 5);
  /* forward and train_step on one context, alternating. */
  float y[12];
  CU_ASSERT_EQUAL(forward(c, 4, 3, y), RT_AOT_OK);
  expect_y(c, 4, 3, y);
  rt_aot_destroy(c);
}

static void test_aot_train_without_train(void) {
  RtAotCtx *c = make(&tiny_forward, 1);
  expect_fail(c, train(c, 2, NULL, NULL), RT_AOT_ERR_NOTRAIN, "built without --train");
  CU_ASSERT_EQUAL(rt_aot_steps(c), 0);
  expect_fail(NULL, rt_aot_train_step(NULL, 1, NULL, NULL, NULL, NULL), RT_AOT_ERR_ARG, NULL);
  rt_aot_destroy(c);
}

/* ---- create, params -------------------------------------------------------------------- */

static void *other_thread_error(void *arg) {
  (void)arg;
  return (void *)(intptr_t)rt_aot_last_error(NULL)[0];
}

static void expect_create_fails(const RtAotModel *m, int want, const char *msg) {
  RtAotCtx *c = (RtAotCtx *)&c; /* must become NULL */
  RtAotConfig cfg = {0, 1};
  CU_ASSERT_EQUAL(rt_aot_create(m, &cfg, &c), want);
  CU_ASSERT_PTR_NULL(c);
  CU_ASSERT_TRUE(contains(rt_aot_last_error(NULL), msg));
}

static void test_aot_create_errors(void) {
  RtAotCtx *c = (RtAotCtx *)&c;
  CU_ASSERT_EQUAL(rt_aot_create(NULL, NULL, &c), RT_AOT_ERR_ARG);
  CU_ASSERT_PTR_NULL(c);
  CU_ASSERT_EQUAL(rt_aot_create(&tiny_train, NULL, NULL), RT_AOT_ERR_ARG);
  RtAotModel m = tiny_train;
  m.abi = RT_AOT_ABI + 1;
  char abi_msg[100];
  snprintf(abi_msg, sizeof abi_msg, "ABI version %d; this runtime reads version %d",
           RT_AOT_ABI + 1, RT_AOT_ABI);
  expect_create_fails(&m, RT_AOT_ERR_ARG, abi_msg);
  /* The message is this thread's only. */
  pthread_t th;
  void *first = (void *)1;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, other_thread_error, NULL), 0);
  pthread_join(th, &first);
  CU_ASSERT_PTR_NULL(first);
  CU_ASSERT_TRUE(contains(rt_aot_last_error(NULL), "ABI"));

  RtAotSlot slots[F_NSLOTS];
  memcpy(slots, forward_slots, sizeof slots);
  slots[F_W].index = 9;
  RtAotProgram p = forward_program;
  p.slots = slots;
  m = tiny_train;
  m.forward = &p;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "slot 1 has a bad role or index");
  slots[F_W] = (RtAotSlot){RT_AOT_SLOT_UPDATE, 0};
  expect_create_fails(&m, RT_AOT_ERR_ARG, "slot 1 has a bad role or index");
  RtAotSlot tslots[T_NSLOTS];
  memcpy(tslots, train_slots, sizeof tslots);
  tslots[T_UB].index = 0;
  RtAotProgram tp = train_program;
  tp.slots = tslots;
  m = tiny_train;
  m.train = &tp;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "the train program updates param 0 twice");
  m = tiny_train;
  m.optimizer = 9;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "bad optimizer 9");
  RtAotParam ps[3];
  memcpy(ps, params, sizeof ps);
  ps[0].t.batch_mask = 1;
  m = tiny_train;
  m.params = ps;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "param 'w' depends on the batch");
  ps[0].t.batch_mask = 0;
  ps[0].t.dtype = 42;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "param 0 has no name, a bad dtype");
  /* A workspace layout that does not hold the pointer table. */
  p = forward_program;
  p.heap_base = (RtAotLin){64, 0};
  m = tiny_forward;
  m.forward = &p;
  RtAotConfig cfg = {0, 1};
  CU_ASSERT_EQUAL_FATAL(rt_aot_create(&m, &cfg, &c), RT_AOT_OK);
  float y[3];
  expect_fail(c, forward(c, 1, 0, y), RT_AOT_ERR_ARG, "workspace layout is inconsistent");
  rt_aot_destroy(c);
  rt_aot_destroy(NULL);
}

static void test_aot_params_by_name(void) {
  RtAotCtx *c = make(&tiny_train, 1);
  CU_ASSERT_EQUAL(rt_aot_param_find(&tiny_train, "w"), 0);
  CU_ASSERT_EQUAL(rt_aot_param_find(&tiny_train, "w.exp_avg"), 2);
  CU_ASSERT_EQUAL(rt_aot_param_find(&tiny_train, "nope"), -1);
  CU_ASSERT_EQUAL(rt_aot_param_find(NULL, "w"), -1);
  CU_ASSERT_EQUAL(rt_aot_param_find(&tiny_train, NULL), -1);
  CU_ASSERT_PTR_NOT_NULL(rt_aot_param_data(c, 2));
  CU_ASSERT_PTR_NULL(rt_aot_param_data(c, 3));
  CU_ASSERT_TRUE(contains(rt_aot_last_error(c), "param 3 is out of range [0, 3)"));
  CU_ASSERT_PTR_NULL(rt_aot_param_data(c, -1));
  CU_ASSERT_PTR_NULL(rt_aot_param_data(NULL, 0));
  CU_ASSERT_EQUAL(rt_aot_steps(NULL), -1);
  rt_aot_destroy(c);
}

/* ---- the step's two halves: grad and apply ------------------------------------------- */

/* rt_aot_grad at batch into gw[3], gb[1]. */
static int grad(RtAotCtx *c, int64_t batch, float *gw, float *gb, float *loss) {
  float *x = make_x(batch, 1), *t = make_x(batch, 2);
  const void *in[2] = {x, t};
  size_t n[2] = {(size_t)batch * 3, (size_t)batch * 3};
  void *g[2] = {gw, gb};
  size_t gn[2] = {3, 1};
  int rc = rt_aot_grad(c, batch, in, n, g, gn, loss);
  free(x);
  free(t);
  return rc;
}

static int apply(RtAotCtx *c, const float *gw, const float *gb, const RtAotHyper *h) {
  const void *g[2] = {gw, gb};
  size_t gn[2] = {3, 1};
  return rt_aot_apply(c, g, gn, h);
}

static bool same_f32(RtAotCtx *a, RtAotCtx *b, const char *name, size_t n) {
  return !memcmp(param_f32(a, name), param_f32(b, name), n * sizeof(float));
}

/* grad then apply == train_step, bit for bit, at changing batches: the
   gradients, the loss, the hyperparameters from the step count, the
   params and the state; grad changes nothing the step trains. */
static void test_aot_grad_apply(void) {
  RtAotCtx *a = make(&tiny_dp, 3), *b = make(&tiny_dp, 3);
  RtAotHyper h;
  rt_aot_hyper_default(&tiny_dp, &h);
  h.lr = 0.05;
  for (int64_t step = 1; step <= 3; step++) {
    int64_t batch = step == 2 ? 7 : 4;
    float la = -1, lb = -2, gw[3], gb[1], w[3];
    CU_ASSERT_EQUAL(train(a, batch, &h, &la), RT_AOT_OK);
    float hyper_a[3];
    memcpy(hyper_a, seen.hyper, sizeof hyper_a);
    memcpy(w, param_f32(b, "w"), sizeof w);
    CU_ASSERT_EQUAL(grad(b, batch, gw, gb, &lb), RT_AOT_OK);
    CU_ASSERT_EQUAL(seen.descs[0], 3 * batch);
    CU_ASSERT_EQUAL(la, lb);
    CU_ASSERT_EQUAL(memcmp(w, param_f32(b, "w"), sizeof w), 0);
    CU_ASSERT_EQUAL(rt_aot_steps(b), step - 1);
    CU_ASSERT_EQUAL(apply(b, gw, gb, &h), RT_AOT_OK);
    CU_ASSERT_EQUAL(memcmp(hyper_a, seen.hyper, sizeof hyper_a), 0);
    CU_ASSERT_EQUAL(rt_aot_steps(b), step);
    CU_ASSERT_TRUE(same_f32(a, b, "w", 3));
    CU_ASSERT_TRUE(same_f32(a, b, "b", 1));
    CU_ASSERT_TRUE(same_f32(a, b, "w.exp_avg", 3));
  }
  /* interleaved with train_step; NULL hyperparameters and loss */
  float gw[3], gb[1];
  CU_ASSERT_EQUAL(grad(a, 4, gw, gb, NULL), RT_AOT_OK);
  CU_ASSERT_EQUAL(apply(a, gw, gb, NULL), RT_AOT_OK);
  CU_ASSERT_EQUAL(seen.hyper[1], (float)(1e-3 / (1.0 - pow(0.9, 4.0))));
  CU_ASSERT_EQUAL(train(b, 4, NULL, NULL), RT_AOT_OK);
  CU_ASSERT_TRUE(same_f32(a, b, "w", 3));
  CU_ASSERT_TRUE(same_f32(a, b, "w.exp_avg", 3));
  CU_ASSERT_EQUAL(rt_aot_steps(a), 4);
  rt_aot_destroy(a);
  rt_aot_destroy(b);
}

/* Every argument check of grad and apply changes nothing. */
static void test_aot_grad_apply_errors(void) {
  RtAotCtx *c = make(&tiny_dp, 3);
  float gw[3] = {1, 2, 3}, gb[1] = {4}, w[3];
  memcpy(w, param_f32(c, "w"), sizeof w);
  const void *g[2] = {gw, gb};
  size_t gn[2] = {3, 1};
  expect_fail(NULL, rt_aot_grad(NULL, 4, NULL, NULL, NULL, NULL, NULL), RT_AOT_ERR_ARG,
              "grad: the context is NULL");
  expect_fail(NULL, rt_aot_apply(NULL, g, gn, NULL), RT_AOT_ERR_ARG, "apply: the context is NULL");
  expect_fail(c, rt_aot_apply(c, NULL, gn, NULL), RT_AOT_ERR_ARG,
              "apply: the gradient array is NULL");
  expect_fail(c, rt_aot_apply(c, g, NULL, NULL), RT_AOT_ERR_ARG,
              "apply: the gradient count array is NULL");
  gn[1] = 2;
  expect_fail(c, rt_aot_apply(c, g, gn, NULL), RT_AOT_ERR_SIZE,
              "apply: the gradient of 'b' has 2 elements, expected 1");
  gn[1] = 1;
  g[0] = NULL;
  expect_fail(c, rt_aot_apply(c, g, gn, NULL), RT_AOT_ERR_ARG, "apply: the gradient of 'w' is NULL");
  expect_fail(c, grad(c, 0, gw, gb, NULL), RT_AOT_ERR_BATCH, "grad: batch 0 is not positive");
  expect_fail(c, grad(c, 4, gw, NULL, NULL), RT_AOT_ERR_ARG, "grad: the gradient of 'b' is NULL");
  CU_ASSERT_EQUAL(memcmp(w, param_f32(c, "w"), sizeof w), 0);
  CU_ASSERT_EQUAL(rt_aot_steps(c), 0);
  rt_aot_destroy(c);
  /* libraries without the programs */
  c = make(&tiny_train, 1);
  expect_fail(c, grad(c, 4, gw, gb, NULL), RT_AOT_ERR_NOTRAIN,
              "grad: model 'tiny' was built without --train (no gradient program");
  expect_fail(c, apply(c, gw, gb, NULL), RT_AOT_ERR_NOTRAIN, "apply: model 'tiny' was built");
  rt_aot_destroy(c);
  /* bad images */
  RtAotModel m = tiny_dp;
  m.apply = NULL;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "a grad program needs an apply program");
  m = tiny_dp;
  m.train = NULL;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "a grad program needs an apply program");
  static const int32_t state[] = {0, 2}, twice[] = {1, 1};
  m = tiny_dp;
  m.grad_params = state;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "gradient 1 is not of a model param");
  m.grad_params = twice;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "param 'b' has two gradients");
  RtAotSlot gs[G_NSLOTS];
  memcpy(gs, grad_slots, sizeof gs);
  gs[G_GB].index = 2;
  RtAotProgram gp = grad_program;
  gp.slots = gs;
  m = tiny_dp;
  m.grad = &gp;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "the grad program's slot 6 has a bad role or index");
  gs[G_GB] = (RtAotSlot){RT_AOT_SLOT_HYPER, 0};
  expect_create_fails(&m, RT_AOT_ERR_ARG, "the grad program's slot 6 has a bad role or index");
  RtAotSlot as[A_NSLOTS];
  memcpy(as, apply_slots, sizeof as);
  as[A_GW] = (RtAotSlot){RT_AOT_SLOT_INPUT, 0};
  RtAotProgram ap = apply_program;
  ap.slots = as;
  m = tiny_dp;
  m.apply = &ap;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "the apply program's slot 3 has a bad role or index");
  RtAotSlot ts[T_NSLOTS];
  memcpy(ts, train_slots, sizeof ts);
  ts[T_Y] = (RtAotSlot){RT_AOT_SLOT_GRAD, 0};
  RtAotProgram tp = train_program;
  tp.slots = ts;
  m = tiny_dp;
  m.train = &tp;
  expect_create_fails(&m, RT_AOT_ERR_ARG, "the train program's slot 12 has a bad role or index");
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/* The params of two contexts are equal. */
static bool same_params(RtAotCtx *a, RtAotCtx *b, int n) {
  static const size_t bytes[] = {12, 4, 12};
  for (int i = 0; i < n; i++)
    if (memcmp(rt_aot_param_data(a, i), rt_aot_param_data(b, i), bytes[i])) return false;
  return true;
}

static void test_aot_save_load_round_trip(void) {
  RtAotCtx *a = make(&tiny_train, 5), *b = make(&tiny_train, 6);
  for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(train(a, 4, NULL, NULL), RT_AOT_OK);
  const char *path = tpath("tiny.safetensors");
  CU_ASSERT_EQUAL(rt_aot_save(a, path), RT_AOT_OK);
  CU_ASSERT_FALSE(same_params(a, b, 3));
  CU_ASSERT_EQUAL(rt_aot_load(b, path), RT_AOT_OK);
  CU_ASSERT_TRUE(same_params(a, b, 3));
  CU_ASSERT_EQUAL(rt_aot_steps(b), 3);
  /* A training checkpoint loads into an inference library (state ignored). */
  RtAotCtx *f = make(&tiny_forward, 9);
  CU_ASSERT_EQUAL(rt_aot_load(f, path), RT_AOT_OK);
  CU_ASSERT_TRUE(same_params(a, f, 2));
  CU_ASSERT_EQUAL(rt_aot_steps(f), 3);
  /* Training goes on identically from the loaded state. */
  float la, lb;
  CU_ASSERT_EQUAL(train(a, 4, NULL, &la), RT_AOT_OK);
  CU_ASSERT_EQUAL(train(b, 4, NULL, &lb), RT_AOT_OK);
  CU_ASSERT_EQUAL(la, lb);
  CU_ASSERT_TRUE(same_params(a, b, 3));
  /* The file: the trainer's metadata keys, params and state. */
  RtError e = {{0}};
  RtCheckpoint *ck = rt_safetensors_load(path, &e);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
  CU_ASSERT_STRING_EQUAL(rt_checkpoint_meta(ck, "format"), "modelc");
  CU_ASSERT_STRING_EQUAL(rt_checkpoint_meta(ck, "format_version"), "1");
  CU_ASSERT_STRING_EQUAL(rt_checkpoint_meta(ck, "model"), "tiny");
  CU_ASSERT_STRING_EQUAL(rt_checkpoint_meta(ck, "optimizer"), "adam");
  CU_ASSERT_STRING_EQUAL(rt_checkpoint_meta(ck, "step"), "3");
  CU_ASSERT_EQUAL(ck->ntensors, 3);
  CU_ASSERT_PTR_NOT_NULL(rt_checkpoint_find(ck, "w.exp_avg"));
  rt_checkpoint_free(ck);
  /* An inference library saves params only, without an optimizer. */
  const char *fpath = tpath("forward.safetensors");
  CU_ASSERT_EQUAL(rt_aot_save(f, fpath), RT_AOT_OK);
  ck = rt_safetensors_load(fpath, &e);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ck);
  CU_ASSERT_EQUAL(ck->ntensors, 2);
  CU_ASSERT_PTR_NULL(rt_checkpoint_meta(ck, "optimizer"));
  rt_checkpoint_free(ck);
  /* Weights without optimizer state: the state is zeroed, training restarts. */
  CU_ASSERT_EQUAL(rt_aot_load(b, fpath), RT_AOT_OK);
  CU_ASSERT_EQUAL(param_f32(b, "w.exp_avg")[0], 0.0f);
  CU_ASSERT_EQUAL(rt_aot_steps(b), 0);
  CU_ASSERT_TRUE(same_params(f, b, 2));
  rt_aot_destroy(a);
  rt_aot_destroy(b);
  rt_aot_destroy(f);
}

/* Writes a safetensors file with w and b as given (NULL name: left out). */
static void write_weights(const char *path, const char *wname, int wdtype, int64_t wlen,
                          const char *step) {
  static double data[8];
  RtTensorRef t[3] = {{.name = wname, .dtype = wdtype, .rank = 1, .dims = {wlen}, .data = data},
                      {.name = "b", .dtype = RT_F32, .rank = 0, .data = data},
                      {.name = "extra", .dtype = RT_U8, .rank = 1, .dims = {2}, .data = data}};
  RtMeta meta[1] = {{"step", step}};
  RtError e;
  CU_ASSERT_TRUE(rt_safetensors_save(path, wname ? t : t + 1, wname ? 3 : 2, meta,
                                     step ? 1 : 0, &e));
}

static void test_aot_load_errors(void) {
  RtAotCtx *c = make(&tiny_train, 5);
  CU_ASSERT_EQUAL(train(c, 4, NULL, NULL), RT_AOT_OK);
  float w[3];
  memcpy(w, param_f32(c, "w"), sizeof w);
  char msg[600];

  snprintf(msg, sizeof msg, "%s: cannot open", tpath("missing.safetensors"));
  expect_fail(c, rt_aot_load(c, tpath("missing.safetensors")), RT_AOT_ERR_IO, msg);
  expect_fail(c, rt_aot_load(c, tmpdir), RT_AOT_ERR_IO, "not a regular file");
  expect_fail(c, rt_aot_load(c, NULL), RT_AOT_ERR_ARG, "load: the path is NULL");

  write_all(tpath("foreign.bin"), "hello, this is not a safetensors file\n", 38);
  snprintf(msg, sizeof msg, "%s: ", tpath("foreign.bin"));
  expect_fail(c, rt_aot_load(c, tpath("foreign.bin")), RT_AOT_ERR_FORMAT, msg);

  CU_ASSERT_EQUAL(rt_aot_save(c, tpath("good.safetensors")), RT_AOT_OK);
  size_t n = 0;
  unsigned char *bytes = read_all(tpath("good.safetensors"), &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  write_all(tpath("truncated.safetensors"), bytes, n - 5);
  expect_fail(c, rt_aot_load(c, tpath("truncated.safetensors")), RT_AOT_ERR_FORMAT,
              "truncated.safetensors: ");
  write_all(tpath("short.safetensors"), bytes, 5);
  expect_fail(c, rt_aot_load(c, tpath("short.safetensors")), RT_AOT_ERR_FORMAT, "too short");
  free(bytes);

  write_weights(tpath("noname.safetensors"), "v", RT_F32, 3, NULL);
  expect_fail(c, rt_aot_load(c, tpath("noname.safetensors")), RT_AOT_ERR_NAME,
              "noname.safetensors: no tensor 'w' (the model's param is f32[3])");
  write_weights(tpath("shape.safetensors"), "w", RT_F32, 4, NULL);
  expect_fail(c, rt_aot_load(c, tpath("shape.safetensors")), RT_AOT_ERR_SHAPE,
              "shape.safetensors: tensor 'w' has shape [4]; the model's param is f32[3]");
  write_weights(tpath("dtype.safetensors"), "w", RT_F64, 3, NULL);
  expect_fail(c, rt_aot_load(c, tpath("dtype.safetensors")), RT_AOT_ERR_SHAPE,
              "dtype.safetensors: tensor 'w' is f64; the model's param is f32[3]");
  write_weights(tpath("step.safetensors"), "w", RT_F32, 3, "x12");
  expect_fail(c, rt_aot_load(c, tpath("step.safetensors")), RT_AOT_ERR_FORMAT,
              "metadata 'step' is 'x12', not a whole number");
  /* Nothing changed by the failures. */
  CU_ASSERT_EQUAL(memcmp(w, param_f32(c, "w"), sizeof w), 0);
  CU_ASSERT_EQUAL(rt_aot_steps(c), 1);
  /* Extra tensors are ignored, missing state zeroed, the step read. */
  write_weights(tpath("ok.safetensors"), "w", RT_F32, 3, "17");
  CU_ASSERT_EQUAL(rt_aot_load(c, tpath("ok.safetensors")), RT_AOT_OK);
  CU_ASSERT_EQUAL(param_f32(c, "w")[0], 0.0f);
  CU_ASSERT_EQUAL(rt_aot_steps(c), 0); /* no optimizer state in the file */
  RtAotCtx *f = make(&tiny_forward, 5);
  CU_ASSERT_EQUAL(rt_aot_load(f, tpath("ok.safetensors")), RT_AOT_OK);
  CU_ASSERT_EQUAL(rt_aot_steps(f), 17);
  expect_fail(NULL, rt_aot_load(NULL, tpath("ok.safetensors")), RT_AOT_ERR_ARG, NULL);
  rt_aot_destroy(f);
  rt_aot_destroy(c);
}

/* A failed save reports the path and leaves the previous file as it was. */
static void test_aot_failed_save_keeps_the_old_file(void) {
  RtAotCtx *c = make(&tiny_train, 5);
  const char *path = tpath("keep.safetensors");
  CU_ASSERT_EQUAL(rt_aot_save(c, path), RT_AOT_OK);
  size_t n0 = 0, n1 = 0;
  unsigned char *before = read_all(path, &n0);
  CU_ASSERT_EQUAL(train(c, 4, NULL, NULL), RT_AOT_OK);
  struct rlimit old, small;
  getrlimit(RLIMIT_FSIZE, &old);
  small = old;
  small.rlim_cur = 64;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
  int rc = rt_aot_save(c, path);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  expect_fail(c, rc, RT_AOT_ERR_IO, "keep.safetensors: cannot write");
  unsigned char *after = read_all(path, &n1);
  CU_ASSERT_EQUAL_FATAL(n0, n1);
  CU_ASSERT_EQUAL(memcmp(before, after, n0), 0);
  free(before);
  free(after);
  /* A path that is a directory, and one in a directory that does not exist. */
  CU_ASSERT_EQUAL(mkdir(tpath("isdir"), 0700), 0);
  expect_fail(c, rt_aot_save(c, tpath("isdir")), RT_AOT_ERR_IO, "isdir: cannot write");
  expect_fail(c, rt_aot_save(c, tpath("nodir/x.safetensors")), RT_AOT_ERR_IO,
              "nodir/x.safetensors: cannot create a temporary file");
  expect_fail(c, rt_aot_save(c, NULL), RT_AOT_ERR_ARG, "save: the path is NULL");
  expect_fail(NULL, rt_aot_save(NULL, path), RT_AOT_ERR_ARG, NULL);
  rt_aot_destroy(c);
}

/* ---- threads ------------------------------------------------------------------------------ */

enum { NTHREADS = 4, ROUNDS = 40 };
static const int64_t thread_batch[NTHREADS] = {1, 5, 512, 7};

typedef struct Worker {
  RtAotCtx *c;
  int k;
  const float *want;
  int mismatches;
} Worker;

static void *worker(void *arg) {
  Worker *w = arg;
  int64_t batch = thread_batch[w->k];
  float *y = malloc((size_t)batch * 3 * sizeof *y);
  for (int r = 0; r < ROUNDS; r++) {
    memset(y, 0, (size_t)batch * 3 * sizeof *y);
    if (forward(w->c, batch, w->k, y) != RT_AOT_OK ||
        memcmp(y, w->want, (size_t)batch * 3 * sizeof *y))
      w->mismatches++;
  }
  free(y);
  return NULL;
}

/* Four threads on one context (different batches, so the workspace is
   rebuilt under them) get the serial results. */
static void test_aot_threads_share_a_context(void) {
  RtAotCtx *c = make(&tiny_forward, 11);
  float *want[NTHREADS];
  for (int k = 0; k < NTHREADS; k++) {
    want[k] = malloc((size_t)thread_batch[k] * 3 * sizeof(float));
    CU_ASSERT_EQUAL(forward(c, thread_batch[k], k, want[k]), RT_AOT_OK);
  }
  pthread_t th[NTHREADS];
  Worker w[NTHREADS];
  for (int k = 0; k < NTHREADS; k++) {
    w[k] = (Worker){c, k, want[k], 0};
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[k], NULL, worker, &w[k]), 0);
  }
  for (int k = 0; k < NTHREADS; k++) {
    pthread_join(th[k], NULL);
    CU_ASSERT_EQUAL(w[k].mismatches, 0);
    free(want[k]);
  }
  rt_aot_destroy(c);
}

/* ---- the embedded runtime ------------------------------------------------------------------ */

/* The blob holds rt_aot.h's text and an ar archive defining rt_aot_create. */
static void test_aot_blob(void) {
  size_t n = 0;
  unsigned char *h = read_all(MODELC_SOURCE_DIR "/runtime/rt_aot.h", &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  CU_ASSERT_EQUAL(rt_aot_blob_header_size, n);
  CU_ASSERT_EQUAL(memcmp(rt_aot_blob_header, h, n), 0);
  CU_ASSERT_EQUAL(rt_aot_blob_header[n], '\0');
  free(h);
  CU_ASSERT_FATAL(rt_aot_blob_archive_size > 1000);
  CU_ASSERT_EQUAL(memcmp(rt_aot_blob_archive, "!<arch>\n", 8), 0);
  bool found = false;
  for (size_t i = 0; !found && i + 13 < rt_aot_blob_archive_size; i++)
    found = !memcmp(rt_aot_blob_archive + i, "rt_aot_create", 13);
  CU_ASSERT_TRUE(found);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/test_aot_runtime_XXXXXX");
  if (!mkdtemp(tmpdir)) return 2;
  static const TestCase cases[] = {
      {"rng_unchanged", test_aot_rng_is_unchanged},
      {"init_matches_ir", test_aot_init_matches_ir},
      {"create_initializes_like_the_jit", test_aot_create_initializes_like_the_jit},
      {"optim_matches_passes", test_aot_optim_matches_passes},
      {"forward_batches", test_aot_forward_batches},
      {"forward_errors", test_aot_forward_errors},
      {"index_error", test_aot_index_error},
      {"train_step", test_aot_train_step},
      {"train_without_train", test_aot_train_without_train},
      {"grad_apply", test_aot_grad_apply},
      {"grad_apply_errors", test_aot_grad_apply_errors},
      {"create_errors", test_aot_create_errors},
      {"params_by_name", test_aot_params_by_name},
      {"save_load_round_trip", test_aot_save_load_round_trip},
      {"load_errors", test_aot_load_errors},
      {"failed_save_keeps_the_old_file", test_aot_failed_save_keeps_the_old_file},
      {"threads_share_a_context", test_aot_threads_share_a_context},
      {"blob", test_aot_blob},
  };
  int rc = test_main("aot_runtime", cases, MC_COUNTOF(cases));
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) rc = rc ? rc : 1;
  return rc;
}
