/* test_aot.c -- libraries made by `modelc build` against the JIT: the test
   builds examples into shared objects (with --train), loads them with
   dlopen, and runs the library and the JIT-compiled programs of the same
   model, at the same batch, from the same params and inputs. The forward
   outputs, the losses and every param and optimizer state tensor after
   each training step must be bit-identical, at batch sizes other than the
   model's. The library's params initialized from a seed must equal
   ir_init_fill's for that seed. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg.h"
#include "fe.h"
#include "pass.h"
#include "test_util.h"

#define STEPS 3
#define SEED 11

typedef struct Lib {
  void *so;
  int (*create)(const void *cfg, void **out);
  void (*destroy)(void *ctx);
  int (*forward_v)(void *ctx, int64_t batch, const void *const *in, const size_t *in_n,
                   void *const *out, const size_t *out_n);
  int (*train_step_v)(void *ctx, int64_t batch, const void *const *in, const size_t *in_n,
                      const void *h, float *loss);
  void *(*param_data)(void *ctx, int i);
  int (*param_find)(const char *name);
  const char *(*last_error)(const void *ctx);
} Lib;

typedef struct Config {
  uint64_t seed;
  int threads;
} Config;

typedef struct Hyper {
  double lr, momentum, weight_decay, beta1, beta2, eps, max_norm;
} Hyper;

static char tmpdir[256];

static void *sym(Lib *l, const char *prefix, const char *name) {
  char full[128];
  snprintf(full, sizeof full, "%s_%s", prefix, name);
  void *p = dlsym(l->so, full);
  CU_ASSERT_PTR_NOT_NULL(p);
  return p;
}

/* Builds examples/<model>.model into a library and loads it. */
static bool load_library(Lib *l, const char *model, const char *flags) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' build '%s/examples/%s.model' -o '%s/lib%s.so' --train %s 2>&1",
           MODELC_BINARY, MODELC_SOURCE_DIR, model, tmpdir, model, flags);
  if (system(cmd) != 0) {
    fprintf(stderr, "failed: %s\n", cmd);
    return false;
  }
  snprintf(cmd, sizeof cmd, "%s/lib%s.so", tmpdir, model);
  l->so = dlopen(cmd, RTLD_NOW | RTLD_LOCAL);
  if (!l->so) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return false;
  }
  *(void **)&l->create = sym(l, model, "create");
  *(void **)&l->destroy = sym(l, model, "destroy");
  *(void **)&l->forward_v = sym(l, model, "forward_v");
  *(void **)&l->train_step_v = sym(l, model, "train_step_v");
  *(void **)&l->param_data = sym(l, model, "param_data");
  *(void **)&l->param_find = sym(l, model, "param_find");
  *(void **)&l->last_error = sym(l, model, "last_error");
  return l->create && l->destroy && l->forward_v && l->train_step_v && l->param_data &&
         l->param_find && l->last_error;
}

/* ---- the JIT side ----------------------------------------------------------------- */

typedef struct Jit {
  McSources src;
  McDiag d;
  IrGraph *g;
  CgProgram *p;
  void **bufs;
} Jit;

static bool jit_build(Jit *j, const char *model, int64_t batch, bool train, const PassOptim *opt) {
  mc_sources_init(&j->src);
  mc_diag_init(&j->d, &j->src, stderr);
  char path[512];
  snprintf(path, sizeof path, "%s/examples/%s.model", MODELC_SOURCE_DIR, model);
  FeDefine def = {"B", batch};
  FeOptions fo = {.defines = &def, .ndefines = 1, .mode = train ? FE_MODE_TRAIN : FE_MODE_EVAL};
  j->g = fe_compile_file(path, &fo, &j->src, &j->d);
  if (!j->g) return false;
  PassCtx cx = {.diag = &j->d, .optim = opt};
  if (!pass_run_pipeline(&j->g, train ? PASS_PIPELINE_TRAIN : PASS_PIPELINE_FORWARD, &cx))
    return false;
  j->p = cg_jit_compile(j->g, NULL, &j->d);
  if (!j->p) return false;
  int n = cg_program_nslots(j->p);
  j->bufs = calloc((size_t)n + 1, sizeof *j->bufs);
  for (int i = 0; i < n; i++) {
    const IrNode *node = ir_node(j->g, cg_program_slot_node(j->p, i));
    j->bufs[i] = calloc((size_t)ir_shape_numel(&node->shape) + 1, 8);
  }
  return true;
}

