/* rt_aot.c -- the run-time half of a library made by `modelc build`
   (rt_aot.h): a context owns a model's params and optimizer state, a
   thread pool, and per program an instance for the batch of the last call
   (descriptor words, a workspace with its pointer table and constants).
   Calls check their arguments, bind the caller's buffers to the program's
   slots and run it; errors come back as codes and messages, never as a
   crash, an exit or output. */
#include "rt_aot.h"
#include "rt.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MSG_CAP 512
#define MAX_BYTES ((int64_t)1 << 46) /* the largest buffer or workspace, as the JIT */
#define FORMAT_NAME "modelc"
#define FORMAT_VERSION "1" /* the trainer's checkpoint format version */

_Static_assert(RT_AOT_MAX_RANK == RT_MAX_RANK, "ranks of rt_aot.h and rt.h");

/* The programs of an image; a context has an instance of each. */
enum { PROG_FORWARD, PROG_TRAIN, PROG_GRAD, PROG_APPLY, PROG_COUNT };
static const char *const prog_names[PROG_COUNT] = {"forward", "train", "grad", "apply"};

/* A program bound to one batch: what rt_aot computes from the image. */
typedef struct Instance {
  int64_t batch; /* 0: not built */
  int64_t *descs;
  char *ws;
  void **bufs;    /* the slot pointers of a call */
  void **scratch; /* per slot: the context's buffer for unwanted outputs, the loss, hypers */
} Instance;

struct RtAotCtx {
  const RtAotModel *m;
  pthread_mutex_t lock;
  RtPool *pool;
  void **params;  /* one 64-byte aligned buffer per param */
  void **updates; /* a program writes param i's new value here (NULL: never updated so) */
  int64_t steps;
  Instance inst[PROG_COUNT];
  int nparts;    /* forward split over batch rows: one copy per pool thread (0: never) */
  Instance *parts;
  char err[MSG_CAP];
};

static _Thread_local char create_err[MSG_CAP];
static _Thread_local char err_copy[MSG_CAP];

/* ---- messages --------------------------------------------------------------- */

static void vformat(char *buf, const char *fmt, va_list ap) { vsnprintf(buf, MSG_CAP, fmt, ap); }

