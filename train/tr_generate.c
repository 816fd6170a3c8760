/* tr_generate.c -- sampling text from a character-level model (such as
   examples/gpt.model): the model's logits alone, compiled at batch 1 in
   eval mode, run once per generated character over a sliding context
   window; the next character is drawn from softmax(logits / temperature)
   at the last filled position by a counter-based RNG, so a seed fixes the
   text. `modelc generate` and the REPL's `generate` drive it through tr.h;
   docs/train.md, "Sampling", is the user's view. */
#include "tr.h"
#include "tr_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cg.h"
#include "rt.h"

#define NAMES_SHOWN 8     /* names listed in a note; the rest are counted */
#define RNG_STREAM "generate"

static const McLoc noloc = {0};

struct TrGenerator {
  McDiag *d;
  IrGraph *g;         /* logits only, batch 1, eval mode, after the forward pipeline */
  CgProgram *cg;
  int nslots, nsources; /* slots: inputs and params, then the logits */
  void **bufs;        /* per slot, its host buffer (heap) */
  bool *filled;       /* per source slot: a param given a value by load or take_params */
  int tokens_slot;    /* the token ids, i32[1, T] */
  int logits_slot;    /* f32 or f64 [1, T, RT_CHAR_VOCAB] */
  const char *tokens; /* the token input's name (g's arena) */
  int64_t context;    /* T */
};

/* ---- small helpers ---------------------------------------------------------- */

static int64_t node_bytes(const IrNode *n) {
  return ir_shape_numel(&n->shape) * (int64_t)tr_dtype_bytes((IrDtype)n->dtype);
}

/* A zeroed buffer for n bytes, aligned for vector loads. */
static void *alloc_buffer(int64_t n) {
  size_t size = ((size_t)(n > 0 ? n : 1) + 63) / 64 * 64;
  void *p = aligned_alloc(64, size);
  if (!p) mc_assert_fail("out of memory", __FILE__, __LINE__);
  memset(p, 0, size);
  return p;
}

/* "[1,64,96]" of a node's shape values. */
static void dims_text(char *buf, size_t cap, const IrShape *s) {
  int64_t dims[IR_MAX_RANK];
  for (int i = 0; i < s->rank; i++) dims[i] = s->d[i].n;
  rt_dims_format(buf, cap, s->rank, dims);
}

/* "f32[B,T,V] [16,64,100]": the type as written and its values. */
static const char *type_text(const IrGraph *g, const IrNode *n, char *buf, size_t cap) {
  char dims[160];
  dims_text(dims, sizeof dims, &n->shape);
  snprintf(buf, cap, "%s (%s)", ir_type_str(g, (IrDtype)n->dtype, &n->shape), dims);
  return buf;
}

static const IrNode *slot_node(const TrGenerator *gen, int i) {
  return ir_node(gen->g, cg_program_slot_node(gen->cg, i));
}

/* The index of the single named dim of d (factor 1), or -1. */
static int single_sym(IrDim d) {
  if (d.k != 1 || d.syms == 0 || (d.syms & (d.syms - 1)) != 0) return -1;
  int i = 0;
  while (!(d.syms & (1u << i))) i++;
  return i;
}

_Static_assert(RT_CHAR_VOCAB == 96, "the messages below say 96");

/* What every "not a char model" error ends with. */
#define NEEDS                                                                                      \
  "generate needs a character-level model: one i32 input [B, T] of token ids and a float "       \
  "output [B, T, 96] of logits (96 = newline and printable ASCII)"

/* ---- compiling ---------------------------------------------------------------- */

/* The source with the -D defines, plus dim = value when dim is not NULL,
   in eval mode. */
static IrGraph *compile_model(TrGenerator *gen, const TrConfig *c, McSources *src,
                              const char *dim, int64_t value) {
  FeDefine *defs = mc_xcalloc((size_t)c->ndefines + 1, sizeof *defs);
  int n = 0;
  for (int i = 0; i < c->ndefines; i++)
    if (!dim || strcmp(c->defines[i].name, dim) != 0) defs[n++] = c->defines[i];
  if (dim) defs[n++] = (FeDefine){dim, value};
  FeOptions fo = {.defines = defs, .ndefines = n, .mode = FE_MODE_EVAL};
  IrGraph *g = fe_compile_string(c->file, c->text, &fo, src, gen->d);
  free(defs);
  if (g && !ir_verify(g, gen->d)) {
    ir_graph_free(g);
    g = NULL;
  }
  if (!g && !mc_diag_has_errors(gen->d)) mc_error(gen->d, noloc, "cannot compile '%s'", c->file);
  return g;
}