static void jit_free(Jit *j) {
  for (int i = 0; j->bufs && j->p && i < cg_program_nslots(j->p); i++) free(j->bufs[i]);
  free(j->bufs);
  if (j->p) cg_program_free(j->p);
  if (j->g) ir_graph_free(j->g);
  mc_diag_fini(&j->d);
  mc_sources_free(&j->src);
}

static const IrNode *slot(const Jit *j, int i) {
  return ir_node(j->g, cg_program_slot_node(j->p, i));
}

static int64_t slot_bytes(const Jit *j, int i) {
  const IrNode *n = slot(j, i);
  return ir_shape_numel(&n->shape) * (n->dtype == IR_F64 ? 8 : 4);
}

/* The model's inputs for a batch: labels below their bound, floats N(0,1). */
static void *make_input(const Jit *j, int i, uint64_t stream) {
  const IrNode *n = slot(j, i);
  int64_t numel = ir_shape_numel(&n->shape);
  void *v = calloc((size_t)numel + 1, 4);
  int64_t bound = n->dtype == IR_I32 ? ir_int_input_bound(j->g, cg_program_slot_node(j->p, i)) : 0;
  for (int64_t k = 0; k < numel; k++) {
    if (n->dtype == IR_I32)
      ((int32_t *)v)[k] = (int32_t)floor(mc_rng_uniform(3, stream, (uint64_t)k) * (double)bound);
    else
      ((float *)v)[k] = (float)mc_rng_normal(3, stream, (uint64_t)k);
  }
  return v;
}

/* The library's inputs array (model inputs in id order of the model),
   filled from the JIT program's input slots by name. */
typedef struct Inputs {
  const void *ptr[16];
  size_t count[16];
  void *owned[16];
  int n;
} Inputs;

static void make_inputs(const Jit *model_order, const Jit *j, Inputs *in) {
  memset(in, 0, sizeof *in);
  const IrGraph *g = model_order->g;
  for (IrRef r = 0; r < g->nnodes && in->n < 16; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op != IR_OP_INPUT || !strncmp(n->name, "opt.", 4)) continue;
    for (int i = 0; i < cg_program_nslots(j->p); i++) {
      const IrNode *s = slot(j, i);
      if (s->op == IR_OP_INPUT && !strcmp(s->name, n->name)) {
        in->owned[in->n] = make_input(j, i, mc_hash_str(n->name));
        in->ptr[in->n] = in->owned[in->n];
        in->count[in->n] = (size_t)ir_shape_numel(&s->shape);
        memcpy(j->bufs[i], in->owned[in->n], (size_t)slot_bytes(j, i));
      }
    }
    in->n++;
  }
}

static void free_inputs(Inputs *in) {
  for (int i = 0; i < 16; i++) free(in->owned[i]);
}

/* JIT params and optimizer state from the library's. */
static void copy_params_in(const Lib *l, void *ctx, Jit *j) {
  for (int i = 0; i < cg_program_nslots(j->p) - (int)j->g->nouts; i++) {
    const IrNode *n = slot(j, i);
    if (n->op != IR_OP_PARAM) continue;
    int k = l->param_find(n->name);
    CU_ASSERT_FATAL(k >= 0);
    memcpy(j->bufs[i], l->param_data(ctx, k), (size_t)slot_bytes(j, i));
  }
}

/* ---- the checks ---------------------------------------------------------------------- */

static void check_init(const Lib *l, void *ctx, const Jit *j) {
  for (int i = 0; i < cg_program_nslots(j->p) - (int)j->g->nouts; i++) {
    const IrNode *n = slot(j, i);
    if (n->op != IR_OP_PARAM) continue;
    int64_t numel = ir_shape_numel(&n->shape);
    double *v = calloc((size_t)numel + 1, sizeof *v);
    ir_init_fill(j->g, n, SEED, v);
    const float *got = l->param_data(ctx, l->param_find(n->name));
    int64_t bad = 0;
    for (int64_t k = 0; k < numel; k++) bad += got[k] != (float)v[k];
    CU_ASSERT_EQUAL(bad, 0);
    free(v);
  }
}