static int fail(RtAotCtx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(RtAotCtx *c, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(c ? c->err : create_err, fmt, ap);
  va_end(ap);
  return code;
}

/* A problem with the image or the arguments of rt_aot_create; false. */
static bool bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool bad(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vformat(create_err, fmt, ap);
  va_end(ap);
  return false;
}

/* ---- sizes ------------------------------------------------------------------------ */

static bool mul_ok(int64_t a, int64_t b, int64_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}

/* l at batch; false on overflow. */
static bool lin_at(RtAotLin l, int64_t batch, int64_t *out) {
  int64_t t;
  return mul_ok(l.c1, batch, &t) && !__builtin_add_overflow(l.c0, t, out);
}

static bool valid_dtype(int32_t dtype) {
  return dtype == RT_U8 || dtype == RT_I32 || dtype == RT_I64 || dtype == RT_F32 ||
         dtype == RT_F64;
}

/* Extent i of t at batch; false on overflow. */
static bool dim_at(const RtAotTensor *t, int i, int64_t batch, int64_t *out) {
  if (!(t->batch_mask >> i & 1u)) return *out = t->dims[i], true;
  return mul_ok(t->dims[i], batch, out);
}

/* Element count of t at batch; false on overflow. */
static bool numel_at(const RtAotTensor *t, int64_t batch, int64_t *out) {
  int64_t n = 1, d;
  for (int i = 0; i < t->rank; i++)
    if (!dim_at(t, i, batch, &d) || !mul_ok(n, d, &n)) return false;
  return *out = n, true;
}

/* Byte size of t at batch; false when it overflows or exceeds MAX_BYTES. */
static bool bytes_at(const RtAotTensor *t, int64_t batch, int64_t *out) {
  int64_t n;
  return numel_at(t, batch, &n) && mul_ok(n, (int64_t)rt_dtype_size(t->dtype), out) &&
         *out <= MAX_BYTES;
}

/* "f32[20,10]". */
static void type_text(char *buf, size_t cap, const RtAotTensor *t) {
  char dims[200];
  rt_dims_format(dims, sizeof dims, t->rank, t->dims);
  snprintf(buf, cap, "%s%s", rt_dtype_name(t->dtype), dims);
}

/* A zeroed buffer of at least `bytes` bytes, 64-byte aligned. */
static void *alloc_aligned(int64_t bytes) {
  if (bytes < 0 || bytes > MAX_BYTES) return NULL;
  size_t n = ((size_t)bytes + RT_AOT_ALIGN - 1) / RT_AOT_ALIGN * RT_AOT_ALIGN;
  void *p = aligned_alloc(RT_AOT_ALIGN, n ? n : RT_AOT_ALIGN);
  if (p) memset(p, 0, n ? n : RT_AOT_ALIGN);
  return p;
}

/* ---- checking the image ----------------------------------------------------------- */

static bool check_tensor(const RtAotTensor *t, const char *what, int i) {
  if (!t->name || !valid_dtype(t->dtype) || t->rank < 0 || t->rank > RT_AOT_MAX_RANK ||
      t->batch_mask >> t->rank)
    return bad("create: %s %d has no name, a bad dtype, rank or batch mask", what, i);
  for (int k = 0; k < t->rank; k++)
    if (t->dims[k] < 0)
      return bad("create: %s '%s' has a negative extent", what, t->name);
  return true;
}

static bool check_tensors(const RtAotModel *m) {
  if ((m->ninputs && !m->inputs) || (m->noutputs && !m->outputs) ||
      (m->nparams && !m->params) || (m->nhyper && !m->hyper_names) || m->ninputs < 0 ||
      m->noutputs < 0 || m->nparams < 0 || m->nhyper < 0)
    return bad("create: model '%s': a table is missing", m->name);
  for (int i = 0; i < m->ninputs; i++)
    if (!check_tensor(&m->inputs[i], "input", i)) return false;
  for (int i = 0; i < m->noutputs; i++)
    if (!check_tensor(&m->outputs[i], "output", i)) return false;
  for (int i = 0; i < m->nparams; i++) {
    const RtAotParam *p = &m->params[i];
    int64_t bytes;
    if (!check_tensor(&p->t, "param", i)) return false;
    if (p->t.batch_mask || !bytes_at(&p->t, 1, &bytes))
      return bad("create: param '%s' depends on the batch or is too large", p->t.name);
  }
  for (int i = 0; i < m->nhyper; i++)
    if (!m->hyper_names[i])
      return bad("create: hyperparameter %d has no name", i);
  return true;
}

/* Program k of m (PROG_*), or NULL when the image has none. */
static const RtAotProgram *program_of(const RtAotModel *m, int k) {
  switch (k) {
  case PROG_FORWARD: return m->forward;
  case PROG_TRAIN: return m->train;
  case PROG_GRAD: return m->grad;
  default: return m->apply;
  }
}

/* Whether slot s may appear in program k: hyperparameters in the programs
   that take an optimizer step, updates in those that train, gradients in
   grad and apply, model inputs and the loss in all but apply. */
static bool check_slot(const RtAotModel *m, const RtAotSlot *s, int k) {
  bool step = k == PROG_TRAIN || k == PROG_APPLY, trains = k != PROG_FORWARD;
  switch (s->role) {
  case RT_AOT_SLOT_INPUT: return k != PROG_APPLY && s->index >= 0 && s->index < m->ninputs;
  case RT_AOT_SLOT_PARAM: return s->index >= 0 && s->index < m->nparams;
  case RT_AOT_SLOT_HYPER: return step && s->index >= 0 && s->index < m->nhyper;
  case RT_AOT_SLOT_OUTPUT: return k != PROG_APPLY && s->index >= 0 && s->index < m->noutputs;
  case RT_AOT_SLOT_LOSS: return k != PROG_APPLY;
  case RT_AOT_SLOT_UPDATE: return trains && s->index >= 0 && s->index < m->nparams;
  case RT_AOT_SLOT_UNUSED: return true;
  case RT_AOT_SLOT_GRAD:
    return (k == PROG_GRAD || k == PROG_APPLY) && s->index >= 0 && s->index < m->ngrads;
  }
  return false;
}

/* A param that two UPDATE slots of p write (swapping twice would undo the
   step), or -1. */
static int updated_twice(const RtAotProgram *p) {
  for (int i = 0; i < p->nslots; i++)
    for (int j = 0; j < i; j++)
      if (p->slots[i].role == RT_AOT_SLOT_UPDATE && p->slots[j].role == RT_AOT_SLOT_UPDATE &&
          p->slots[i].index == p->slots[j].index)
        return p->slots[i].index;
  return -1;
}

static bool check_program(const RtAotModel *m, int k) {
  const RtAotProgram *p = program_of(m, k);
  const char *what = prog_names[k];
  if (!p->run || p->nslots < 0 || p->ndesc < 0 || p->ntable < 0 || p->nconst < 0 ||
      p->nindex < 0 || (p->nslots && !p->slots) || (p->ndesc && !p->desc) ||
      (p->ntable && !p->table) || (p->nconst && !p->consts) || (p->nindex && !p->index_nodes))
    return bad("create: the %s program lacks its code or a table", what);
  for (int i = 0; i < p->nslots; i++)
    if (!check_slot(m, &p->slots[i], k))
      return bad("create: the %s program's slot %d has a bad role or index", what, i);
  int twice = updated_twice(p);
  if (twice >= 0) return bad("create: the %s program updates param %d twice", what, twice);
  for (int i = 0; i < p->nconst; i++) {
    const RtAotConst *k = &p->consts[i];
    bool dtype_ok = k->dtype == RT_F32 || k->dtype == RT_F64 || k->dtype == RT_I32 ||
                    k->dtype == RT_U8;
    if (!dtype_ok || k->power < -1 || k->power > 2)
      return bad("create: the %s program's constant %d has a bad dtype or power",
                  what, i);
  }
  return true;
}

/* grad_params: distinct model params (not optimizer state). */
static bool check_grad_params(const RtAotModel *m) {
  if (m->ngrads < 0 || (m->ngrads && !m->grad_params))
    return bad("create: model '%s': the gradients' table is missing", m->name);
  for (int k = 0; k < m->ngrads; k++) {
    int32_t i = m->grad_params[k];
    if (i < 0 || i >= m->nparams || m->params[i].state)
      return bad("create: model '%s': gradient %d is not of a model param", m->name, k);
    for (int j = 0; j < k; j++)
      if (m->grad_params[j] == i)
        return bad("create: model '%s': param '%s' has two gradients", m->name,
                   m->params[i].t.name);
  }
  return true;
}

static bool check_model(const RtAotModel *m) {
  if (m->abi != RT_AOT_ABI)
    return bad("create: the model image has ABI version %d; this runtime reads "
                         "version %d (rebuild the library with this modelc)", (int)m->abi,
                RT_AOT_ABI);
  if (!m->name || !m->forward)
    return bad("create: the model image has no name or no forward program");
  if (m->train && (m->optimizer < 0 || m->optimizer >= RT_OPTIM_COUNT))
    return bad("create: model '%s': bad optimizer %d", m->name, (int)m->optimizer);
  if (!m->grad != !m->apply || (m->grad && !m->train))
    return bad("create: model '%s': a grad program needs an apply program and a training "
               "step, and the reverse", m->name);
  if (!check_tensors(m) || (m->grad && !check_grad_params(m))) return false;
  for (int k = 0; k < PROG_COUNT; k++)
    if (program_of(m, k) && !check_program(m, k)) return false;
  return true;
}

/* ---- params ------------------------------------------------------------------------ */

static int32_t to_i32(double v) {
  double t = isnan(v) ? 0.0 : v >= 2147483647.0 ? 2147483647.0 : v <= -2147483648.0 ? -2147483648.0
                                                                                    : trunc(v);
  return (int32_t)t;
}

static int64_t to_i64(double v) {
  double t = isnan(v) ? 0.0 : v >= 0x1p63 ? 0x1p63 - 1024.0 : v <= -0x1p63 ? -0x1p63 : trunc(v);
  return (int64_t)t;
}

/* Element k of out (of dtype) = v, rounded as modelc's JIT initializes params. */
static void store(void *out, int32_t dtype, int64_t k, double v) {
  switch (dtype) {
  case RT_F32: ((float *)out)[k] = (float)v; break;
  case RT_F64: ((double *)out)[k] = v; break;
  case RT_I32: ((int32_t *)out)[k] = to_i32(v); break;
  case RT_I64: ((int64_t *)out)[k] = to_i64(v); break;
  default: ((uint8_t *)out)[k] = v != 0.0; break;
  }
}

/* Param p's values from its initializer for seed. */
static bool init_param(const RtAotParam *p, uint64_t seed, void *out) {
  int64_t n = 0;
  numel_at(&p->t, 1, &n);
  double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  if (!v) return false;
  RtInit init = {(RtInitKind)p->init.kind, p->init.a, p->init.b, p->init.fan_out != 0};
  if (init.kind < RT_INIT_NONE || init.kind >= RT_INIT_COUNT) init.kind = RT_INIT_ZEROS;
  for (int64_t k = 0; k < n; k++) v[k] = 0.0;
  rt_init_fill(&init, p->t.name, p->t.rank, p->t.dims, seed, v);
  for (int64_t k = 0; k < n; k++) store(out, p->t.dtype, k, v[k]);
  free(v);
  return true;
}

static int64_t param_bytes(const RtAotParam *p) {
  int64_t bytes = 0;
  bytes_at(&p->t, 1, &bytes);
  return bytes;
}

static int make_params(RtAotCtx *c, uint64_t seed) {
  const RtAotModel *m = c->m;
  c->params = calloc((size_t)m->nparams + 1, sizeof *c->params);
  c->updates = calloc((size_t)m->nparams + 1, sizeof *c->updates);
  if (!c->params || !c->updates) return fail(NULL, RT_AOT_ERR_NOMEM, "create: out of memory");
  for (int i = 0; i < m->nparams; i++) {
    const RtAotParam *p = &m->params[i];
    int64_t bytes = param_bytes(p);
    c->params[i] = alloc_aligned(bytes);
    bool ok = c->params[i] != NULL;
    if (ok && p->initial) memcpy(c->params[i], p->initial, (size_t)bytes);
    else if (ok) ok = init_param(p, seed, c->params[i]);
    if (!ok)
      return fail(NULL, RT_AOT_ERR_NOMEM, "create: out of memory for param '%s' (%lld bytes)",
                  p->t.name, (long long)bytes);
  }
  for (int k = PROG_TRAIN; k < PROG_COUNT; k++) {
    const RtAotProgram *t = program_of(m, k);
    for (int s = 0; t && s < t->nslots; s++) {
      int i = t->slots[s].index;
      if (t->slots[s].role != RT_AOT_SLOT_UPDATE || c->updates[i]) continue;
      c->updates[i] = alloc_aligned(param_bytes(&m->params[i]));
      if (!c->updates[i]) return fail(NULL, RT_AOT_ERR_NOMEM, "create: out of memory");
    }
  }
  return RT_AOT_OK;
}

/* ---- instances: a program at one batch ------------------------------------------ */

static void instance_free(const RtAotProgram *p, Instance *in) {
  for (int s = 0; in->scratch && s < p->nslots; s++) free(in->scratch[s]);
  free(in->scratch);
  free(in->bufs);
  free(in->descs);
  free(in->ws);
  memset(in, 0, sizeof *in);
}

/* The constant at this batch (rt_aot.h: value, value * batch, or
   1 / (value * batch)) in dtype at `at`, as the JIT writes constants. */
static void write_const(char *at, const RtAotConst *k, int64_t batch) {
  double n = k->value * (double)batch;
  double v = k->power == 2 ? n / (n - 1) : k->power == 1 ? n : k->power < 0 ? 1.0 / n : k->value;
  switch (k->dtype) {
  case RT_F32: {
    float f = (float)v;
    memcpy(at, &f, sizeof f);
    break;
  }
  case RT_F64: memcpy(at, &v, sizeof v); break;
  case RT_I32: {
    int32_t x = to_i32(v);
    memcpy(at, &x, sizeof x);
    break;
  }
  default: *at = v != 0.0; break;
  }
}

/* The pointer table after the slots and the constants. false: an offset
   outside the workspace (an inconsistent image). */
static bool fill_workspace(const RtAotProgram *p, Instance *in, int64_t ws_bytes) {
  char **table = (char **)(in->ws + RT_AOT_WS_HEADER) + p->nslots;
  for (int i = 0; i < p->ntable; i++) {
    int64_t off;
    if (p->table[i].c0 == -1 && p->table[i].c1 == 0) {
      table[i] = NULL;
      continue;
    }
    if (!lin_at(p->table[i], in->batch, &off) || off < 0 || off > ws_bytes) return false;
    table[i] = in->ws + off;
  }
  for (int i = 0; i < p->nconst; i++) {
    int64_t off;
    const RtAotConst *k = &p->consts[i];
    if (!lin_at(k->offset, in->batch, &off) || off < 0 ||
        off > ws_bytes - (int64_t)rt_dtype_size(k->dtype))
      return false;
    write_const(in->ws + off, k, in->batch);
  }
  return true;
}

/* Builds p's instance for batch (what: "forward" or "train_step"). */
static int instance_build(RtAotCtx *c, const RtAotProgram *p, Instance *in, int64_t batch,
                          const char *what) {
  instance_free(p, in);
  in->batch = batch;
  int64_t ws_bytes, heap_base, table_end;
  bool sizes_ok = lin_at(p->ws_bytes, batch, &ws_bytes) && lin_at(p->heap_base, batch, &heap_base);
  if (!sizes_ok || ws_bytes > MAX_BYTES) {
    in->batch = 0;
    return fail(c, RT_AOT_ERR_BATCH, "%s: batch %lld is too large (the workspace would exceed "
                "%lld bytes)", what, (long long)batch, (long long)MAX_BYTES);
  }
  table_end = RT_AOT_WS_HEADER + 8 * ((int64_t)p->nslots + p->ntable);
  if (heap_base < table_end || ws_bytes < heap_base) {
    in->batch = 0;
    return fail(c, RT_AOT_ERR_ARG, "%s: the model image's workspace layout is inconsistent at "
                "batch %lld", what, (long long)batch);
  }
  in->descs = malloc(((size_t)p->ndesc + 1) * sizeof *in->descs);
  in->bufs = calloc((size_t)p->nslots + 1, sizeof *in->bufs);
  in->scratch = calloc((size_t)p->nslots + 1, sizeof *in->scratch);
  in->ws = aligned_alloc(RT_AOT_ALIGN,
                         ((size_t)ws_bytes + RT_AOT_ALIGN - 1) / RT_AOT_ALIGN * RT_AOT_ALIGN);
  if (!in->descs || !in->bufs || !in->scratch || !in->ws) {
    instance_free(p, in);
    return fail(c, RT_AOT_ERR_NOMEM, "%s: out of memory for a workspace of %lld bytes at batch "
                "%lld", what, (long long)ws_bytes, (long long)batch);
  }
  for (int i = 0; i < p->ndesc; i++)
    if (!lin_at(p->desc[i], batch, &in->descs[i])) {
      instance_free(p, in);
      return fail(c, RT_AOT_ERR_BATCH, "%s: batch %lld is too large (a kernel extent "
                  "overflows)", what, (long long)batch);
    }
  memset(in->ws, 0, (size_t)heap_base);
  if (!fill_workspace(p, in, ws_bytes)) {
    instance_free(p, in);
    return fail(c, RT_AOT_ERR_ARG, "%s: the model image's workspace layout is inconsistent at "
                "batch %lld", what, (long long)batch);
  }
  *(RtPool **)(in->ws + RT_AOT_WS_POOL) = p->uses_pool ? c->pool : NULL;
  return RT_AOT_OK;
}

/* The context's buffer of `bytes` for slot s at this batch. */
static void *scratch(Instance *in, int s, int64_t bytes) {
  if (!in->scratch[s]) in->scratch[s] = alloc_aligned(bytes);
  return in->scratch[s];
}

/* ---- create, destroy, errors -------------------------------------------------------- */

static bool any_pool(const RtAotModel *m) {
  for (int k = 0; k < PROG_COUNT; k++)
    if (program_of(m, k) && program_of(m, k)->uses_pool) return true;
  return false;
}

int rt_aot_create(const RtAotModel *m, const RtAotConfig *cfg, RtAotCtx **out) {
  if (out) *out = NULL;
  if (!m || !out) return fail(NULL, RT_AOT_ERR_ARG, "create: the model or the result pointer is NULL");
  if (!check_model(m)) return RT_AOT_ERR_ARG;
  RtAotConfig conf = cfg ? *cfg : (RtAotConfig){0, 0};
  RtAotCtx *c = calloc(1, sizeof *c);
  if (!c) return fail(NULL, RT_AOT_ERR_NOMEM, "create: out of memory");
  c->m = m;
  if (pthread_mutex_init(&c->lock, NULL) != 0) {
    free(c);
    return fail(NULL, RT_AOT_ERR_NOMEM, "create: cannot make a mutex");
  }
  int rc = make_params(c, conf.seed);
  if (rc == RT_AOT_OK && any_pool(m) && !(c->pool = rt_pool_new(conf.threads)))
    rc = fail(NULL, RT_AOT_ERR_THREADS, "create: cannot start %d worker threads",
              conf.threads > 0 ? conf.threads : 0);
  if (rc == RT_AOT_OK && m->forward->split_min_batch > 0 && rt_pool_threads(c->pool) > 1) {
    c->nparts = rt_pool_threads(c->pool);
    if (!(c->parts = calloc((size_t)c->nparts, sizeof *c->parts)))
      rc = fail(NULL, RT_AOT_ERR_NOMEM, "create: out of memory");
  }
  if (rc != RT_AOT_OK) {
    rt_aot_destroy(c);
    return rc;
  }
  *out = c;
  return RT_AOT_OK;
}

void rt_aot_destroy(RtAotCtx *c) {
  if (!c) return;
  const RtAotModel *m = c->m;
  for (int k = 0; k < PROG_COUNT; k++)
    if (program_of(m, k)) instance_free(program_of(m, k), &c->inst[k]);
  for (int i = 0; c->parts && i < c->nparts; i++) instance_free(m->forward, &c->parts[i]);
  free(c->parts);
  for (int i = 0; i < m->nparams; i++) {
    if (c->params) free(c->params[i]);
    if (c->updates) free(c->updates[i]);
  }
  free(c->params);
  free(c->updates);
  rt_pool_free(c->pool);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

const char *rt_aot_last_error(const RtAotCtx *c) {
  if (!c) return create_err;
  RtAotCtx *w = (RtAotCtx *)c; /* the lock is not part of the observable state */
  pthread_mutex_lock(&w->lock);
  memcpy(err_copy, c->err, sizeof err_copy);
  pthread_mutex_unlock(&w->lock);
  return err_copy;
}

/* Locks c and clears its message; false (and a thread message) for NULL. */
static bool enter(RtAotCtx *c, const char *what) {
  if (!c) return bad("%s: the context is NULL", what);
  pthread_mutex_lock(&c->lock);
  c->err[0] = '\0';
  return true;
}

static int leave(RtAotCtx *c, int rc) {
  pthread_mutex_unlock(&c->lock);
  return rc;
}

/* ---- arguments --------------------------------------------------------------------- */

/* "128*784 = 100352" (or "100352" for rank <= 1). */
static void expected_text(char *buf, size_t cap, const RtAotTensor *t, int64_t batch,
                          int64_t numel) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < t->rank && t->rank > 1 && len < cap; i++) {
    int64_t d;
    dim_at(t, i, batch, &d);
    len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "*" : "", (long long)d);
  }
  if (len < cap) snprintf(buf + len, cap - len, "%s%lld", t->rank > 1 ? " = " : "",
                          (long long)numel);
}

