/* cli_repl.c -- `modelc repl`: an interactive session over one model. It
   keeps the model source, -D dims, data bindings and training options, and
   drives a training session (cli_trainer.c), rebuilding it (keeping params
   whose names and shapes match) when the model or a structural option
   changes. Lines come from libedit on a terminal, else from stdin (script
   mode, echoed). Commands are in the table at the end; docs/repl.md. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cg.h"
#include "rt.h"

#define MAX_WORDS 32
#define PROMPT "modelc> "
#define PLOT_WIDTH 60
#define PLOT_HEIGHT 10
#define FULL_PRINT_LIMIT 64 /* tensors up to this many values print in full */

/* One word of the typed line and where it starts (1-based column). */
typedef struct Word {
  char *s;
  uint32_t col, len;
} Word;

/* The typed line split into words; file = its source id for carets. */
typedef struct Line {
  Word w[MAX_WORDS];
  int n;
  uint32_t file;
} Line;

typedef struct Repl {
  CliSession s;
  char *path;          /* the model file (heap); NULL = none loaded */
  char *text;          /* its source as last (re)loaded (heap) */
  McVec defines;       /* of FeDefine, names heap */
  McVec data, eval;    /* of char *: NAME=PATH[,K=V] arguments (heap) */
  TrConfig tc;   /* options; file/text/defines set at build time */
  TrTrainer *t;       /* NULL until a model is loaded */
  bool data_ready;     /* t has loaded the current data bindings */
  bool data_stale;     /* seed, limit or holdout changed: t needs rebuilding first */
  McVec losses;        /* of double: loss of every step trained this session */
  int64_t losses_seen; /* of t's losses, already copied */
  const Line *line;    /* the line being run, for carets */
  const char *input;   /* what diagnostics call the typed lines: "<repl>", a script's path */
  uint32_t lineno;     /* lines read so far: the number of the line being run */
  char *failed_load;   /* the file of the last load that failed while none was loaded (heap) */
  FeMode mode;         /* the mode expressions compile in (`mode`); train by default */
} Repl;

typedef struct ReplCommand {
  const char *name, *args, *summary, *help;
  bool (*run)(Repl *r, const Line *l);
} ReplCommand;

static const ReplCommand commands[];
static const int ncommands;
static volatile sig_atomic_t interrupted;
static Repl *completion_repl; /* for the libedit completion callback */

/* ---- diagnostics at the typed text ------------------------------------------- */

/* Lines are registered one by one (mc_sources_add_at gives their number),
   so a location inside a line is always on its line 1. */
static McLoc word_loc(const Line *l, int i) {
  if (!l || i < 0 || i >= l->n) return (McLoc){0};
  return (McLoc){.file = l->file, .line = 1, .col = l->w[i].col, .len = l->w[i].len};
}

static McLoc span(uint32_t file, uint32_t col, uint32_t len) {
  return (McLoc){.file = file, .line = 1, .col = col, .len = len ? len : 1};
}

static bool fail_at(Repl *r, int word, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reports an error under word `word` of the line being run; returns false. */
static bool fail_at(Repl *r, int word, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mc_diag_vreport(&r->s.diag, MC_DIAG_ERROR, word_loc(r->line, word), fmt, ap);
  va_end(ap);
  return false;
}

/* ---- splitting a line ---------------------------------------------------------- */

/* Splits text (modified in place) into words; quotes group, as in a shell,
   and '#' at the start of a word begins a comment. */
static bool split_line(Repl *r, char *text, Line *l) {
  l->n = 0;
  char *p = text, *base = text;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') break;
    if (l->n == MAX_WORDS) {
      mc_error(&r->s.diag, span(l->file, (uint32_t)(p - base) + 1, 1),
               "too many words (at most %d)", MAX_WORDS);
      return false;
    }
    Word *w = &l->w[l->n++];
    w->col = (uint32_t)(p - base) + 1;
    char *out = p, *start = p;
    w->s = p;
    while (*p && *p != ' ' && *p != '\t') {
      if (*p == '\'' || *p == '"') {
        char q = *p++;
        while (*p && *p != q) *out++ = *p++;
        if (!*p) {
          mc_error(&r->s.diag, span(l->file, w->col, (uint32_t)(p - start)),
                   "unterminated quote");
          return false;
        }
        p++;
      } else {
        *out++ = *p++;
      }
    }
    w->len = (uint32_t)(p - start);
    bool last = !*p;
    *out = 0;
    if (last) break;
    p++;
  }
  return true;
}

/* ---- the model and the trainer ------------------------------------------------- */

static void free_strings(McVec *v) {
  for (size_t i = 0; i < v->len; i++) free(MC_VEC_AT(v, char *, i));
  v->len = 0;
}

/* Copies every param (and optimizer state) tensor of `from` whose name,
   dtype and shape match one of `to`; returns how many. */
static int keep_params(TrTrainer *to, TrTrainer *from, int *total) {
  int kept = 0;
  *total = 0;
  for (int i = 0; i < tr_trainer_nslots(to); i++) {
    void *dst, *src;
    const IrNode *n = tr_trainer_param(to, i, &dst);
    if (!n) continue;
    ++*total;
    for (int k = 0; from && k < tr_trainer_nslots(from); k++) {
      const IrNode *m = tr_trainer_param(from, k, &src);
      if (!m || strcmp(m->name, n->name) != 0 || m->dtype != n->dtype ||
          m->shape.rank != n->shape.rank)
        continue;
      bool same = true;
      for (int a = 0; a < n->shape.rank; a++) same &= m->shape.d[a].n == n->shape.d[a].n;
      if (!same) continue;
      size_t bytes = (size_t)ir_shape_numel(&n->shape) * (n->dtype == IR_F64 ? 8
                                                           : n->dtype == IR_BOOL ? 1 : 4);
      memcpy(dst, src, bytes);
      kept++;
      break;
    }
  }
  return kept;
}

/* Copies the losses of t's new steps into the session history. */
static void collect_losses(Repl *r) {
  if (!r->t) return;
  int64_t n;
  const double *l = tr_trainer_losses(r->t, &n);
  for (int64_t i = r->losses_seen; i < n; i++) *(double *)mc_vec_push(&r->losses) = l[i];
  r->losses_seen = n;
}

/* Compiles the current source into a new trainer, keeping matching params
   of the old one. `why` says what changed ("" = nothing to say). */
static bool rebuild(Repl *r, const char *why) {
  if (!r->text) return fail_at(r, 0, "no model loaded (use 'load FILE')");
  r->tc.file = r->path;
  r->tc.text = r->text;
  r->tc.defines = r->defines.data;
  r->tc.ndefines = (int)r->defines.len;
  TrTrainer *t = tr_trainer_new(&r->s.src, &r->s.diag, &r->tc);
  if (!t) return false;
  collect_losses(r);
  int total, kept = keep_params(t, r->t, &total);
  if (r->t && *why) printf("%s: kept %d of %d param tensors\n", why, kept, total);
  tr_trainer_free(r->t);
  r->t = t;
  r->losses_seen = 0;
  r->data_ready = false;
  return true;
}

static bool need_model(Repl *r) {
  if (r->t) return true;
  if (r->failed_load)
    return fail_at(r, 0, "no model loaded: loading '%s' failed (fix it, then 'load' it again)",
                   r->failed_load);
  return fail_at(r, 0, "no model loaded (use 'load FILE')");
}