static void check_forward(const Lib *l, void *ctx, const char *model, int64_t batch) {
  Jit j = {0};
  CU_ASSERT_FATAL(jit_build(&j, model, batch, false, NULL));
  copy_params_in(l, ctx, &j);
  Inputs in;
  make_inputs(&j, &j, &in);
  CU_ASSERT_TRUE(cg_program_run(j.p, j.bufs, &j.d));
  /* the model's outputs (not its loss), in order */
  void *outs[16];
  size_t out_n[16];
  int slots[16], nout = 0;
  for (uint32_t k = 0; k < j.g->nouts && nout < 16; k++) {
    if (j.g->outs[k].kind != IR_OUT_OUTPUT) continue;
    int s = slots[nout] = cg_program_output_slot(j.p, (int)k);
    outs[nout] = calloc((size_t)slot_bytes(&j, s) + 4, 1);
    out_n[nout++] = (size_t)ir_shape_numel(&slot(&j, s)->shape);
  }
  int rc = l->forward_v(ctx, batch, in.ptr, in.count, outs, out_n);
  if (rc) fprintf(stderr, "forward: %s\n", l->last_error(ctx));
  CU_ASSERT_EQUAL(rc, 0);
  for (int k = 0; k < nout; k++) {
    CU_ASSERT_EQUAL(memcmp(outs[k], j.bufs[slots[k]], (size_t)slot_bytes(&j, slots[k])), 0);
    free(outs[k]);
  }
  free_inputs(&in);
  jit_free(&j);
}

static void set_hyper(Jit *j, const PassOptimHyper *h, int64_t step) {
  for (int i = 0; i < cg_program_nslots(j->p) - (int)j->g->nouts; i++) {
    const IrNode *n = slot(j, i);
    double v;
    if (n->op == IR_OP_INPUT && pass_optim_input_value(h, step, n->name, &v))
      *(float *)j->bufs[i] = (float)v;
  }
}

/* The JIT's update outputs become its params (as `modelc train` does). */
static void apply_updates(Jit *j) {
  for (uint32_t k = 0; k < j->g->nouts; k++) {
    if (j->g->outs[k].kind != IR_OUT_UPDATE) continue;
    int out = cg_program_output_slot(j->p, (int)k);
    for (int i = 0; i < cg_program_nslots(j->p) - (int)j->g->nouts; i++)
      if (slot(j, i)->op == IR_OP_PARAM && !strcmp(slot(j, i)->name, j->g->outs[k].name) &&
          i != out) /* i == out: computed in place */
        memcpy(j->bufs[i], j->bufs[out], (size_t)slot_bytes(j, i));
  }
}

/* STEPS steps; the library counts its steps since creation, so Adam's bias
   corrections continue from first_step. */
static void check_training(const Lib *l, void *ctx, const char *model, int64_t batch,
                           const PassOptim *opt, int first_step) {
  Jit j = {0}, order = {0};
  CU_ASSERT_FATAL(jit_build(&j, model, batch, true, opt));
  CU_ASSERT_FATAL(jit_build(&order, model, batch, false, NULL));
  PassOptimHyper h = pass_optim_defaults(opt->kind);
  Hyper lh = {h.lr, h.momentum, h.weight_decay, h.beta1, h.beta2, h.eps, h.max_norm};
  copy_params_in(l, ctx, &j);
  for (int step = first_step; step < first_step + STEPS; step++) {
    Inputs in;
    make_inputs(&order, &j, &in);
    set_hyper(&j, &h, step);
    CU_ASSERT_TRUE(cg_program_run(j.p, j.bufs, &j.d));
    float loss = NAN;
    int rc = l->train_step_v(ctx, batch, in.ptr, in.count, &lh, &loss);
    if (rc) fprintf(stderr, "train_step: %s\n", l->last_error(ctx));
    CU_ASSERT_EQUAL(rc, 0);
    const IrOutput *lo = ir_find_output(j.g, IR_OUT_LOSS, NULL);
    float jit_loss = *(float *)j.bufs[cg_program_output_slot(j.p, (int)(lo - j.g->outs))];
    CU_ASSERT_EQUAL(memcmp(&loss, &jit_loss, sizeof loss), 0);
    apply_updates(&j);
    int differ = 0;
    for (int i = 0; i < cg_program_nslots(j.p) - (int)j.g->nouts; i++)
      if (slot(&j, i)->op == IR_OP_PARAM)
        differ += memcmp(l->param_data(ctx, l->param_find(slot(&j, i)->name)), j.bufs[i],
                         (size_t)slot_bytes(&j, i)) != 0;
    CU_ASSERT_EQUAL(differ, 0);
    free_inputs(&in);
  }
  jit_free(&order);
  jit_free(&j);
}