/* Checks one caller buffer (kind "input" or "output") against t at batch. */
static int check_buffer(RtAotCtx *c, const char *what, const char *kind, const RtAotTensor *t,
                        int64_t batch, size_t count) {
  int64_t numel, bytes;
  if (!numel_at(t, batch, &numel) || !bytes_at(t, batch, &bytes))
    return fail(c, RT_AOT_ERR_BATCH, "%s: batch %lld is too large (%s '%s' would exceed %lld "
                "bytes)", what, (long long)batch, kind, t->name, (long long)MAX_BYTES);
  if ((uint64_t)count == (uint64_t)numel) return RT_AOT_OK;
  char want[256];
  expected_text(want, sizeof want, t, batch, numel);
  return fail(c, RT_AOT_ERR_SIZE, "%s: %s '%s' has %zu elements, expected %s at batch %lld",
              what, kind, t->name, count, want, (long long)batch);
}

/* Whether p binds model input i to a slot. */
static bool reads_input(const RtAotProgram *p, int i) {
  for (int s = 0; s < p->nslots; s++)
    if (p->slots[s].role == RT_AOT_SLOT_INPUT && p->slots[s].index == i) return true;
  return false;
}

/* The inputs p reads must be given with their counts; the others may be
   NULL (a forward pass needs no labels), and are checked when given. */