/* The output generate reads: the first output named `logits`, else the
   first float output of shape [B, T, RT_CHAR_VOCAB]. -1 after reporting. */
static int find_logits(TrGenerator *gen, const IrGraph *g) {
  int k = -1;
  for (uint32_t i = 0; k < 0 && i < g->nouts; i++)
    if (g->outs[i].kind == IR_OUT_OUTPUT && strcmp(g->outs[i].name, "logits") == 0) k = (int)i;
  for (uint32_t i = 0; k < 0 && i < g->nouts; i++) {
    const IrNode *n = ir_node(g, g->outs[i].ref);
    if (g->outs[i].kind == IR_OUT_OUTPUT && ir_dtype_is_float((IrDtype)n->dtype) &&
        n->shape.rank == 3 && n->shape.d[2].n == RT_CHAR_VOCAB)
      k = (int)i;
  }
  if (k < 0) {
    mc_error(gen->d, noloc, "generate: model '%s' has no output 'logits' and no float output "
             "of shape [B, T, %d]; " NEEDS, g->name, RT_CHAR_VOCAB);
    return -1;
  }
  const IrNode *n = ir_node(g, g->outs[k].ref);
  if (!ir_dtype_is_float((IrDtype)n->dtype) || n->shape.rank != 3 ||
      n->shape.d[2].n != RT_CHAR_VOCAB) {
    char t[256];
    mc_error(gen->d, noloc, "generate: output '%s' of model '%s' is %s; " NEEDS,
             g->outs[k].name, g->name, type_text(g, n, t, sizeof t));
    return -1;
  }
  return k;
}

/* Keeps only output k and runs the forward pipeline, dropping the inputs
   the logits do not read. */
static bool keep_logits(TrGenerator *gen, IrGraph **g, int k) {
  (*g)->outs[0] = (*g)->outs[k];
  (*g)->nouts = 1;
  PassCtx cx = {.diag = gen->d, .drop_unused_inputs = true};
  return pass_run_pipeline(g, PASS_PIPELINE_FORWARD, &cx) && ir_verify(*g, gen->d);
}

/* The token input of the pruned graph g: its only i32 input, of shape
   [B, T] like the logits' first two dims. IR_NONE after reporting. */
static IrRef find_tokens(TrGenerator *gen, const IrGraph *g) {
  const IrNode *logits = ir_node(g, g->outs[0].ref);
  const char *lname = g->outs[0].name;
  IrRef tok = IR_NONE;
  for (IrRef r = 0; r < g->nnodes; r++) {
    const IrNode *n = ir_node(g, r);
    if (n->op != IR_OP_INPUT || n->dtype != IR_I32) continue;
    if (tok != IR_NONE) {
      mc_error(gen->d, n->loc, "generate: output '%s' reads two i32 inputs, '%s' and '%s'; "
               NEEDS, lname, ir_node(g, tok)->name, n->name);
      return IR_NONE;
    }
    tok = r;
  }
  if (tok == IR_NONE) {
    mc_error(gen->d, noloc, "generate: output '%s' of model '%s' reads no i32 input; " NEEDS,
             lname, g->name);
    return IR_NONE;
  }
  const IrNode *n = ir_node(g, tok);
  if (n->shape.rank != 2 || n->shape.d[0].n != logits->shape.d[0].n ||
      n->shape.d[1].n != logits->shape.d[1].n) {
    char a[256], b[256];
    mc_error(gen->d, n->loc, "generate: input '%s' is %s but output '%s' is %s; " NEEDS,
             n->name, type_text(g, n, a, sizeof a), lname, type_text(g, logits, b, sizeof b));
    return IR_NONE;
  }
  int64_t bound = ir_int_input_bound(g, tok);
  if (bound > 0 && bound < RT_CHAR_VOCAB) {
    mc_error(gen->d, n->loc, "generate: input '%s' takes ids below %lld, but the character "
             "vocabulary has %d; " NEEDS, n->name, (long long)bound, RT_CHAR_VOCAB);
    return IR_NONE;
  }
  return tok;
}

/* The pruned, checked graph; at batch 1 when the batch is a named dim
   (recompiled with it bound to 1) or already 1. */