/* The trainer with the current data loaded (rebuilt when data changed). */
static bool need_data(Repl *r) {
  if (!need_model(r)) return false;
  if (r->data_ready) return true;
  if (r->data_stale && !rebuild(r, "")) return false;
  r->data_stale = false;
  for (size_t i = 0; i < r->data.len; i++)
    if (!tr_trainer_add_data(r->t, MC_VEC_AT(&r->data, char *, i), false)) return false;
  for (size_t i = 0; i < r->eval.len; i++)
    if (!tr_trainer_add_data(r->t, MC_VEC_AT(&r->eval, char *, i), true)) return false;
  if (!tr_trainer_load_data(r->t)) {
    rebuild(r, ""); /* a trainer whose load failed takes no other data */
    return false;
  }
  r->data_ready = true;
  return true;
}

/* Data changed: the next run loads it into a fresh trainer. */
static void data_changed(Repl *r) {
  /* load_data runs once per trainer: a new one takes the params over */
  if (r->data_ready) rebuild(r, "");
  r->data_ready = false;
  r->data_stale = true; /* the trainer copies seed, limit and holdout when built */
}

/* ---- values and tensors ----------------------------------------------------------- */

static double value_at(const IrNode *n, const void *data, int64_t i) {
  switch ((IrDtype)n->dtype) {
  case IR_F32: return ((const float *)data)[i];
  case IR_F64: return ((const double *)data)[i];
  case IR_I32: return ((const int32_t *)data)[i];
  case IR_BOOL: return ((const uint8_t *)data)[i];
  case IR_DTYPE_COUNT: break;
  }
  MC_UNREACHABLE();
}

static double l2_norm(const IrNode *n, const void *data) {
  double s = 0;
  int64_t numel = ir_shape_numel(&n->shape);
  for (int64_t i = 0; i < numel; i++) s += value_at(n, data, i) * value_at(n, data, i);
  return sqrt(s);
}

/* Floats as torch prints them: 4 decimals, scientific when that would hide
   the value (|v| < 1e-3 or >= 1e5). */
static void print_value(const IrNode *n, double v) {
  if (!ir_dtype_is_float((IrDtype)n->dtype)) printf("%lld", (long long)v);
  else if (v != 0 && isfinite(v) && (fabs(v) < 1e-3 || fabs(v) >= 1e5)) printf("%.4e", v);
  else printf("%.4f", v);
}

/* Nested brackets, one row per line, as torch prints a small tensor. */
static void print_nested(const IrNode *n, const void *data, int axis, int64_t *at, int indent) {
  int rank = n->shape.rank;
  putchar('[');
  int64_t len = n->shape.d[axis].n;
  for (int64_t i = 0; i < len; i++) {
    if (axis == rank - 1) {
      print_value(n, value_at(n, data, (*at)++));
      if (i + 1 < len) fputs(", ", stdout);
    } else {
      print_nested(n, data, axis + 1, at, indent + 1);
      if (i + 1 < len) printf(",\n%*s", indent + 1, "");
    }
  }
  putchar(']');
}

/* PyTorch-style: small tensors in full, large ones as type, a few values
   and statistics. */
static void print_tensor(const char *name, const IrNode *n, const void *data) {
  int64_t numel = ir_shape_numel(&n->shape);
  char dims[160];
  int64_t d[IR_MAX_RANK];
  for (int i = 0; i < n->shape.rank; i++) d[i] = n->shape.d[i].n;
  rt_dims_format(dims, sizeof dims, n->shape.rank, d);
  const char *dt = ir_dtype_name((IrDtype)n->dtype);
  if (n->shape.rank == 0) {
    printf("%s = ", name);
    print_value(n, value_at(n, data, 0));
    printf(" (%s)\n", dt);
    return;
  }
  if (numel <= FULL_PRINT_LIMIT) {
    printf("%s = tensor(", name);
    int64_t at = 0;
    print_nested(n, data, 0, &at, (int)strlen(name) + 10);
    printf(", %s%s)\n", dt, dims);
    return;
  }
  double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < numel; i++) {
    double v = value_at(n, data, i);
    sum += v, sq += v * v;
    lo = fmin(lo, v), hi = fmax(hi, v);
  }
  double mean = sum / (double)numel, var = fmax(sq / (double)numel - mean * mean, 0);
  printf("%s = tensor(%s%s, %lld values) [", name, dt, dims, (long long)numel);
  for (int64_t i = 0; i < 4; i++) {
    print_value(n, value_at(n, data, i));
    fputs(", ", stdout);
  }
  printf("...]\n  mean %.4g  std %.4g  min %.4g  max %.4g  norm %.4g\n", mean, sqrt(var), lo,
         hi, sqrt(sq));
}

/* The host buffer of param `name` in the trainer; NULL if none. */
static const IrNode *find_param(Repl *r, const char *name, void **data) {
  for (int i = 0; r->t && i < tr_trainer_nslots(r->t); i++) {
    const IrNode *n = tr_trainer_param(r->t, i, data);
    if (n && strcmp(n->name, name) == 0) return n;
  }
  return NULL;
}

/* ---- commands: model ------------------------------------------------------------------ */

static bool read_model(Repl *r, const char *path, int word) {
  size_t len;
  const char *err = NULL;
  char *text = mc_read_file(path, &len, &err);
  if (!text) {
    if (!r->t) free(r->failed_load), r->failed_load = mc_xstrdup(path);
    return fail_at(r, word, "cannot read '%s': %s", path, err ? err : "unknown error");
  }
  char *old_text = r->text, *old_path = r->path;
  r->text = text;
  r->path = mc_xstrdup(path);
  free(r->failed_load);
  r->failed_load = NULL;
  if (rebuild(r, old_path && strcmp(old_path, path) == 0 ? "reloaded" : "loaded")) {
    free(old_text);
    free(old_path);
    return true;
  }
  if (!r->t) r->failed_load = mc_xstrdup(path);
  free(r->text);
  free(r->path);
  r->text = old_text;
  r->path = old_path;
  return false;
}

static void print_summary(Repl *r) {
  const IrGraph *g = tr_trainer_forward(r->t);
  int nparams = 0;
  int64_t weights = 0;
  for (IrRef i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (n->op == IR_OP_PARAM) nparams++, weights += ir_shape_numel(&n->shape);
  }
  printf("model %s: %d params, %lld weights\n", g->name, nparams, (long long)weights);
}

static bool cmd_load(Repl *r, const Line *l) {
  if (l->n != 2) return fail_at(r, 0, "usage: load FILE");
  if (!read_model(r, l->w[1].s, 1)) return false;
  print_summary(r);
  return true;
}

static bool cmd_reload(Repl *r, const Line *l) {
  if (l->n != 1) return fail_at(r, 1, "usage: reload");
  if (!r->path) return fail_at(r, 0, "no model loaded (use 'load FILE')");
  char *path = mc_xstrdup(r->path);
  bool ok = read_model(r, path, 0);
  free(path);
  if (ok) print_summary(r);
  return ok;
}

static bool parse_int(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  *out = v;
  return *s && !*end && !errno;
}

static bool cmd_dim(Repl *r, const Line *l) {
  if (l->n != 2) return fail_at(r, 0, "usage: dim NAME=VALUE");
  char *eq = strchr(l->w[1].s, '=');
  int64_t v;
  if (!eq || eq == l->w[1].s || !parse_int(eq + 1, &v) || v <= 0)
    return fail_at(r, 1, "expected NAME=VALUE with a positive whole VALUE");
  *eq = 0;
  FeDefine *def = NULL;
  for (size_t i = 0; i < r->defines.len; i++)
    if (strcmp(MC_VEC_AT(&r->defines, FeDefine, i).name, l->w[1].s) == 0)
      def = &MC_VEC_AT(&r->defines, FeDefine, i);
  FeDefine old = {0};
  bool added = !def;
  if (added) {
    def = mc_vec_push(&r->defines);
    def->name = mc_xstrdup(l->w[1].s);
  }
  old = *def;
  def->value = v;
  if (!r->text) return true;
  if (rebuild(r, "recompiled")) return true;
  if (added) {
    free((char *)def->name);
    r->defines.len--;
  } else {
    *def = old;
  }
  return false;
}