/* The values of a bounded i32 input (labels, tokens) are in [0, bound). */
static int check_range(RtAotCtx *c, const char *what, const RtAotTensor *t, const void *data,
                       size_t count) {
  if (t->bound <= 0 || t->dtype != RT_I32) return RT_AOT_OK;
  const int32_t *v = data;
  for (size_t k = 0; k < count; k++)
    if (v[k] < 0 || v[k] >= t->bound)
      return fail(c, RT_AOT_ERR_INDEX, "%s: input '%s' has %ld at element %zu, outside [0, %lld)",
                  what, t->name, (long)v[k], k, (long long)t->bound);
  return RT_AOT_OK;
}

static int check_inputs(RtAotCtx *c, const RtAotProgram *p, const char *what, int64_t batch,
                        const void *const *inputs, const size_t *counts) {
  const RtAotModel *m = c->m;
  if (batch < 1)
    return fail(c, RT_AOT_ERR_BATCH, "%s: batch %lld is not positive", what, (long long)batch);
  if (m->ninputs > 0 && (!inputs || !counts))
    return fail(c, RT_AOT_ERR_ARG, "%s: the %s array is NULL", what,
                inputs ? "input count" : "input");
  for (int i = 0; i < m->ninputs; i++) {
    if (!inputs[i] && !reads_input(p, i)) continue;
    if (!inputs[i])
      return fail(c, RT_AOT_ERR_ARG, "%s: input '%s' is NULL", what, m->inputs[i].name);
    int rc = check_buffer(c, what, "input", &m->inputs[i], batch, counts[i]);
    if (!rc) rc = check_range(c, what, &m->inputs[i], inputs[i], counts[i]);
    if (rc) return rc;
  }
  return RT_AOT_OK;
}