static IrGraph *build_graph(TrGenerator *gen, const TrConfig *c, McSources *src) {
  const char *dim = NULL;
  char *dim_name = NULL;
  for (int pass = 0; pass < 2; pass++) {
    IrGraph *g = compile_model(gen, c, src, dim, 1);
    int k = g ? find_logits(gen, g) : -1;
    IrRef tok = k >= 0 && keep_logits(gen, &g, k) ? find_tokens(gen, g) : IR_NONE;
    if (tok == IR_NONE) {
      if (g) ir_graph_free(g);
      free(dim_name);
      return NULL;
    }
    const IrNode *n = ir_node(g, tok);
    IrDim b = n->shape.d[0];
    if (b.n == 1) {
      free(dim_name);
      return g;
    }
    int sym = single_sym(b);
    if (pass == 1 || sym < 0) {
      char t[256];
      mc_error(gen->d, n->loc, "generate: input '%s' is %s: generate runs at batch 1 and its "
               "first dim is not a named dim to bind to 1 (write it as `B = batch(16)`, or "
               "-D it to 1)", n->name, type_text(g, n, t, sizeof t));
      ir_graph_free(g);
      free(dim_name);
      return NULL;
    }
    dim = dim_name = mc_xstrdup(g->syms[sym].name);
    ir_graph_free(g);
  }
  MC_UNREACHABLE();
}

/* Params from their initializers (seed 0), as a fresh training run's. */
static void init_params(TrGenerator *gen) {
  for (int i = 0; i < gen->nsources; i++) {
    const IrNode *n = slot_node(gen, i);
    if (n->op != IR_OP_PARAM || n->attr.init.kind == IR_INIT_NONE) continue;
    int64_t numel = ir_shape_numel(&n->shape);
    double *v = mc_xcalloc((size_t)(numel > 0 ? numel : 1), sizeof *v);
    ir_init_fill(gen->g, n, 0, v);
    for (int64_t k = 0; k < numel; k++) {
      void *b = gen->bufs[i];
      if (n->dtype == IR_F32) ((float *)b)[k] = (float)v[k];
      else if (n->dtype == IR_F64) ((double *)b)[k] = v[k];
      else if (n->dtype == IR_I32) ((int32_t *)b)[k] = (int32_t)v[k];
      else ((uint8_t *)b)[k] = v[k] != 0;
    }
    free(v);
  }
}

TrGenerator *tr_generator_new(McSources *src, McDiag *d, const TrConfig *c) {
  TrGenerator *gen = mc_xcalloc(1, sizeof *gen);
  gen->d = d;
  gen->g = build_graph(gen, c, src);
  if (gen->g) {
    CgOptions o = cg_options_default();
    o.threads = c->threads;
    o.stable_params = true; /* packed once per tr_generate call: see there */
    gen->cg = cg_jit_compile(gen->g, &o, d);
  }
  if (!gen->cg) {
    tr_generator_free(gen);
    return NULL;
  }
  gen->nslots = cg_program_nslots(gen->cg);
  gen->nsources = gen->nslots - (int)gen->g->nouts;
  gen->bufs = mc_xcalloc((size_t)gen->nslots + 1, sizeof *gen->bufs);
  gen->filled = mc_xcalloc((size_t)gen->nslots + 1, sizeof *gen->filled);
  gen->tokens_slot = gen->logits_slot = -1;
  for (int i = 0; i < gen->nslots; i++) {
    const IrNode *n = slot_node(gen, i);
    gen->bufs[i] = alloc_buffer(node_bytes(n));
    if (i < gen->nsources && n->op == IR_OP_INPUT && n->dtype == IR_I32) {
      gen->tokens_slot = i;
      gen->tokens = n->name;
      gen->context = n->shape.d[1].n;
    }
  }
  gen->logits_slot = cg_program_output_slot(gen->cg, 0);
  if (gen->tokens_slot < 0) { /* the logits read the input, so codegen gave it a slot */
    mc_error(d, noloc, "generate: internal error: the token input has no slot");
    tr_generator_free(gen);
    return NULL;
  }
  init_params(gen);
  return gen;
}

void tr_generator_free(TrGenerator *gen) {
  if (!gen) return;
  for (int i = 0; gen->bufs && i < gen->nslots; i++) free(gen->bufs[i]);
  free(gen->bufs);
  free(gen->filled);
  if (gen->cg) cg_program_free(gen->cg);
  if (gen->g) ir_graph_free(gen->g);
  free(gen);
}

int64_t tr_generator_context(const TrGenerator *gen) { return gen->context; }

