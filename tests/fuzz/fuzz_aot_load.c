/* fuzz_aot_load.c -- libFuzzer target for the AOT library's weight loading
   (rt_aot.h): a context of a small hand-made model image, like those of
   tests/unit/test_aot_runtime.c, loads the input as a checkpoint file with
   rt_aot_load, which checks every name, dtype and shape before changing a
   param. Two images: an inference one (params of every dtype) and a
   training one (Adam, plus an optimizer state tensor that may be absent
   from the file). Their programs never run. Seeds:
   tests/fuzz/corpus/fuzz_aot_load (checkpoints saved by rt_aot_save for
   both images, and variants). */
#include "fuzz_util.h"
#include "rt.h"
#include "rt_aot.h"

/* A program that does nothing: rt_aot_load never runs one. */
static void run_nothing(void *const *bufs, void *ws, const int64_t *descs) {
  (void)bufs, (void)ws, (void)descs;
}

static const RtAotTensor inputs[] = {{"x", RT_F32, 2, {1, 3}, 1u, 0}};
static const RtAotTensor outputs[] = {{"y", RT_F32, 2, {1, 3}, 1u, 0}};
static const RtAotParam params[] = {
    {{"w", RT_F32, 1, {3}, 0, 0}, 0, {RT_INIT_KAIMING_UNIFORM, 2.23606797749979, 0, 0}, NULL},
    {{"b", RT_F32, 0, {0}, 0, 0}, 0, {RT_INIT_ZEROS, 0, 0, 0}, NULL},
    {{"emb", RT_I32, 2, {2, 2}, 0, 0}, 0, {RT_INIT_ONES, 0, 0, 0}, NULL},
    {{"mask", RT_U8, 1, {4}, 0, 0}, 0, {RT_INIT_ONES, 0, 0, 0}, NULL},
    {{"scale", RT_F64, 1, {1}, 0, 0}, 0, {RT_INIT_CONSTANT, 0.5, 0, 0}, NULL},
    {{"big", RT_I64, 3, {1, 2, 1}, 0, 0}, 0, {RT_INIT_ZEROS, 0, 0, 0}, NULL},
    {{"w.exp_avg", RT_F32, 1, {3}, 0, 0}, 1, {RT_INIT_ZEROS, 0, 0, 0}, NULL},
};
#define NPARAMS ((int32_t)(sizeof params / sizeof params[0]))

static const RtAotSlot slots[] = {{RT_AOT_SLOT_INPUT, 0}, {RT_AOT_SLOT_PARAM, 0},
                                  {RT_AOT_SLOT_OUTPUT, 0}};
static const RtAotProgram program = {
    .run = run_nothing,
    .nslots = 3, .slots = slots,
    .ws_bytes = {RT_AOT_WS_HEADER + 64, 0},
    .heap_base = {RT_AOT_WS_HEADER + 64, 0},
};
static const char *const hyper_names[] = {"opt.lr"};

static const RtAotModel inference = {
    .abi = RT_AOT_ABI, .name = "fuzz",
    .ninputs = 1, .inputs = inputs, .noutputs = 1, .outputs = outputs,
    .nparams = NPARAMS - 1, .params = params,   /* without the optimizer state */
    .optimizer = -1,
    .forward = &program,
};
static const RtAotModel training = {
    .abi = RT_AOT_ABI, .name = "fuzz",
    .ninputs = 1, .inputs = inputs, .noutputs = 1, .outputs = outputs,
    .nparams = NPARAMS, .params = params,
    .nhyper = 1, .hyper_names = hyper_names,
    .optimizer = RT_OPTIM_ADAM,
    .forward = &program, .train = &program,
};

/* Loads path into a fresh context of m and reads back every param. */
static void load_into(const RtAotModel *m, const char *path) {
  RtAotConfig cfg = {.seed = 1, .threads = 1};
  RtAotCtx *c = NULL;
  if (rt_aot_create(m, &cfg, &c) != RT_AOT_OK) {
    fprintf(stderr, "fuzz_aot_load: create: %s\n", rt_aot_last_error(NULL));
    abort();
  }
  int rc = rt_aot_load(c, path);
  if (rc != RT_AOT_OK && rt_aot_last_error(c)[0] == '\0') abort();   /* a failure says why */
  volatile uint8_t sum = 0;
  for (int i = 0; i < m->nparams; i++) {
    const uint8_t *p = rt_aot_param_data(c, i);
    int64_t n = rt_dtype_size(m->params[i].t.dtype);
    for (int k = 0; k < m->params[i].t.rank; k++) n *= m->params[i].t.dims[k];
    for (int64_t j = 0; j < n; j++) sum += p[j];
  }
  (void)sum;
  if (rt_aot_steps(c) < 0) abort();
  rt_aot_destroy(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  load_into(&inference, path);
  load_into(&training, path);
  return 0;
}