static int check_outputs(RtAotCtx *c, int64_t batch, void *const *outputs, const size_t *counts) {
  const RtAotModel *m = c->m;
  for (int i = 0; outputs && i < m->noutputs; i++) {
    if (!outputs[i]) continue;
    if (!counts)
      return fail(c, RT_AOT_ERR_ARG, "forward: output '%s' is given but the output count "
                  "array is NULL", m->outputs[i].name);
    int rc = check_buffer(c, "forward", "output", &m->outputs[i], batch, counts[i]);
    if (rc) return rc;
  }
  return RT_AOT_OK;
}

/* ---- running ------------------------------------------------------------------------- */

/* What a call binds to the slots besides the context's own buffers. */
typedef struct Call {
  const char *what;
  int64_t batch;
  const void *const *inputs;
  void *const *outputs; /* NULL: none wanted */
  const RtOptimHyper *hyper;
  void *const *grads; /* grad, apply: the caller's gradient buffers */
} Call;

/* A hyperparameter slot: its f32 value for the next step, in scratch. */
static int bind_hyper(RtAotCtx *c, Instance *in, int s, const RtAotSlot *slot, const Call *k,
                      void **out) {
  const char *name = c->m->hyper_names[slot->index];
  double v = 0.0;
  if (!rt_optim_input_value(k->hyper, c->steps + 1, name, &v))
    return fail(c, RT_AOT_ERR_ARG, "%s: the model's hyperparameter '%s' is unknown to this "
                "runtime", k->what, name);
  float *f = scratch(in, s, sizeof(float));
  if (!f) return fail(c, RT_AOT_ERR_NOMEM, "%s: out of memory", k->what);
  *f = (float)v;
  *out = f;
  return RT_AOT_OK;
}

/* *out = slot s's buffer for this call. */
static int bind_slot(RtAotCtx *c, Instance *in, int s, const RtAotSlot *slot, const Call *k,
                     void **out) {
  const RtAotModel *m = c->m;
  int64_t bytes = 0;
  switch (slot->role) {
  case RT_AOT_SLOT_INPUT: return *out = (void *)k->inputs[slot->index], RT_AOT_OK;
  case RT_AOT_SLOT_PARAM: return *out = c->params[slot->index], RT_AOT_OK;
  case RT_AOT_SLOT_UPDATE: return *out = c->updates[slot->index], RT_AOT_OK;
  case RT_AOT_SLOT_UNUSED: return *out = NULL, RT_AOT_OK;
  case RT_AOT_SLOT_GRAD: return *out = k->grads[slot->index], RT_AOT_OK;
  case RT_AOT_SLOT_HYPER: return bind_hyper(c, in, s, slot, k, out);
  case RT_AOT_SLOT_LOSS: bytes = sizeof(float); break;
  case RT_AOT_SLOT_OUTPUT:
    if (k->outputs && k->outputs[slot->index]) return *out = k->outputs[slot->index], RT_AOT_OK;
    if (!bytes_at(&m->outputs[slot->index], k->batch, &bytes))
      return fail(c, RT_AOT_ERR_BATCH, "%s: batch %lld is too large (output '%s' would exceed "
                  "%lld bytes)", k->what, (long long)k->batch, m->outputs[slot->index].name,
                  (long long)MAX_BYTES);
    break;
  }
  *out = scratch(in, s, bytes);
  if (*out) return RT_AOT_OK;
  return fail(c, RT_AOT_ERR_NOMEM, "%s: out of memory for %lld bytes", k->what,
              (long long)bytes);
}