/* ---- params ------------------------------------------------------------------- */

/* A ", "-separated list of names for a note. */
typedef struct NameList {
  McStr text;
  int n;
} NameList;

static void names_add(NameList *l, const char *name) {
  if (l->n++ < NAMES_SHOWN) mc_str_printf(&l->text, "%s%s", l->n > 1 ? ", " : "", name);
}

static const char *names_text(NameList *l) {
  if (l->n > NAMES_SHOWN) mc_str_printf(&l->text, " and %d more", l->n - NAMES_SHOWN);
  return l->text.s ? l->text.s : "";
}

/* The source slot of param `name`; -1 when the program has none. */
static int param_slot(const TrGenerator *gen, const char *name) {
  for (int i = 0; i < gen->nsources; i++) {
    const IrNode *n = slot_node(gen, i);
    if (n->op == IR_OP_PARAM && strcmp(n->name, name) == 0) return i;
  }
  return -1;
}

/* Optimizer state of a param ("P.exp_avg", ...): expected in a training
   checkpoint, not worth a note. */
static bool is_optimizer_state(const TrGenerator *gen, const char *name) {
  static const char *const suffixes[] = {".exp_avg", ".exp_avg_sq", ".momentum_buffer"};
  for (size_t k = 0; k < MC_COUNTOF(suffixes); k++) {
    size_t n = strlen(name), m = strlen(suffixes[k]);
    if (n <= m || strcmp(name + n - m, suffixes[k]) != 0) continue;
    char *param = mc_xstrdup(name);
    param[n - m] = 0;
    bool found = param_slot(gen, param) >= 0;
    free(param);
    if (found) return true;
  }
  return false;
}

/* Checks a tensor against param n: the wording of tr_trainer_init_from. */
static bool check_tensor(TrGenerator *gen, const char *path, const RtTensorRef *r,
                         const IrNode *n) {
  const char *type = ir_type_str(gen->g, (IrDtype)n->dtype, &n->shape);
  if (r->dtype != tr_rt_dtype((IrDtype)n->dtype)) {
    mc_error(gen->d, noloc, "%s: tensor '%s' is %s; the model's param is %s", path, n->name,
             rt_dtype_name(r->dtype), type);
    return false;
  }
  bool same = r->rank == n->shape.rank;
  for (int k = 0; same && k < r->rank; k++) same = r->dims[k] == n->shape.d[k].n;
  if (same) return true;
  char have[160], want[160];
  rt_dims_format(have, sizeof have, r->rank, r->dims);
  dims_text(want, sizeof want, &n->shape);
  mc_error(gen->d, noloc, "%s: tensor '%s' has shape %s; the model's param has %s (%s)", path,
           n->name, have, want, type);
  return false;
}

bool tr_generator_load(TrGenerator *gen, const char *path) {
  RtError e = {{0}};
  RtCheckpoint *c = rt_safetensors_load(path, &e);
  if (!c) {
    mc_error(gen->d, noloc, "%s", e.msg);
    return false;
  }
  int nparams = 0, nfilled = 0;
  NameList left = {0}, unused = {0};
  mc_str_init(&left.text);
  mc_str_init(&unused.text);
  bool ok = true;
  for (int i = 0; ok && i < gen->nsources; i++) {
    const IrNode *n = slot_node(gen, i);
    if (n->op != IR_OP_PARAM) continue;
    nparams++;
    const RtTensorRef *r = rt_checkpoint_find(c, n->name);
    if (!r) {
      names_add(&left, n->name);
    } else if ((ok = check_tensor(gen, path, r, n))) {
      memcpy(gen->bufs[i], r->data, (size_t)node_bytes(n));
      gen->filled[i] = true;
      nfilled++;
    }
  }
  for (size_t k = 0; ok && k < c->ntensors; k++) {
    const char *name = c->tensors[k].name;
    if (param_slot(gen, name) < 0 && !is_optimizer_state(gen, name)) names_add(&unused, name);
  }
  if (ok && nfilled == 0 && nparams > 0) {
    mc_error(gen->d, noloc, "%s: no tensor is named like a param of model '%s' (its params: "
             "%s)", path, gen->g->name, names_text(&left));
    ok = false;
  }
  if (ok && left.n)
    mc_note(gen->d, noloc, "%s: loaded %d of %d params; left at their initializers: %s", path,
            nfilled, nparams, names_text(&left));
  if (ok && unused.n)
    mc_note(gen->d, noloc, "%s: not used (model '%s' has no param of that name): %s", path,
            gen->g->name, names_text(&unused));
  mc_str_free(&left.text);
  mc_str_free(&unused.text);
  rt_checkpoint_free(c);
  return ok;
}