static void print_node_list(const IrGraph *g, IrOp op, const char *what) {
  for (IrRef i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    if (n->op == op)
      printf("  %-6s %-16s %s\n", what, n->name, ir_type_str(g, n->dtype, &n->shape));
  }
}

static bool cmd_show(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n > 1) return fail_at(r, 1, "usage: show");
  const IrGraph *g = tr_trainer_forward(r->t);
  printf("model %s (%s)\n", g->name, r->path);
  print_node_list(g, IR_OP_INPUT, "input");
  for (uint32_t k = 0; k < g->nouts; k++) {
    const IrNode *n = ir_node(g, g->outs[k].ref);
    printf("  %-6s %-16s %s\n", g->outs[k].kind == IR_OUT_LOSS ? "loss" : "output",
           g->outs[k].name, ir_type_str(g, n->dtype, &n->shape));
  }
  int64_t total = 0;
  for (IrRef i = 0; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    void *data;
    if (n->op != IR_OP_PARAM) continue;
    const IrNode *p = find_param(r, n->name, &data);
    int64_t numel = ir_shape_numel(&n->shape);
    total += numel;
    printf("  %-6s %-16s %-16s %9lld  norm %.4f\n", "param", n->name,
           ir_type_str(g, n->dtype, &n->shape), (long long)numel, p ? l2_norm(p, data) : 0.0);
  }
  printf("  %lld weights; step %lld, epoch %lld\n", (long long)total,
         (long long)tr_trainer_step(r->t), (long long)tr_trainer_epoch(r->t));
  return true;
}

/* ---- commands: data ------------------------------------------------------------------------ */

static bool has_input(const IrGraph *g, const char *name) {
  for (IrRef i = 0; i < g->nnodes; i++)
    if (ir_node(g, i)->op == IR_OP_INPUT && strcmp(ir_node(g, i)->name, name) == 0) return true;
  return false;
}

static bool bind_data(Repl *r, const Line *l, McVec *list, const char *what) {
  if (l->n == 1) {
    if (!list->len) printf("no %s data\n", what);
    for (size_t i = 0; i < list->len; i++) printf("  %s\n", MC_VEC_AT(list, char *, i));
    return true;
  }
  if (l->n == 2 && strcmp(l->w[1].s, "clear") == 0) {
    free_strings(list);
    data_changed(r);
    return true;
  }
  for (int i = 1; i < l->n; i++) {
    RtDataArg a;
    RtError e = {{0}};
    if (!rt_data_arg_parse(l->w[i].s, &a, &e)) return fail_at(r, i, "%s", e.msg);
    if (r->t && !has_input(tr_trainer_forward(r->t), a.name))
      return fail_at(r, i, "model '%s' has no input '%s' (see 'show')",
                     tr_trainer_forward(r->t)->name, a.name);
  }
  for (int i = 1; i < l->n; i++) *(char **)mc_vec_push(list) = mc_xstrdup(l->w[i].s);
  data_changed(r);
  return true;
}

static bool cmd_data(Repl *r, const Line *l) { return bind_data(r, l, &r->data, "training"); }
static bool cmd_eval(Repl *r, const Line *l) { return bind_data(r, l, &r->eval, "evaluation"); }

/* ---- commands: options -------------------------------------------------------- */

static bool parse_number(const char *s, double *out) {
  char *end;
  *out = strtod(s, &end);
  return *s && !*end && isfinite(*out);
}

static void print_settings(const Repl *r) {
  const PassOptimHyper *h = &r->tc.hyper;
  printf("optimizer %s  lr %g", pass_optim_kind_name(r->tc.optim.kind), h->lr);
  if (r->tc.optim.kind == PASS_OPTIM_SGD)
    printf("  momentum %g%s", h->momentum, r->tc.optim.nesterov ? " (nesterov)" : "");
  else
    printf("  betas %g,%g  eps %g", h->beta1, h->beta2, h->eps);
  printf("  weight-decay %g", h->weight_decay);
  if (r->tc.optim.clip_grad_norm) printf("  clip-norm %g", h->max_norm);
  printf("\nbatch %lld  seed %llu  holdout %g  limit %lld  threads %d\n",
         (long long)r->tc.batch, (unsigned long long)r->tc.seed, r->tc.holdout,
         (long long)r->tc.limit, r->tc.threads);
}

static const char *const hyper_keys[] = {"lr", "momentum", "weight-decay", "eps", "beta1", "beta2"};

static bool is_hyper_key(const char *key) {
  for (size_t i = 0; i < MC_COUNTOF(hyper_keys); i++)
    if (strcmp(hyper_keys[i], key) == 0) return true;
  return false;
}

/* Run-time hyperparameters: given to the trainer without recompiling. */
static void set_hyper(Repl *r, const char *key, double v) {
  PassOptimHyper *h = &r->tc.hyper;
  if (strcmp(key, "lr") == 0) h->lr = v;
  else if (strcmp(key, "momentum") == 0) h->momentum = v;
  else if (strcmp(key, "weight-decay") == 0) h->weight_decay = v;
  else if (strcmp(key, "eps") == 0) h->eps = v;
  else if (strcmp(key, "beta1") == 0) h->beta1 = v;
  else h->beta2 = v;
  if (r->t) tr_trainer_set_hyper(r->t, h);
}

static const char *const set_keys[] = {"lr",     "momentum", "weight-decay", "eps",   "beta1",
                                       "beta2",  "optimizer", "nesterov",    "clip-norm",
                                       "batch",  "seed",     "holdout",      "limit", "threads"};

static bool set_structural(Repl *r, const char *key, const char *v) {
  double x;
  int64_t n;
  TrConfig saved = r->tc;
  if (strcmp(key, "optimizer") == 0) {
    PassOptimKind k;
    if (!pass_optim_kind_from_name(v, &k)) return fail_at(r, 2, "expected sgd, adam or adamw");
    r->tc.optim.kind = k;
    r->tc.hyper = pass_optim_defaults(k);
    if (k == PASS_OPTIM_SGD) r->tc.hyper.lr = 0.01;
  } else if (strcmp(key, "nesterov") == 0) {
    if (strcmp(v, "on") && strcmp(v, "off")) return fail_at(r, 2, "expected on or off");
    r->tc.optim.nesterov = strcmp(v, "on") == 0;
  } else if (strcmp(key, "clip-norm") == 0) {
    bool off = strcmp(v, "off") == 0;
    if (!off && (!parse_number(v, &x) || x <= 0))
      return fail_at(r, 2, "expected a number > 0 or off");
    r->tc.optim.clip_grad_norm = !off;
    if (!off) r->tc.hyper.max_norm = x;
  } else if (strcmp(key, "batch") == 0) {
    if (!parse_int(v, &n) || n <= 0) return fail_at(r, 2, "expected a positive whole number");
    r->tc.batch = n;
  } else if (strcmp(key, "threads") == 0) {
    if (!parse_int(v, &n) || n <= 0 || n > 1024) return fail_at(r, 2, "expected 1..1024");
    r->tc.threads = (int)n;
  } else if (strcmp(key, "seed") == 0 || strcmp(key, "limit") == 0) {
    if (!parse_int(v, &n) || n < 0) return fail_at(r, 2, "expected a whole number >= 0");
    if (key[0] == 's') r->tc.seed = (uint64_t)n, r->tc.seed_given = true;
    else r->tc.limit = n;
    data_changed(r);
    return true;
  } else if (strcmp(key, "holdout") == 0) {
    if (!parse_number(v, &x) || x < 0 || x >= 1)
      return fail_at(r, 2, "expected a number in [0, 1)");
    r->tc.holdout = x;
    data_changed(r);
    return true;
  } else {
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < MC_COUNTOF(set_keys); i++) {
      int d = mc_edit_distance(key, set_keys[i]);
      if (d < best_d) best_d = d, best = set_keys[i];
    }
    if (best) return fail_at(r, 1, "unknown setting '%s' (did you mean '%s'?)", key, best);
    return fail_at(r, 1, "unknown setting '%s' (see 'help set')", key);
  }
  if (!r->text || rebuild(r, "recompiled")) return true;
  r->tc = saved; /* the model keeps compiling as before */
  return false;
}