/* The message for a bad index the program reported. */
static int index_error(RtAotCtx *c, const RtAotProgram *p, const Call *k, uint32_t bad,
                       int64_t value) {
  for (int i = 0; i < p->nindex; i++) {
    const RtAotIndexNode *n = &p->index_nodes[i];
    if (n->node != (int64_t)bad - 1) continue;
    int64_t rows = 0;
    lin_at(n->rows, k->batch, &rows);
    const char *where = n->where ? n->where : "";
    return fail(c, RT_AOT_ERR_INDEX, "%s: %s index %lld out of range [0, %lld)%s%s", k->what,
                n->op ? n->op : "index", (long long)value, (long long)rows, *where ? " at " : "",
                where);
  }
  return fail(c, RT_AOT_ERR_INDEX, "%s: index %lld out of range at node %u", k->what,
              (long long)value, bad - 1);
}

/* Builds the instance if the batch changed and binds every slot. */
static int prepare(RtAotCtx *c, const RtAotProgram *p, Instance *in, const Call *k) {
  if (in->batch != k->batch) {
    int rc = instance_build(c, p, in, k->batch, k->what);
    if (rc) return rc;
  }
  for (int s = 0; s < p->nslots; s++) {
    int rc = bind_slot(c, in, s, &p->slots[s], k, &in->bufs[s]);
    if (rc) return rc;
  }
  memset(in->ws + RT_AOT_WS_ERR_NODE, 0, RT_AOT_WS_HEADER - RT_AOT_WS_ERR_NODE);
  return RT_AOT_OK;
}

/* After p ran: the bad index it recorded, if any. */
static int index_status(RtAotCtx *c, const RtAotProgram *p, const Instance *in, const Call *k) {
  uint32_t bad;
  int64_t value;
  memcpy(&bad, in->ws + RT_AOT_WS_ERR_NODE, sizeof bad);
  memcpy(&value, in->ws + RT_AOT_WS_ERR_VALUE, sizeof value);
  return bad ? index_error(c, p, k, bad, value) : RT_AOT_OK;
}

static int run_program(RtAotCtx *c, const RtAotProgram *p, Instance *in, const Call *k) {
  int rc = prepare(c, p, in, k);
  if (rc) return rc;
  p->run(in->bufs, in->ws, in->descs);
  return index_status(c, p, in, k);
}

/* ---- forward split over batch rows ---------------------------------------------------- */

typedef struct Split {
  RtAotCtx *c;
  const RtAotProgram *p;
} Split;

static void run_parts(void *ctx, int64_t begin, int64_t end) {
  const Split *sp = ctx;
  for (int64_t i = begin; i < end; i++) {
    Instance *in = &sp->c->parts[i];
    sp->p->run(in->bufs, in->ws, in->descs);
  }
}

/* Tensor t's rows from `row` on: batched tensors (inputs and outputs of a
   split program have the batch in dim 0 alone) move, the others do not. */
static void *rows_from(const RtAotTensor *t, const void *data, int64_t row) {
  int64_t off = 0;
  if (data && t->batch_mask) bytes_at(t, row, &off);
  return (char *)data + off;
}

/* Part i: rows [b0, b1) of the call, on its own instance with the kernels
   inline (the pool runs the parts). */
static int prepare_part(RtAotCtx *c, const RtAotProgram *p, const Call *k, int i,
                        const void **ins, void **outs) {
  const RtAotModel *m = c->m;
  int64_t b0, b1;
  rt_pool_chunk(k->batch, c->nparts, i, &b0, &b1);
  for (int j = 0; j < m->ninputs; j++) ins[j] = rows_from(&m->inputs[j], k->inputs[j], b0);
  for (int j = 0; k->outputs && j < m->noutputs; j++)
    outs[j] = k->outputs[j] ? rows_from(&m->outputs[j], k->outputs[j], b0) : NULL;
  Call part = *k;
  part.batch = b1 - b0;
  part.inputs = ins;
  part.outputs = k->outputs ? outs : NULL;
  Instance *in = &c->parts[i];
  int rc = prepare(c, p, in, &part);
  *(RtPool **)(in->ws + RT_AOT_WS_POOL) = NULL;
  return rc;
}

static int run_split(RtAotCtx *c, const RtAotProgram *p, const Call *k) {
  const RtAotModel *m = c->m;
  const void **ins = calloc((size_t)c->nparts * (size_t)(m->ninputs + 1), sizeof *ins);
  void **outs = calloc((size_t)c->nparts * (size_t)(m->noutputs + 1), sizeof *outs);
  int rc = ins && outs ? RT_AOT_OK : fail(c, RT_AOT_ERR_NOMEM, "%s: out of memory", k->what);
  for (int i = 0; !rc && i < c->nparts; i++)
    rc = prepare_part(c, p, k, i, ins + (size_t)i * (size_t)(m->ninputs + 1),
                      outs + (size_t)i * (size_t)(m->noutputs + 1));
  if (!rc) {
    Split sp = {c, p};
    rt_parallel_for(c->pool, c->nparts, run_parts, &sp);
  }
  for (int i = 0; !rc && i < c->nparts; i++) rc = index_status(c, p, &c->parts[i], k);
  free(ins);
  free(outs);
  return rc;
}

int rt_aot_forward(RtAotCtx *c, int64_t batch, const void *const *inputs, const size_t *in_counts,
                   void *const *outputs, const size_t *out_counts) {
  if (!enter(c, "forward")) return RT_AOT_ERR_ARG;
  int rc = check_inputs(c, c->m->forward, "forward", batch, inputs, in_counts);
  if (!rc) rc = check_outputs(c, batch, outputs, out_counts);
  if (!rc) {
    Call k = {"forward", batch, inputs, outputs, NULL, NULL};
    const RtAotProgram *p = c->m->forward;
    bool split = c->nparts > 1 && batch >= p->split_min_batch && batch >= c->nparts;
    rc = split ? run_split(c, p, &k) : run_program(c, p, &c->inst[PROG_FORWARD], &k);
  }
  return leave(c, rc);
}

/* After program t ran: its update buffers become the params. */
static void commit_updates(RtAotCtx *c, const RtAotProgram *t) {
  for (int s = 0; s < t->nslots; s++) {
    if (t->slots[s].role != RT_AOT_SLOT_UPDATE) continue;
    int i = t->slots[s].index;
    void *old = c->params[i];
    c->params[i] = c->updates[i];
    c->updates[i] = old;
  }
}