bool tr_generator_take_params(TrGenerator *gen, TrTrainer *t) {
  NameList left = {0};
  mc_str_init(&left.text);
  int nparams = 0, nfilled = 0;
  bool ok = true;
  for (int i = 0; ok && i < gen->nsources; i++) {
    const IrNode *n = slot_node(gen, i);
    if (n->op != IR_OP_PARAM) continue;
    nparams++;
    const IrNode *m = NULL;
    void *data = NULL;
    for (int k = 0; !m && k < tr_trainer_nslots(t); k++) {
      m = tr_trainer_param(t, k, &data);
      if (m && strcmp(m->name, n->name) != 0) m = NULL;
    }
    if (!m) {
      names_add(&left, n->name);
      continue;
    }
    bool same = m->dtype == n->dtype && m->shape.rank == n->shape.rank;
    for (int a = 0; same && a < n->shape.rank; a++) same = m->shape.d[a].n == n->shape.d[a].n;
    if (!same) {
      char have[160], want[160];
      dims_text(have, sizeof have, &m->shape);
      dims_text(want, sizeof want, &n->shape);
      mc_error(gen->d, noloc, "generate: the session's param '%s' is %s %s; the model's param "
               "is %s %s", n->name, ir_dtype_name((IrDtype)m->dtype), have,
               ir_dtype_name((IrDtype)n->dtype), want);
      ok = false;
      break;
    }
    memcpy(gen->bufs[i], data, (size_t)node_bytes(n));
    gen->filled[i] = true;
    nfilled++;
  }
  if (ok && left.n)
    mc_note(gen->d, noloc, "generate: took %d of %d params from the session; left at their "
            "initializers: %s", nfilled, nparams, names_text(&left));
  mc_str_free(&left.text);
  return ok;
}

/* ---- sampling ------------------------------------------------------------------- */

TrSample tr_sample_defaults(void) {
  return (TrSample){.prompt = "", .tokens = 200, .temperature = 1.0, .top_k = 0, .seed = 0,
                    .out = stdout, .summary = stderr, .stop = NULL};
}

/* One logit and its id, for ordering by value (ties: the lower id first). */
typedef struct Scored {
  double v;
  int32_t id;
} Scored;