static void run_model(const char *model, const PassOptim *opt, const char *flags,
                      const int64_t *batches, int nb) {
  Lib l = {0};
  CU_ASSERT_FATAL(load_library(&l, model, flags));
  Config cfg = {SEED, 0};
  void *ctx = NULL;
  CU_ASSERT_EQUAL_FATAL(l.create(&cfg, &ctx), 0);
  Jit j = {0};
  CU_ASSERT_FATAL(jit_build(&j, model, batches[0], false, NULL));
  check_init(&l, ctx, &j);
  jit_free(&j);
  for (int i = 0; i < nb; i++) check_forward(&l, ctx, model, batches[i]);
  for (int i = 0; i < nb; i++) check_training(&l, ctx, model, batches[i], opt, 1 + i * STEPS);
  l.destroy(ctx);
  dlclose(l.so);
}

static void test_seed_net_sgd(void) {
  PassOptim o = {.kind = PASS_OPTIM_SGD};
  const int64_t b[] = {1, 5, 64, 100};
  run_model("seed_net", &o, "--optimizer sgd", b, 4);
}

static void test_mlp_adam(void) {
  PassOptim o = {.kind = PASS_OPTIM_ADAM};
  const int64_t b[] = {3, 128};
  run_model("mlp", &o, "", b, 2);
}

/* Embeddings (gather), attention, softmax and layer norm, row kernels. */
static void test_gpt_adamw(void) {
  PassOptim o = {.kind = PASS_OPTIM_ADAMW};
  const int64_t b[] = {1, 3};
  run_model("gpt", &o, "--optimizer adamw", b, 2);
}

/* Convolutions, pooling and batch norm: the forward entry runs eval mode
   (running statistics), the step train mode and updates them. */
static void test_resnet_mini_sgd(void) {
  PassOptim o = {.kind = PASS_OPTIM_SGD};
  const int64_t b[] = {2, 5};
  run_model("resnet_mini", &o, "--optimizer sgd", b, 2);
}

/* A label outside [0, 10) is refused before the step runs: nothing changes. */
static void test_mlp_label_range(void) {
  Lib l = {0};
  CU_ASSERT_FATAL(load_library(&l, "mlp", ""));
  Config cfg = {SEED, 1};
  void *ctx = NULL;
  CU_ASSERT_EQUAL_FATAL(l.create(&cfg, &ctx), 0);
  float x[2 * 784] = {0};
  int32_t y[2] = {3, 10};
  const void *in[2] = {x, y};
  size_t n[2] = {2 * 784, 2};
  float before = *(float *)l.param_data(ctx, l.param_find("fc3.bias")), loss = 0;
  CU_ASSERT_EQUAL(l.train_step_v(ctx, 2, in, n, NULL, &loss), 9 /* ERR_INDEX */);
  CU_ASSERT_PTR_NOT_NULL(strstr(l.last_error(ctx), "input 'y' has 10 at element 1, outside [0, 10)"));
  y[1] = -1;
  CU_ASSERT_EQUAL(l.train_step_v(ctx, 2, in, n, NULL, &loss), 9);
  CU_ASSERT_EQUAL(*(float *)l.param_data(ctx, l.param_find("fc3.bias")), before);
  y[1] = 9;
  CU_ASSERT_EQUAL(l.train_step_v(ctx, 2, in, n, NULL, &loss), 0);
  CU_ASSERT_NOT_EQUAL(*(float *)l.param_data(ctx, l.param_find("fc3.bias")), before);
  l.destroy(ctx);
  dlclose(l.so);
}

/* "forward_split_min_batch" of the library's manifest (-1: missing). */
static int64_t split_min_batch(const char *model) {
  char path[512];
  snprintf(path, sizeof path, "%s/lib%s.json", tmpdir, model);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[4096];
  long long v = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, " \"forward_split_min_batch\": %lld", &v) == 1) break;
  fclose(f);
  return v;
}

/* Forward on 1 thread (one program) and on 2 (a copy per thread on its
   rows from split_min_batch on): the same values. */