static float loss_of(const RtAotProgram *t, const Instance *in) {
  float v = NAN;
  for (int s = 0; s < t->nslots; s++)
    if (t->slots[s].role == RT_AOT_SLOT_LOSS) memcpy(&v, in->bufs[s], sizeof v);
  return v;
}

/* The runtime's hyperparameters of h (NULL: the built optimizer's defaults). */
static RtOptimHyper optim_hyper(const RtAotModel *m, const RtAotHyper *h) {
  RtAotHyper d = {0};
  if (!h) rt_aot_hyper_default(m, &d);
  const RtAotHyper *u = h ? h : &d;
  return (RtOptimHyper){u->lr, u->momentum, u->weight_decay, u->beta1, u->beta2, u->eps,
                        u->max_norm};
}

/* The error of a training call (what) on a library without program p. */
static int no_program(RtAotCtx *c, const char *what, const char *lacks) {
  return fail(c, RT_AOT_ERR_NOTRAIN, "%s: model '%s' was built without --train (no %s in this "
              "library)", what, c->m->name, lacks);
}

/* run_program finds a bad index after the program ran: updates computed in
   place have happened, so the others are committed too. */
static bool program_ran(int rc) { return !rc || rc == RT_AOT_ERR_INDEX; }

int rt_aot_train_step(RtAotCtx *c, int64_t batch, const void *const *inputs,
                      const size_t *in_counts, const RtAotHyper *h, float *loss) {
  if (!enter(c, "train_step")) return RT_AOT_ERR_ARG;
  const RtAotModel *m = c->m;
  if (!m->train) return leave(c, no_program(c, "train_step", "training step"));
  int rc = check_inputs(c, m->train, "train_step", batch, inputs, in_counts);
  bool ran = false;
  if (!rc) {
    RtOptimHyper oh = optim_hyper(m, h);
    Call k = {"train_step", batch, inputs, NULL, &oh, NULL};
    rc = run_program(c, m->train, &c->inst[PROG_TRAIN], &k);
    ran = program_ran(rc);
  }
  if (ran) {
    commit_updates(c, m->train);
    c->steps++;
    if (loss) *loss = loss_of(m->train, &c->inst[PROG_TRAIN]);
  }
  return leave(c, rc);
}

/* Every gradient buffer is given, with its param's element count. */
static int check_grads(RtAotCtx *c, const char *what, const void *const *grads,
                       const size_t *counts) {
  const RtAotModel *m = c->m;
  if (m->ngrads > 0 && (!grads || !counts))
    return fail(c, RT_AOT_ERR_ARG, "%s: the %s array is NULL", what,
                grads ? "gradient count" : "gradient");
  for (int k = 0; k < m->ngrads; k++) {
    const RtAotTensor *t = &m->params[m->grad_params[k]].t;
    int64_t numel = 0;
    numel_at(t, 1, &numel);
    if (!grads[k])
      return fail(c, RT_AOT_ERR_ARG, "%s: the gradient of '%s' is NULL", what, t->name);
    if ((uint64_t)counts[k] == (uint64_t)numel) continue;
    char want[256];
    expected_text(want, sizeof want, t, 1, numel);
    return fail(c, RT_AOT_ERR_SIZE, "%s: the gradient of '%s' has %zu elements, expected %s",
                what, t->name, counts[k], want);
  }
  return RT_AOT_OK;
}

int rt_aot_grad(RtAotCtx *c, int64_t batch, const void *const *inputs, const size_t *in_counts,
                void *const *grads, const size_t *grad_counts, float *loss) {
  if (!enter(c, "grad")) return RT_AOT_ERR_ARG;
  const RtAotModel *m = c->m;
  if (!m->grad) return leave(c, no_program(c, "grad", "gradient program"));
  int rc = check_inputs(c, m->grad, "grad", batch, inputs, in_counts);
  if (!rc) rc = check_grads(c, "grad", (const void *const *)grads, grad_counts);
  if (!rc) {
    Call k = {"grad", batch, inputs, NULL, NULL, grads};
    rc = run_program(c, m->grad, &c->inst[PROG_GRAD], &k);
    if (program_ran(rc)) {
      commit_updates(c, m->grad); /* buffers: running statistics, the dropout state */
      if (loss) *loss = loss_of(m->grad, &c->inst[PROG_GRAD]);
    }
  }
  return leave(c, rc);
}

int rt_aot_apply(RtAotCtx *c, const void *const *grads, const size_t *grad_counts,
                 const RtAotHyper *h) {
  if (!enter(c, "apply")) return RT_AOT_ERR_ARG;
  const RtAotModel *m = c->m;
  if (!m->apply) return leave(c, no_program(c, "apply", "apply program"));
  int rc = check_grads(c, "apply", grads, grad_counts);
  if (!rc) {
    RtOptimHyper oh = optim_hyper(m, h);
    /* the program only reads the gradients (its input slots) */
    Call k = {"apply", 1, NULL, NULL, &oh, (void *const *)grads};
    rc = run_program(c, m->apply, &c->inst[PROG_APPLY], &k);
    if (program_ran(rc)) {
      commit_updates(c, m->apply);
      c->steps++;
    }
  }
  return leave(c, rc);
}

void rt_aot_hyper_default(const RtAotModel *m, RtAotHyper *h) {
  if (!h) return;
  RtOptimHyper r = rt_optim_defaults(m ? m->optimizer : RT_OPTIM_SGD);
  *h = (RtAotHyper){r.lr, r.momentum, r.weight_decay, r.beta1, r.beta2, r.eps, r.max_norm};
}

int64_t rt_aot_steps(const RtAotCtx *c) {
  if (!c) return -1;
  RtAotCtx *w = (RtAotCtx *)c;
  pthread_mutex_lock(&w->lock);
  int64_t n = c->steps;
  pthread_mutex_unlock(&w->lock);
  return n;
}

/* ---- params by name ------------------------------------------------------------------ */

int rt_aot_param_find(const RtAotModel *m, const char *name) {
  if (!m || !name || !m->params) return -1;
  for (int i = 0; i < m->nparams; i++)
    if (m->params[i].t.name && !strcmp(m->params[i].t.name, name)) return i;
  return -1;
}