static bool cmd_set(Repl *r, const Line *l) {
  if (l->n == 1) {
    print_settings(r);
    return true;
  }
  if (l->n != 3) return fail_at(r, 0, "usage: set KEY VALUE");
  const char *key = l->w[1].s, *v = l->w[2].s;
  double x;
  if (is_hyper_key(key)) {
    bool lr = strcmp(key, "lr") == 0;
    if (!parse_number(v, &x) || x < 0 || (lr && x == 0))
      return fail_at(r, 2, "expected a number %s 0", lr ? ">" : ">=");
    if (key[0] == 'b' && x >= 1) return fail_at(r, 2, "expected a number in [0, 1)");
    set_hyper(r, key, x);
    printf("%s = %g (no recompilation)\n", key, x);
    return true;
  }
  return set_structural(r, key, v);
}

/* ---- commands: training ---------------------------------------------------------------------- */

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Ctrl-C stops training after the current step; at the prompt it is ignored. */
static void catch_sigint(bool on) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on ? on_sigint : SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}

static bool run_training(Repl *r, int64_t epochs, int64_t steps) {
  interrupted = 0;
  catch_sigint(true);
  TrStatus st = tr_trainer_run(r->t, epochs, steps);
  catch_sigint(false);
  collect_losses(r);
  if (st == TR_STOPPED)
    printf("interrupted after step %lld; params kept\n", (long long)tr_trainer_step(r->t));
  return st != TR_ERROR;
}

static bool cmd_train(Repl *r, const Line *l) {
  int64_t n = 1;
  bool steps = false;
  if (l->n > 3) return fail_at(r, 3, "usage: train [N] [steps|epochs]");
  if (l->n >= 2 && (!parse_int(l->w[1].s, &n) || n <= 0))
    return fail_at(r, 1, "expected a positive number of steps or epochs");
  if (l->n == 3) {
    const char *u = l->w[2].s;
    if (strcmp(u, "steps") == 0 || strcmp(u, "step") == 0) steps = true;
    else if (strcmp(u, "epochs") && strcmp(u, "epoch"))
      return fail_at(r, 2, "expected steps or epochs");
  }
  if (!need_data(r)) return false;
  if (steps) return run_training(r, 0, tr_trainer_step(r->t) + n);
  return run_training(r, tr_trainer_epoch(r->t) + n, 0);
}

static bool cmd_evaluate(Repl *r, const Line *l) {
  if (l->n > 1) return fail_at(r, 1, "usage: evaluate");
  return need_data(r) && tr_trainer_report(r->t);
}

static bool cmd_time(Repl *r, const Line *l) {
  if (l->n > 1) return fail_at(r, 1, "usage: time");
  if (!need_data(r)) return false;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  interrupted = 0;
  TrStatus st = tr_trainer_run(r->t, 0, tr_trainer_step(r->t) + 1);
  clock_gettime(CLOCK_MONOTONIC, &b);
  collect_losses(r);
  if (st == TR_ERROR) return false;
  double ms = ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9) * 1e3;
  printf("one training step: %.2f ms (params updated; now step %lld)\n", ms,
         (long long)tr_trainer_step(r->t));
  return true;
}

/* generate [PROMPT] [tokens=N] [temperature=T] [top-k=K] [seed=S]: samples
   text from the model, compiled at batch 1 in eval mode, with the
   session's params (tr_generate.c). A word KEY=VALUE with one of these
   keys is an option; the other word, if any, is the prompt. */
static bool cmd_generate(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  TrSample s = tr_sample_defaults();
  int prompt = 0;
  for (int i = 1; i < l->n; i++) {
    const char *w = l->w[i].s, *eq = strchr(w, '=');
    size_t klen = eq ? (size_t)(eq - w) : 0;
    int64_t n;
    double x;
    if (klen == 6 && !strncmp(w, "tokens", klen)) {
      if (!parse_int(eq + 1, &n) || n <= 0) return fail_at(r, i, "expected tokens=N, N > 0");
      s.tokens = n;
    } else if (klen == 11 && !strncmp(w, "temperature", klen)) {
      if (!parse_number(eq + 1, &x) || x < 0)
        return fail_at(r, i, "expected temperature=T, a number >= 0");
      s.temperature = x;
    } else if (klen == 5 && !strncmp(w, "top-k", klen)) {
      if (!parse_int(eq + 1, &n) || n <= 0) return fail_at(r, i, "expected top-k=K, K > 0");
      s.top_k = n;
    } else if (klen == 4 && !strncmp(w, "seed", klen)) {
      if (!parse_int(eq + 1, &n) || n < 0) return fail_at(r, i, "expected seed=S, S >= 0");
      s.seed = (uint64_t)n;
    } else if (prompt) {
      return fail_at(r, i, "usage: generate [PROMPT] [tokens=N] [temperature=T] [top-k=K] "
                     "[seed=S] (quote a prompt with spaces)");
    } else {
      prompt = i;
      s.prompt = w;
    }
  }
  TrConfig tc = r->tc;
  tc.file = r->path;
  tc.text = r->text;
  tc.defines = r->defines.data;
  tc.ndefines = (int)r->defines.len;
  TrGenerator *g = tr_generator_new(&r->s.src, &r->s.diag, &tc);
  bool ok = g && tr_generator_take_params(g, r->t);
  if (ok) {
    interrupted = 0;
    s.stop = &interrupted;
    catch_sigint(true);
    ok = tr_generate(g, &s);
    catch_sigint(false);
  }
  tr_generator_free(g);
  return ok;
}

/* The loss history as a small text plot (min..max over PLOT_HEIGHT rows). */
static bool cmd_losses(Repl *r, const Line *l) {
  if (l->n > 1) return fail_at(r, 1, "usage: losses");
  collect_losses(r);
  int64_t n = (int64_t)r->losses.len;
  if (n == 0) {
    printf("no training steps yet\n");
    return true;
  }
  const double *v = r->losses.data;
  int cols = (int)(n < PLOT_WIDTH ? n : PLOT_WIDTH);
  double col_v[PLOT_WIDTH], lo = INFINITY, hi = -INFINITY;
  for (int c = 0; c < cols; c++) { /* mean of the steps that fall in each column */
    int64_t a = n * c / cols, b = n * (c + 1) / cols;
    double s = 0;
    for (int64_t i = a; i < b; i++) s += v[i];
    col_v[c] = s / (double)(b - a);
    lo = fmin(lo, col_v[c]), hi = fmax(hi, col_v[c]);
  }
  printf("loss over %lld steps (first %.4f, last %.4f)\n", (long long)n, v[0], v[n - 1]);
  for (int row = PLOT_HEIGHT - 1; row >= 0; row--) {
    double level = lo + (hi - lo) * row / (PLOT_HEIGHT - 1);
    char marks[PLOT_WIDTH + 1];
    int last = 0;
    for (int c = 0; c < cols; c++) {
      int cr = hi > lo ? (int)lround((col_v[c] - lo) / (hi - lo) * (PLOT_HEIGHT - 1)) : 0;
      marks[c] = cr == row ? '*' : ' ';
      if (cr == row) last = c + 1;
    }
    printf("%9.4f |%.*s\n", level, last, marks);
  }
  char axis[PLOT_WIDTH + 1];
  memset(axis, '-', (size_t)cols);
  axis[cols] = 0;
  printf("%9s +%s\n%11s1%*lld\n", "", axis, "", cols - 1, (long long)n);
  return true;
}