static void check_split_forward(const char *model, const int64_t *batches, int nb) {
  Lib l = {0};
  CU_ASSERT_FATAL(load_library(&l, model, ""));
  int64_t least = split_min_batch(model);
  CU_ASSERT(least >= 2);
  Config one = {SEED, 1}, two = {SEED, 2};
  void *c1 = NULL, *c2 = NULL;
  CU_ASSERT_EQUAL_FATAL(l.create(&one, &c1), 0);
  CU_ASSERT_EQUAL_FATAL(l.create(&two, &c2), 0);
  for (int b = 0; b < nb; b++) {
    int64_t batch = batches[b] > 0 ? batches[b] : least;
    Jit j = {0};
    CU_ASSERT_FATAL(jit_build(&j, model, batch, false, NULL));
    Inputs in;
    make_inputs(&j, &j, &in);
    void *outs[2][16];
    size_t out_n[16];
    int nout = 0;
    for (uint32_t k = 0; k < j.g->nouts && nout < 16; k++) {
      if (j.g->outs[k].kind != IR_OUT_OUTPUT) continue;
      int s = cg_program_output_slot(j.p, (int)k);
      for (int w = 0; w < 2; w++) outs[w][nout] = calloc((size_t)slot_bytes(&j, s) + 4, 1);
      out_n[nout++] = (size_t)ir_shape_numel(&slot(&j, s)->shape);
    }
    CU_ASSERT_EQUAL(l.forward_v(c1, batch, in.ptr, in.count, outs[0], out_n), 0);
    CU_ASSERT_EQUAL(l.forward_v(c2, batch, in.ptr, in.count, outs[1], out_n), 0);
    for (int k = 0; k < nout; k++) {
      /* a smaller batch may take another kernel path (a row's sum in
         another order): the last bits may differ, nothing more */
      const float *a = outs[0][k], *bb = outs[1][k];
      size_t off = 0;
      for (size_t e = 0; e < out_n[k]; e++) off += !(fabsf(a[e] - bb[e]) <= 1e-5f * (1 + fabsf(a[e])));
      if (off)
        fprintf(stderr, "\n  %s batch %lld: %zu of %zu outputs differ\n", model, (long long)batch,
                off, out_n[k]);
      CU_ASSERT_EQUAL(off, 0);
      free(outs[0][k]);
      free(outs[1][k]);
    }
    free_inputs(&in);
    jit_free(&j);
  }
  l.destroy(c1);
  l.destroy(c2);
  dlclose(l.so);
}

/* 0 stands for the manifest's least batch; odd batches split unevenly. */
static void test_split_forward_mlp(void) {
  const int64_t b[] = {0, 7, 128};
  check_split_forward("mlp", b, 3);
}

static void test_split_forward_gpt(void) {
  const int64_t b[] = {0, 3, 16};
  check_split_forward("gpt", b, 3);
}

/* seed_net's rows never meet either, but it is too small to split until
   a large batch; resnet_mini's forward (eval mode) splits too. */
static void test_split_manifest(void) {
  Lib l = {0};
  CU_ASSERT_FATAL(load_library(&l, "seed_net", "--optimizer sgd"));
  CU_ASSERT(split_min_batch("seed_net") > 64);
  dlclose(l.so);
  CU_ASSERT_FATAL(load_library(&l, "resnet_mini", "--optimizer sgd"));
  CU_ASSERT(split_min_batch("resnet_mini") >= 2);
  dlclose(l.so);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "%s/modelc-test-aot-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) return 1;
  static const TestCase tests[] = {
      {"seed_net (sgd): library == JIT, batches 1 5 64 100", test_seed_net_sgd},
      {"mlp (adam): library == JIT, batches 3 128", test_mlp_adam},
      {"gpt (adamw): library == JIT, batches 1 3", test_gpt_adamw},
      {"resnet_mini (sgd): library == JIT, batches 2 5", test_resnet_mini_sgd},
      {"mlp: labels outside [0, 10) are refused before the step", test_mlp_label_range},
      {"mlp: forward split over batch rows == one program", test_split_forward_mlp},
      {"gpt: forward split over batch rows == one program", test_split_forward_gpt},
      {"manifest: forward_split_min_batch", test_split_manifest},
  };
  int rc = test_main("aot", tests, MC_COUNTOF(tests));
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
  return rc;
}