static int by_value_desc(const void *a, const void *b) {
  const Scored *x = a, *y = b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* The next id from logits[0..V): the first maximum at temperature 0, else
   a draw (u in [0, 1)) from softmax(logits / temperature) over the top_k
   largest (all when top_k is 0 or >= V). */
static int32_t pick(const double *logits, double temperature, int64_t top_k, double u) {
  Scored s[RT_CHAR_VOCAB];
  for (int32_t i = 0; i < RT_CHAR_VOCAB; i++) s[i] = (Scored){logits[i], i};
  qsort(s, RT_CHAR_VOCAB, sizeof *s, by_value_desc);
  if (temperature == 0) return s[0].id;
  int64_t k = top_k > 0 && top_k < RT_CHAR_VOCAB ? top_k : RT_CHAR_VOCAB;
  double p[RT_CHAR_VOCAB], total = 0;
  for (int64_t i = 0; i < k; i++) total += p[i] = exp((s[i].v - s[0].v) / temperature);
  double target = u * total, sum = 0;
  for (int64_t i = 0; i < k; i++) {
    sum += p[i];
    if (target < sum) return s[i].id;
  }
  return s[k - 1].id; /* rounding left target at the total */
}

/* "'x'" for a printable byte, else "0xNN". */
static void byte_text(char *buf, size_t cap, unsigned char c) {
  if (c >= ' ' && c <= '~') snprintf(buf, cap, "'%c'", c);
  else snprintf(buf, cap, "0x%02x", c);
}

/* The prompt as ids into ids[]; an empty prompt is one newline (id 0).
   *n = the ids written. False after reporting a byte without an id. */
static bool prompt_ids(TrGenerator *gen, const char *prompt, int32_t *ids, int64_t *n) {
  *n = 0;
  for (size_t i = 0; prompt[i]; i++) {
    unsigned char c = (unsigned char)prompt[i];
    int32_t id = rt_char_id(c);
    if (id < 0) {
      char b[16];
      byte_text(b, sizeof b, c);
      mc_error(gen->d, noloc, "generate: the prompt's character %s at position %zu has no id "
               "in the character vocabulary (newline, tab and printable ASCII ' '..'~')", b,
               i + 1);
      return false;
    }
    ids[(*n)++] = id;
  }
  if (*n == 0) ids[(*n)++] = 0;
  return true;
}

/* Every param has a value: loaded, taken or from an initializer. */
static bool params_ready(TrGenerator *gen) {
  for (int i = 0; i < gen->nsources; i++) {
    const IrNode *n = slot_node(gen, i);
    if (n->op == IR_OP_PARAM && n->attr.init.kind == IR_INIT_NONE && !gen->filled[i]) {
      mc_error(gen->d, n->loc, "generate: param '%s' has no initializer and no value was "
               "loaded for it", n->name);
      return false;
    }
  }
  return true;
}

static bool check_sample(TrGenerator *gen, const TrSample *s) {
  if (s->tokens <= 0) {
    mc_error(gen->d, noloc, "generate: the number of tokens must be positive, got %lld",
             (long long)s->tokens);
    return false;
  }
  if (!isfinite(s->temperature) || s->temperature < 0) {
    mc_error(gen->d, noloc, "generate: the temperature must be a number >= 0, got %g",
             s->temperature);
    return false;
  }
  if (s->top_k < 0) {
    mc_error(gen->d, noloc, "generate: top-k must be >= 0, got %lld", (long long)s->top_k);
    return false;
  }
  return true;
}

/* Runs the program on the last min(n, T) ids of ids[0..n) and copies the
   logits at the last filled position into row[]. */
static bool next_logits(TrGenerator *gen, const int32_t *ids, int64_t n, double *row) {
  int64_t m = n < gen->context ? n : gen->context;
  int32_t *tok = gen->bufs[gen->tokens_slot];
  memset(tok, 0, (size_t)gen->context * sizeof *tok);
  memcpy(tok, ids + n - m, (size_t)m * sizeof *tok);
  if (!cg_program_run(gen->cg, gen->bufs, gen->d)) {
    if (!mc_diag_has_errors(gen->d))
      mc_error(gen->d, noloc, "generate: the compiled program failed");
    return false;
  }
  const IrNode *ln = slot_node(gen, gen->logits_slot);
  const void *buf = gen->bufs[gen->logits_slot];
  int64_t at = (m - 1) * RT_CHAR_VOCAB;
  for (int64_t i = 0; i < RT_CHAR_VOCAB; i++) {
    row[i] = ln->dtype == IR_F64 ? ((const double *)buf)[at + i] : ((const float *)buf)[at + i];
    if (!isfinite(row[i])) {
      mc_error(gen->d, noloc, "generate: the logit of id %lld at position %lld is %g",
               (long long)i, (long long)(m - 1), row[i]);
      return false;
    }
  }
  return true;
}

bool tr_generate(TrGenerator *gen, const TrSample *s) {
  if (!check_sample(gen, s) || !params_ready(gen)) return false;
  /* the params may have been loaded or taken since the last call; every
     token of this one runs on the same */
  cg_program_params_changed(gen->cg);
  size_t len = strlen(s->prompt);
  int32_t *ids = mc_xcalloc(len + (size_t)s->tokens + 2, sizeof *ids);
  int64_t n;
  if (!prompt_ids(gen, s->prompt, ids, &n)) {
    free(ids);
    return false;
  }
  FILE *out = s->out ? s->out : stdout;
  fputs(s->prompt, out);
  fflush(out);
  uint64_t stream = mc_hash_str(RNG_STREAM);
  double start = tr_now_seconds(), row[RT_CHAR_VOCAB];
  int64_t made = 0;
  bool ok = true;
  while (made < s->tokens && !(s->stop && *s->stop)) {
    if (!(ok = next_logits(gen, ids, n, row))) break;
    double u = mc_rng_uniform(s->seed, stream, (uint64_t)made);
    int32_t id = pick(row, s->temperature, s->top_k, u);
    ids[n++] = id;
    made++;
    fputc(rt_char_of(id), out);
    fflush(out);
  }
  fputc('\n', out);
  fflush(out);
  double secs = tr_now_seconds() - start;
  if (ok && s->summary) {
    fprintf(s->summary, "generated %lld tokens in %.2f s, %.1f tokens/s\n", (long long)made,
            secs, (double)made / fmax(secs, 1e-9));
    fflush(s->summary);
  }
  free(ids);
  return ok;
}