/* ---- expressions ------------------------------------------------------------------------ */

#define EXPR_OUTPUT "__repl_value"

/* The model compiled at the trainer's dims with one more output: the
   expression that starts at byte `offset` of the typed line (source
   `file`), so that its errors point at what the user typed. NULL after
   reporting. */
static IrGraph *compile_expression(Repl *r, uint32_t file, uint32_t offset) {
  const IrGraph *fwd = tr_trainer_forward(r->t);
  FeDefine defs[IR_MAX_SYMS];
  for (uint32_t i = 0; i < fwd->nsyms; i++)
    defs[i] = (FeDefine){fwd->syms[i].name, fwd->syms[i].value};
  FeOptions fo = {.defines = defs, .ndefines = (int)fwd->nsyms, .mode = r->mode,
                  .extra_output = EXPR_OUTPUT, .extra_file = file, .extra_offset = offset};
  return fe_compile_string(r->path, r->text, &fo, &r->s.src, &r->s.diag);
}

/* Keeps only the expression's output, then the forward pipeline drops the
   rest of the model. */
static bool keep_expression_output(Repl *r, IrGraph **g) {
  uint32_t k = 0;
  while (k < (*g)->nouts && strcmp((*g)->outs[k].name, EXPR_OUTPUT) != 0) k++;
  if (k == (*g)->nouts) return fail_at(r, 0, "internal error: the expression has no output");
  (*g)->outs[0] = (*g)->outs[k];
  (*g)->outs[0].kind = IR_OUT_OUTPUT;
  (*g)->nouts = 1;
  PassCtx cx = {.diag = &r->s.diag, .verify_each = true};
  return pass_run_pipeline(g, PASS_PIPELINE_FORWARD, &cx);
}

/* Whether some node or output of g reads node `ref`. */
static bool is_read(const IrGraph *g, IrRef ref) {
  for (uint32_t k = 0; k < g->nouts; k++)
    if (g->outs[k].ref == ref) return true;
  for (IrRef i = ref + 1; i < g->nnodes; i++) {
    const IrNode *n = ir_node(g, i);
    for (int k = 0; k < n->nsrc; k++)
      if (n->src[k] == ref) return true;
  }
  return false;
}

/* An input's buffer: the first samples of its data when the expression
   reads it (loading the data), else zeros. */
static bool fill_input(Repl *r, const IrGraph *g, IrRef ref, void *buf) {
  const IrNode *n = ir_node(g, ref);
  if (!is_read(g, ref)) return true;
  return need_data(r) && tr_trainer_fill_input(r->t, n->name, n->shape.d[0].n, buf);
}

/* JIT-compiles g, runs it on the session's params and data and prints the
   value. */
static bool run_expression(Repl *r, const IrGraph *g, const char *label) {
  CgOptions o = cg_options_default();
  o.threads = r->tc.threads;
  CgProgram *p = cg_jit_compile(g, &o, &r->s.diag);
  if (!p) return false;
  int nslots = cg_program_nslots(p), out = cg_program_output_slot(p, 0);
  void **bufs = mc_xcalloc((size_t)nslots + 1, sizeof *bufs);
  bool *owned = mc_xcalloc((size_t)nslots + 1, sizeof *owned);
  bool ok = true;
  for (int i = 0; ok && i < nslots; i++) {
    if (i == out) continue;
    const IrNode *n = ir_node(g, cg_program_slot_node(p, i));
    if (n->op == IR_OP_INPUT) {
      bufs[i] = calloc(1, (size_t)ir_shape_numel(&n->shape) * 8 + 64);
      owned[i] = true;
      ok = fill_input(r, g, cg_program_slot_node(p, i), bufs[i]);
    } else if (!find_param(r, n->name, &bufs[i])) {
      ok = fail_at(r, 0, "internal error: no value for '%s'", n->name);
    }
  }
  const IrNode *on = ir_node(g, cg_program_slot_node(p, out));
  size_t bytes = (size_t)ir_shape_numel(&on->shape) * 8 + 64;
  void *result = calloc(1, bytes);
  bufs[out] = result;
  if (ok) ok = cg_program_run(p, bufs, &r->s.diag);
  if (ok) print_tensor(label, on, result);
  free(result);
  for (int i = 0; i < nslots; i++)
    if (owned[i]) free(bufs[i]);
  free(owned);
  free(bufs);
  cg_program_free(p);
  return ok;
}

/* Evaluates the rest of the line, from word `first`, as an expression in
   the model's scope. */
static bool eval_expression(Repl *r, const Line *l, int first) {
  if (!need_model(r)) return false;
  const McSourceFile *f = mc_sources_get(&r->s.src, l->file);
  if (!f || !f->text) return fail_at(r, first, "internal error: no text for the expression");
  const char *expr = f->text + l->w[first].col - 1;
  IrGraph *g = compile_expression(r, l->file, l->w[first].col - 1);
  bool ok = g && keep_expression_output(r, &g) && run_expression(r, g, expr);
  if (g) ir_graph_free(g);
  return ok;
}

/* ---- commands: values ---------------------------------------------------------------------- */

static bool cmd_print(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n < 2) return fail_at(r, 0, "usage: print PARAM|EXPR");
  void *data;
  const IrNode *n = l->n == 2 ? find_param(r, l->w[1].s, &data) : NULL;
  if (!n) return eval_expression(r, l, 1);
  print_tensor(n->name, n, data);
  return true;
}

/* ---- commands: inspection ------------------------------------------------------------------ */

static const char *stage_pipeline(const char *stage) {
  if (strcmp(stage, "forward") == 0) return PASS_PIPELINE_FORWARD;
  if (strcmp(stage, "grad") == 0) return PASS_PIPELINE_GRAD;
  if (strcmp(stage, "step") == 0) return PASS_PIPELINE_TRAIN;
  return NULL;
}

/* The graph of a stage after its pipeline (or up to and printing after
   pass `after`). NULL after reporting. */
static IrGraph *stage_graph(Repl *r, const Line *l, const char *after, const char *format) {
  const char *pipeline = stage_pipeline(l->w[1].s);
  if (!pipeline) {
    fail_at(r, 1, "expected forward, grad or step");
    return NULL;
  }
  if (after && !pass_find(after)) {
    fail_at(r, 2, "unknown pass '%s'", after);
    return NULL;
  }
  IrGraph *g = ir_graph_clone(tr_trainer_forward(r->t));
  PassCtx cx = {.diag = &r->s.diag, .verify_each = true, .print_after = after,
                .print_out = stdout, .print_format = format, .optim = &r->tc.optim};
  if (!pass_run_pipeline(&g, pipeline, &cx)) {
    ir_graph_free(g);
    return NULL;
  }
  return g;
}

static bool cmd_ir(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n < 2 || l->n > 3) return fail_at(r, 0, "usage: ir forward|grad|step [PASS]");
  IrGraph *g = stage_graph(r, l, l->n == 3 ? l->w[2].s : NULL, "text");
  if (!g) return false;
  if (l->n == 2) ir_print_file(stdout, g);
  ir_graph_free(g);
  return true;
}

static bool write_file(Repl *r, int word, const char *path, const McStr *text) {
  FILE *f = fopen(path, "w");
  if (!f) return fail_at(r, word, "cannot write '%s': %s", path, strerror(errno));
  fputs(text->s ? text->s : "", f);
  if (fclose(f) != 0) return fail_at(r, word, "cannot write '%s': %s", path, strerror(errno));
  return true;
}