void *rt_aot_param_data(RtAotCtx *c, int i) {
  if (!enter(c, "param_data")) return NULL;
  void *p = NULL;
  if (i < 0 || i >= c->m->nparams)
    fail(c, RT_AOT_ERR_ARG, "param_data: param %d is out of range [0, %d)", i, c->m->nparams);
  else
    p = c->params[i];
  leave(c, RT_AOT_OK);
  return p;
}

/* ---- checkpoints --------------------------------------------------------------------- */

/* Whether param i goes into a saved file: model params always, optimizer
   state when the library trains. */
static bool saved(const RtAotModel *m, int i) { return !m->params[i].state || m->train; }

int rt_aot_save(RtAotCtx *c, const char *path) {
  if (!enter(c, "save")) return RT_AOT_ERR_ARG;
  const RtAotModel *m = c->m;
  if (!path) return leave(c, fail(c, RT_AOT_ERR_ARG, "save: the path is NULL"));
  RtTensorRef *ts = calloc((size_t)m->nparams + 1, sizeof *ts);
  if (!ts) return leave(c, fail(c, RT_AOT_ERR_NOMEM, "%s: out of memory", path));
  size_t n = 0;
  for (int i = 0; i < m->nparams; i++) {
    if (!saved(m, i)) continue;
    const RtAotTensor *t = &m->params[i].t;
    ts[n] = (RtTensorRef){.name = t->name, .dtype = t->dtype, .rank = t->rank,
                          .data = c->params[i]};
    memcpy(ts[n++].dims, t->dims, sizeof t->dims);
  }
  char step[32];
  snprintf(step, sizeof step, "%lld", (long long)c->steps);
  RtMeta meta[5] = {{"format", FORMAT_NAME}, {"format_version", FORMAT_VERSION},
                    {"model", m->name}, {"step", step}, {"optimizer", NULL}};
  size_t nmeta = 4;
  if (m->train) meta[nmeta++].value = rt_optim_kind_name(m->optimizer);
  RtError e = {{0}};
  bool ok = rt_safetensors_save(path, ts, n, meta, nmeta, &e);
  free(ts);
  return leave(c, ok ? RT_AOT_OK : fail(c, RT_AOT_ERR_IO, "%s", e.msg));
}

/* The code for a message of rt_safetensors_load about a file that opened. */
static int load_error_code(const char *msg) {
  if (strstr(msg, "out of memory")) return RT_AOT_ERR_NOMEM;
  if (strstr(msg, "cannot read")) return RT_AOT_ERR_IO;
  return RT_AOT_ERR_FORMAT;
}

/* The checkpoint at path, or NULL with the error set. */
static RtCheckpoint *open_checkpoint(RtAotCtx *c, const char *path, int *rc) {
  struct stat st;
  FILE *f = fopen(path, "rb");
  if (!f) {
    *rc = fail(c, RT_AOT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  fclose(f);
  if (!regular) {
    *rc = fail(c, RT_AOT_ERR_IO, "%s: not a regular file", path);
    return NULL;
  }
  RtError e = {{0}};
  RtCheckpoint *ck = rt_safetensors_load(path, &e);
  if (!ck) *rc = fail(c, load_error_code(e.msg), "%s", e.msg);
  return ck;
}

/* Checks tensor r (NULL: absent) against param i. */
static int check_loaded(RtAotCtx *c, const char *path, const RtTensorRef *r, int i) {
  const RtAotTensor *t = &c->m->params[i].t;
  char type[256], have[200];
  type_text(type, sizeof type, t);
  if (!r)
    return c->m->params[i].state ? RT_AOT_OK
                                 : fail(c, RT_AOT_ERR_NAME, "%s: no tensor '%s' (the model's "
                                        "param is %s)", path, t->name, type);
  if (r->dtype != t->dtype)
    return fail(c, RT_AOT_ERR_SHAPE, "%s: tensor '%s' is %s; the model's param is %s", path,
                t->name, rt_dtype_name(r->dtype), type);
  bool same = r->rank == t->rank;
  for (int k = 0; same && k < r->rank; k++) same = r->dims[k] == t->dims[k];
  if (same) return RT_AOT_OK;
  rt_dims_format(have, sizeof have, r->rank, r->dims);
  return fail(c, RT_AOT_ERR_SHAPE, "%s: tensor '%s' has shape %s; the model's param is %s",
              path, t->name, have, type);
}

/* The "step" metadata (0 when absent); false with the error set when bad. */
static bool loaded_step(RtAotCtx *c, const char *path, const RtCheckpoint *ck, int64_t *step,
                        int *rc) {
  const char *v = rt_checkpoint_meta(ck, "step");
  *step = 0;
  if (!v) return true;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (*v >= '0' && *v <= '9' && !*end && !errno && n <= (unsigned long long)INT64_MAX)
    return *step = (int64_t)n, true;
  *rc = fail(c, RT_AOT_ERR_FORMAT, "%s: metadata 'step' is '%s', not a whole number", path, v);
  return false;
}

int rt_aot_load(RtAotCtx *c, const char *path) {
  if (!enter(c, "load")) return RT_AOT_ERR_ARG;
  const RtAotModel *m = c->m;
  if (!path) return leave(c, fail(c, RT_AOT_ERR_ARG, "load: the path is NULL"));
  int rc = RT_AOT_OK;
  int64_t step;
  RtCheckpoint *ck = open_checkpoint(c, path, &rc);
  if (!ck || !loaded_step(c, path, ck, &step, &rc)) {
    rt_checkpoint_free(ck);
    return leave(c, rc);
  }
  for (int i = 0; !rc && i < m->nparams; i++)
    rc = check_loaded(c, path, rt_checkpoint_find(ck, m->params[i].t.name), i);
  bool any_state = false, has_state = false;
  for (int i = 0; !rc && i < m->nparams; i++) {
    const RtTensorRef *r = rt_checkpoint_find(ck, m->params[i].t.name);
    int64_t bytes = param_bytes(&m->params[i]);
    has_state |= m->params[i].state != 0;
    any_state |= r && m->params[i].state;
    if (r) memcpy(c->params[i], r->data, (size_t)bytes);
    else memset(c->params[i], 0, (size_t)bytes);
  }
  /* The step count belongs to the optimizer state: without any, training restarts. */
  if (!rc) c->steps = has_state && !any_state ? 0 : step;
  rt_checkpoint_free(ck);
  return leave(c, rc);
}