static bool cmd_dot(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n != 3) return fail_at(r, 0, "usage: dot forward|grad|step FILE");
  IrGraph *g = stage_graph(r, l, NULL, "text");
  if (!g) return false;
  McStr s;
  mc_str_init(&s);
  ir_print_dot(&s, g);
  bool ok = write_file(r, 2, l->w[2].s, &s);
  if (ok) printf("wrote %s (%zu bytes)\n", l->w[2].s, s.len);
  mc_str_free(&s);
  ir_graph_free(g);
  return ok;
}

static bool cmd_llvm(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n < 2 || l->n > 3) return fail_at(r, 0, "usage: llvm forward|grad|step [FILE]");
  IrGraph *g = stage_graph(r, l, NULL, "text");
  if (!g) return false;
  McStr s;
  mc_str_init(&s);
  CgOptions o = cg_options_default();
  bool ok = cg_emit(g, &o, "llvm", &s, &r->s.diag);
  if (ok && l->n == 3) {
    ok = write_file(r, 2, l->w[2].s, &s);
    if (ok) printf("wrote %s (%zu bytes)\n", l->w[2].s, s.len);
  } else if (ok) {
    fputs(s.s ? s.s : "", stdout);
  }
  mc_str_free(&s);
  ir_graph_free(g);
  return ok;
}

static void print_stats(const char *what, const CgStats *s) {
  printf("%-8s %6d nodes %5d kernels  workspace %10lld bytes (%lld without reuse)  "
         "compiled in %.2f s\n", what, s->nnodes, s->nkernels, (long long)s->workspace_bytes,
         (long long)s->naive_bytes, s->compile_seconds);
  if (s->parts)
    printf("%-8s split: %d copies, each on its rows of the batch\n", what, s->parts);
}

static bool cmd_memory(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n > 1) return fail_at(r, 1, "usage: memory");
  CgStats step, fwd;
  tr_trainer_stats(r->t, &step, &fwd);
  print_stats("step", &step);
  print_stats("forward", &fwd);
  return true;
}

/* ---- commands: checkpoints and the rest ----------------------------------------------------- */

static bool cmd_save(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n != 2) return fail_at(r, 0, "usage: save FILE.safetensors");
  if (!tr_trainer_save(r->t, l->w[1].s)) return false;
  printf("saved %s (step %lld)\n", l->w[1].s, (long long)tr_trainer_step(r->t));
  return true;
}

static bool cmd_restore(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n != 2) return fail_at(r, 0, "usage: restore FILE.safetensors");
  if (tr_trainer_step(r->t) > 0 && !rebuild(r, "")) return false; /* fresh step counters */
  if (!tr_trainer_resume(r->t, l->w[1].s)) return false;
  printf("restored %s (step %lld, epoch %lld)\n", l->w[1].s, (long long)tr_trainer_step(r->t),
         (long long)tr_trainer_epoch(r->t));
  return true;
}

/* As `modelc train --init-from FILE --rename OLD=NEW ...`: the params named
   in FILE; optimizer state and step counters start afresh. */
static bool cmd_init_from(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  if (l->n < 2) return fail_at(r, 0, "usage: init-from FILE.safetensors [OLD=NEW ...]");
  const char *rules[16];
  int n = 0;
  for (int i = 2; i < l->n; i++) {
    const char *eq = strchr(l->w[i].s, '=');
    if (!eq || strchr(eq + 1, '=') || !strcmp(l->w[i].s, "=") || n == 16)
      return fail_at(r, i, "expected OLD=NEW (a name-prefix rule, at most 16), got '%s'",
                     l->w[i].s);
    rules[n++] = l->w[i].s;
  }
  if (!rebuild(r, "")) return false; /* fresh optimizer state and step counters */
  tr_trainer_set_rename(r->t, rules, n);
  bool ok = tr_trainer_init_from(r->t, l->w[1].s);
  tr_trainer_set_rename(r->t, NULL, 0);
  return ok;
}

/* `modelc build --weights` with the session's params: they go through a
   checkpoint in a temporary folder. The model file is compiled as it is
   on disk, with the session's dims except the batch (bound per call). */
static bool cmd_build(Repl *r, const Line *l) {
  if (!need_model(r)) return false;
  bool train = l->n == 3 && !strcmp(l->w[2].s, "train");
  if (l->n < 2 || l->n > 3 || (l->n == 3 && !train))
    return fail_at(r, l->n > 2 ? 2 : 0, "usage: build libNAME.so|NAME.o|libNAME.a [train]");
  const char *tmp = getenv("TMPDIR");
  char dir[4096], ckpt[4200];
  snprintf(dir, sizeof dir, "%s/modelc-repl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) return fail_at(r, 0, "cannot make a temporary folder: %s", strerror(errno));
  snprintf(ckpt, sizeof ckpt, "%s/weights.safetensors", dir);
  CliBuildArgs a = {.output = l->w[1].s, .weights = ckpt, .train = train, .optim = r->tc.optim,
                    .threads = r->tc.threads, .ignore_batch_define = true};
  bool ok = tr_trainer_save(r->t, ckpt) &&
            cli_build_file(&r->s, r->path, r->defines.data, (int)r->defines.len, &a);
  unlink(ckpt);
  rmdir(dir);
  if (ok) printf("built %s from the session's weights (step %lld)\n", l->w[1].s,
                 (long long)tr_trainer_step(r->t));
  return ok;
}

static bool cmd_help(Repl *r, const Line *l) {
  if (l->n == 1) {
    printf("Commands:\n");
    for (int i = 0; i < ncommands; i++)
      printf("  %-9s %-30s %s\n", commands[i].name, commands[i].args, commands[i].summary);
    printf("Run 'help COMMAND' for details. Ctrl-C stops training; Ctrl-D or 'quit' ends.\n");
    return true;
  }
  for (int i = 0; i < ncommands; i++)
    if (strcmp(commands[i].name, l->w[1].s) == 0) {
      printf("%s %s\n  %s\n%s", commands[i].name, commands[i].args, commands[i].summary,
             commands[i].help);
      return true;
    }
  return fail_at(r, 1, "unknown command '%s'", l->w[1].s);
}

/* mode [train|eval]: shows or sets the mode expressions compile in. */
static bool cmd_mode(Repl *r, const Line *l) {
  if (l->n > 2) return fail_at(r, 2, "usage: mode [train|eval]");
  if (l->n == 2) {
    if (strcmp(l->w[1].s, "train") == 0) r->mode = FE_MODE_TRAIN;
    else if (strcmp(l->w[1].s, "eval") == 0) r->mode = FE_MODE_EVAL;
    else return fail_at(r, 1, "unknown mode '%s': use train or eval", l->w[1].s);
  }
  printf("mode %s\n", r->mode == FE_MODE_EVAL ? "eval" : "train");
  return true;
}

static bool cmd_quit(Repl *r, const Line *l) {
  (void)r, (void)l;
  return true; /* the loop checks the name */
}

static const ReplCommand commands[] = {
    {"help", "[COMMAND]", "list the commands, or explain one", "", cmd_help},
    {"load", "FILE", "compile a model and initialize its params from the seed",
     "  Loading the file already loaded keeps the params whose names and shapes match.\n",
     cmd_load},
    {"reload", "", "recompile the model after an edit, keeping matching params",
     "  Params whose names, dtypes and shapes still match keep their values;\n"
     "  the others are initialized from the seed.\n", cmd_reload},
    {"dim", "NAME=VALUE", "set a model dim (like -D) and recompile", "", cmd_dim},
    {"show", "", "the model's inputs, outputs and params (shape, count, norm)", "", cmd_show},
    {"print", "PARAM|EXPR", "print a param or an expression over params, PyTorch-style",
     "  EXPR is any expression of the model language in the model's scope,\n"
     "  JIT-compiled against the current params and the first samples of the\n"
     "  data (eval data if bound, else training data): e.g. 'print logits[0]',\n"
     "  'print mean(fc1.weight)'. Small tensors print in full; large ones as\n"
     "  dtype, shape, a few values and statistics.\n", cmd_print},
    {"data", "NAME=PATH[,K=V] ...", "bind model inputs to training data (as --data)",
     "  The syntax of 'modelc train --data' (docs/data.md). 'data' lists the\n"
     "  bindings, 'data clear' removes them.\n", cmd_data},
    {"eval", "NAME=PATH[,K=V] ...", "bind evaluation data (as --eval)", "", cmd_eval},
    {"set", "[KEY VALUE]", "show or change the optimizer and training options",
     "  Keys: lr momentum weight-decay eps beta1 beta2 (run-time: no recompilation);\n"
     "  optimizer sgd|adam|adamw, nesterov on|off, clip-norm X|off, batch N,\n"
     "  threads N (recompile); seed N, holdout FRACTION, limit N (reload data).\n"
     "  Changing the optimizer resets its hyperparameters to the defaults.\n", cmd_set},
    {"train", "[N] [steps|epochs]", "train N more epochs (default 1) or steps",
     "  A progress line shows loss, samples/s and time left. Ctrl-C stops after\n"
     "  the current step and returns to the prompt with the params kept.\n", cmd_train},
    {"evaluate", "", "loss and accuracy on the held-out and eval data", "", cmd_evaluate},
    {"generate", "[PROMPT] [KEY=VALUE ...]", "sample text from a char-level model (current params)",
     "  Keys: tokens=N (default 200), temperature=T (1; 0 = the most likely\n"
     "  character), top-k=K (all), seed=S (0). As 'modelc generate' with the\n"
     "  session's params and dims (the batch bound to 1): the prompt, then each\n"
     "  character as it is sampled. Quote a prompt with spaces; no prompt starts\n"
     "  from a newline. Ctrl-C stops it.\n", cmd_generate},
    {"losses", "", "plot the loss of every step trained so far", "", cmd_losses},
    {"time", "", "time one training step (it updates the params)", "", cmd_time},
    {"ir", "forward|grad|step [PASS]", "print the IR of a stage (or after one of its passes)",
     "  forward: " PASS_PIPELINE_FORWARD "\n  grad:    " PASS_PIPELINE_GRAD "\n"
     "  step:    " PASS_PIPELINE_TRAIN "\n", cmd_ir},
    {"llvm", "forward|grad|step [FILE]", "the optimized LLVM IR of a stage", "", cmd_llvm},
    {"dot", "forward|grad|step FILE", "write a stage's graph as Graphviz DOT", "", cmd_dot},
    {"memory", "", "the memory plan and kernels of the compiled programs", "", cmd_memory},
    {"save", "FILE", "write a checkpoint (as 'modelc train --save')", "", cmd_save},
    {"restore", "FILE", "load a checkpoint (as 'modelc train --resume')", "", cmd_restore},
    {"init-from", "FILE [OLD=NEW...]", "start from the params named in a safetensors file",
     "  As 'modelc train --init-from FILE --rename OLD=NEW': every param whose name\n"
     "  (after the rules) has a tensor in FILE takes its values; notes list the\n"
     "  params left at their initializers and the unused tensors. Optimizer state\n"
     "  and the step count start afresh.\n", cmd_init_from},
    {"build", "FILE.so [train]", "build a library with the current weights (modelc build)",
     "  As 'modelc build FILE -o FILE.so --weights W' with the session's params\n"
     "  (FILE.o or libNAME.a also work); 'train' adds the training step with the\n"
     "  session's optimizer. The header and the manifest go beside it.\n", cmd_build},
    {"mode", "[train|eval]", "show or set the mode of expressions (batch norm, dropout)",
     "  Expressions (print, and a bare expression) compile in this mode: train (the\n"
     "  default, as a torch module) normalizes batch norm with the batch's\n"
     "  statistics and applies dropout; eval uses the running statistics and no\n"
     "  dropout. Training always runs train mode, evaluation eval mode.\n",
     cmd_mode},
    {"quit", "", "end the session (also 'exit' or Ctrl-D)", "", cmd_quit},
};
static const int ncommands = (int)MC_COUNTOF(commands);

/* ---- running lines ----------------------------------------------------------------------- */

static const ReplCommand *find_command(const char *name) {
  for (int i = 0; i < ncommands; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

/* A line that is not a command is an expression when a model is loaded and
   its first word names a param, input or output or has an operator or a
   call in it. */
static bool looks_like_expression(Repl *r, const char *word) {
  void *data;
  if (!r->t) return false;
  const IrGraph *g = tr_trainer_forward(r->t);
  for (uint32_t k = 0; k < g->nouts; k++)
    if (strcmp(g->outs[k].name, word) == 0) return true;
  return find_param(r, word, &data) || has_input(g, word) ||
         strcspn(word, "()[]+-*/.@") < strlen(word);
}

/* A line that is not a command, with a suggestion when one is close:
   `trian` -> train, but no guess for a word with little in common. */
static bool unknown_command(Repl *r, const Line *l) {
  const char *name = l->w[0].s;
  if (l->n >= 2 && strcmp(l->w[1].s, "=") == 0)
    return fail_at(r, 0, "'%s = ...' defines a name, which only the model file does (add it there, "
                   "then `reload`); here, type an expression or `print EXPR`", name);
  const char *best = NULL;
  int best_d = INT_MAX, len = (int)strlen(name);
  for (int i = 0; i < ncommands; i++) {
    int d = mc_edit_distance(name, commands[i].name);
    if (d < best_d) best_d = d, best = commands[i].name;
  }
  if (best && best_d <= (len + 2) / 3)
    return fail_at(r, 0, "unknown command '%s' (did you mean '%s'?)", name, best);
  if (!r->t) return fail_at(r, 0, "unknown command '%s' (try 'help', or `load FILE` to evaluate "
                            "expressions)", name);
  return fail_at(r, 0, "unknown command '%s' (try 'help')", name);
}

/* Runs one line, line `number` of `input` (NULL: not typed by the user, as
   the load of the command line's FILE); false when it failed. *quit is set
   by quit/exit. */
static bool run_line(Repl *r, const char *text, const char *input, uint32_t number, bool *quit) {
  size_t len = strlen(text);
  Line l;
  l.file = input ? mc_sources_add_at(&r->s.src, input, text, len, number) : 0;
  char *buf = mc_xstrdup(text);
  int errors = r->s.diag.nerrors;
  bool ok = split_line(r, buf, &l);
  r->line = &l;
  if (ok && l.n > 0) {
    const char *name = l.w[0].s;
    const ReplCommand *c = find_command(name);
    if (strcmp(name, "exit") == 0 || strcmp(name, "quit") == 0) *quit = true;
    else if (c) ok = c->run(r, &l);
    else if (looks_like_expression(r, name)) ok = eval_expression(r, &l, 0);
    else ok = unknown_command(r, &l);
  }
  r->line = NULL;
  free(buf);
  fflush(stdout);
  return ok && r->s.diag.nerrors == errors;
}

/* ---- completion (libedit) ---------------------------------------------------------------- */

static int completion_index;

static char *next_match(const char *text, const char *const *names, int n) {
  size_t len = strlen(text);
  while (completion_index < n) {
    const char *s = names[completion_index++];
    if (s && strncmp(s, text, len) == 0) return strdup(s);
  }
  return NULL;
}

static char *complete_command(const char *text, int state) {
  if (!state) completion_index = 0;
  const char *names[MC_COUNTOF(commands)];
  for (int i = 0; i < ncommands; i++) names[i] = commands[i].name;
  return next_match(text, names, ncommands);
}

static char *complete_setting(const char *text, int state) {
  if (!state) completion_index = 0;
  return next_match(text, set_keys, (int)MC_COUNTOF(set_keys));
}

/* Param names (for print) or input names followed by '=' (for data). */
static char *complete_graph_name(const char *text, int state, IrOp op) {
  static char buf[256];
  if (!state) completion_index = 0;
  Repl *r = completion_repl;
  if (!r->t) return NULL;
  const IrGraph *g = tr_trainer_forward(r->t);
  size_t len = strlen(text);
  while (completion_index < (int)g->nnodes) {
    const IrNode *n = ir_node(g, (IrRef)completion_index++);
    if (n->op != op || strncmp(n->name, text, len) != 0) continue;
    snprintf(buf, sizeof buf, "%s%s", n->name, op == IR_OP_INPUT ? "=" : "");
    return strdup(buf);
  }
  return NULL;
}

static char *complete_param(const char *text, int state) {
  return complete_graph_name(text, state, IR_OP_PARAM);
}
static char *complete_input(const char *text, int state) {
  return complete_graph_name(text, state, IR_OP_INPUT);
}

static char *complete_stage(const char *text, int state) {
  static const char *const stages[] = {"forward", "grad", "step"};
  if (!state) completion_index = 0;
  return next_match(text, stages, 3);
}

static char **complete(const char *text, int start, int end) {
  (void)end;
  char first[32] = "";
  sscanf(rl_line_buffer, "%31s", first);
  bool first_word = strspn(rl_line_buffer, " \t") >= (size_t)start;
  rl_attempted_completion_over = 1;
  rl_completion_append_character = ' ';
  if (first_word) return rl_completion_matches(text, complete_command);
  if (!strcmp(first, "print")) return rl_completion_matches(text, complete_param);
  if (!strcmp(first, "set")) return rl_completion_matches(text, complete_setting);
  if (!strcmp(first, "help")) return rl_completion_matches(text, complete_command);
  if (!strcmp(first, "ir") || !strcmp(first, "llvm") || !strcmp(first, "dot")) {
    char **m = rl_completion_matches(text, complete_stage);
    if (m) return m;
  }
  if ((!strcmp(first, "data") || !strcmp(first, "eval")) && !strchr(text, '=')) {
    char **m = rl_completion_matches(text, complete_input);
    if (m) {
      rl_completion_append_character = '\0';
      return m;
    }
  }
  return rl_completion_matches(text, rl_filename_completion_function);
}

/* ---- the session ------------------------------------------------------------------------- */

static char *history_path(void) {
  const char *p = getenv("MODELC_HISTORY");
  if (p) return *p ? mc_xstrdup(p) : NULL;
  const char *home = getenv("HOME");
  if (!home || !*home) return NULL;
  size_t n = strlen(home) + 32;
  char *s = mc_xmalloc(n);
  snprintf(s, n, "%s/.modelc_history", home);
  return s;
}

/* Reads a line: libedit on a terminal, stdin otherwise (echoed). */
static char *read_line(bool tty) {
  if (tty) {
    for (;;) {
      /* Ctrl-C while editing abandons the line and gives a fresh prompt;
         libedit returns NULL for it, which must not read as end of input. */
      interrupted = 0;
      catch_sigint(true);
      char *s = readline(PROMPT);
      catch_sigint(false);
      if (!s && interrupted) {
        putchar('\n');
        continue;
      }
      if (s && *s) add_history(s);
      return s;
    }
  }
  McStr b;
  mc_str_init(&b);
  int c;
  bool any = false;
  while ((c = getchar()) != EOF && c != '\n') mc_str_putc(&b, (char)c), any = true;
  if (c == EOF && !any) {
    mc_str_free(&b);
    return NULL;
  }
  if (!b.s) mc_str_puts(&b, "");
  printf(PROMPT "%s\n", b.s);
  fflush(stdout);
  return b.s;
}

/* Script mode's name for its lines: the file on stdin (`modelc repl <
   steps.txt`), relative to the working directory when under it; NULL for
   a pipe or a deleted file (the caller says "<stdin>"). Heap string. */
static char *script_name(void) {
  struct stat st;
  char path[PATH_MAX], cwd[PATH_MAX];
  if (fstat(STDIN_FILENO, &st) != 0 || !S_ISREG(st.st_mode)) return NULL;
  ssize_t n = readlink("/proc/self/fd/0", path, sizeof path - 1);
  if (n <= 0) return NULL;
  path[n] = 0;
  if (path[0] != '/' || strstr(path, " (deleted)")) return NULL;
  size_t c = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
  if (c > 1 && strncmp(path, cwd, c) == 0 && path[c] == '/') return mc_xstrdup(path + c + 1);
  return mc_xstrdup(path);
}

static void repl_init(Repl *r) {
  memset(r, 0, sizeof *r);
  cli_session_init(&r->s);
  r->s.diag.max_errors = 0; /* a session lasts: never stop reporting */
  mc_vec_init(&r->defines, sizeof(FeDefine));
  mc_vec_init(&r->data, sizeof(char *));
  mc_vec_init(&r->eval, sizeof(char *));
  mc_vec_init(&r->losses, sizeof(double));
  r->tc.optim = (PassOptim){.kind = PASS_OPTIM_ADAM};
  r->tc.hyper = pass_optim_defaults(PASS_OPTIM_ADAM);
  r->tc.out = stdout;
  r->tc.progress = stderr;
  r->tc.progress_tty = isatty(STDERR_FILENO);
  r->tc.stop = &interrupted;
}

static void repl_fini(Repl *r) {
  tr_trainer_free(r->t);
  for (size_t i = 0; i < r->defines.len; i++)
    free((char *)MC_VEC_AT(&r->defines, FeDefine, i).name);
  mc_vec_free(&r->defines);
  free_strings(&r->data);
  free_strings(&r->eval);
  mc_vec_free(&r->data);
  mc_vec_free(&r->eval);
  mc_vec_free(&r->losses);
  free(r->text);
  free(r->path);
  free(r->failed_load);
  cli_session_fini(&r->s);
}

int cli_repl_main(const CliCommand *c, int argc, char **argv, int first) {
  const char *file = NULL;
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      cli_print_command_help(stdout, c);
      return CLI_OK;
    }
    if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error(c, "unknown option '%s'", argv[i]);
    if (file) return cli_usage_error(c, "more than one FILE");
    file = argv[i];
  }
  Repl r;
  repl_init(&r);
  completion_repl = &r;
  bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  /* script mode: plain progress lines even when stderr is a terminal */
  r.tc.progress_tty = tty && isatty(STDERR_FILENO);
  char *hist = tty ? history_path() : NULL;
  if (tty) {
    rl_readline_name = "modelc";
    rl_attempted_completion_function = complete;
    using_history();
    if (hist) read_history(hist);
  }
  catch_sigint(false);
  int failed = 0;
  bool quit = false;
  if (file) {
    McStr cmd;
    mc_str_init(&cmd);
    mc_str_printf(&cmd, "load '%s'", file);
    if (!tty) printf(PROMPT "%s\n", cmd.s);
    failed += !run_line(&r, cmd.s, NULL, 0, &quit);
    mc_str_free(&cmd);
  }
  char *text;
  char *script = tty ? NULL : script_name();
  const char *input = script ? script : tty ? "<repl>" : "<stdin>";
  while (!quit && (text = read_line(tty)) != NULL) {
    failed += !run_line(&r, text, input, ++r.lineno, &quit);
    free(text);
  }
  free(script);
  if (tty && !quit) putchar('\n');
  if (tty && hist) write_history(hist);
  free(hist);
  repl_fini(&r);
  return failed ? CLI_FAIL : CLI_OK;
}
