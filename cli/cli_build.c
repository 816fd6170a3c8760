/* cli_build.c -- `modelc build`: a model as a library. The model is lowered
   at three values of its batch dim (cg_aot.c fits what depends on the
   batch), its forward program (the outputs) and, with --train, its
   training step and the step's two halves (the gradient program and the
   apply program, for data-parallel training with the caller's allreduce)
   are compiled to PIC objects, the image and the exported
   functions are written as C (cli_build_emit.c), and the system compiler
   links them with the run-time library modelc carries (rt_aot_blob.h)
   into a shared object, an object file or a static archive, with a header
   and a JSON manifest beside it. Everything is made in a temporary folder
   and moved into place at the end, so a failed build leaves no half
   files. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cg.h"
#include "rt.h"
#include "rt_aot_blob.h"

extern char **environ;

typedef enum {
  B_HEADER, B_MANIFEST, B_WEIGHTS, B_RENAME, B_TRAIN, B_OPTIMIZER, B_NESTEROV, B_CLIP, B_TARGET_CPU,
  B_THREADS, B_PREFIX, B_KEEP, B_COUNT
} BuildOptId;

static const CliLongOpt build_opts[B_COUNT] = {
    [B_HEADER] = {"header", "PATH", "the C header (default: PREFIX.h beside the output)"},
    [B_MANIFEST] = {"manifest", "PATH", "the JSON manifest (default: the output's name + .json)"},
    [B_WEIGHTS] = {"weights", "CKPT", "embed these params (a safetensors checkpoint)"},
    [B_RENAME] = {"rename", "OLD=NEW", "--weights: read names starting OLD as NEW (repeatable)"},
    [B_TRAIN] = {"train", NULL, "also export the training step"},
    [B_OPTIMIZER] = {"optimizer", "sgd|adam|adamw", "the step's optimizer (default adam)"},
    [B_NESTEROV] = {"nesterov", NULL, "sgd with Nesterov momentum"},
    [B_CLIP] = {"clip-grad-norm", NULL, "clip the gradients' global 2-norm (hyper max_norm)"},
    [B_TARGET_CPU] = {"target-cpu", "CPU", "the CPU to build for (default: this one)"},
    [B_THREADS] = {"threads", "N", "parallel parts of large kernels (default: all cores)"},
    [B_PREFIX] = {"prefix", "NAME", "the symbols' prefix (default: the model's name)"},
    [B_KEEP] = {"keep", "DIR", "keep the intermediate files (C, objects) in DIR"},
};

/* Three batches: large enough that no decision of the code generator
   depends on them, distinct so that a non-linear size shows. */
static const int64_t probe_batches[3] = {1031, 1543, 2053};

void cli_build_print_options(FILE *f) { cli_print_long_opts(f, build_opts, B_COUNT); }

static bool set_build_option(const CliCommand *c, void *ctx, int id, const char *v) {
  CliBuildArgs *a = ctx;
  switch ((BuildOptId)id) {
  case B_HEADER: a->header = v; return true;
  case B_MANIFEST: a->manifest = v; return true;
  case B_WEIGHTS: a->weights = v; return true;
  case B_RENAME:
    if (a->nrename >= CLI_BUILD_MAX_RENAME) {
      cli_usage_error(c, "--rename: at most %d rules", CLI_BUILD_MAX_RENAME);
      return false;
    }
    if (!strchr(v, '=') || strchr(strchr(v, '=') + 1, '=') || !strcmp(v, "=")) {
      cli_usage_error(c, "--rename expects OLD=NEW (name prefixes; either may be empty, not "
                      "both), got '%s'", v);
      return false;
    }
    a->rename[a->nrename++] = v;
    return true;
  case B_TRAIN: a->train = true; return true;
  case B_OPTIMIZER:
    if (pass_optim_kind_from_name(v, &a->optim.kind)) return true;
    cli_usage_error(c, "--optimizer expects sgd, adam or adamw, got '%s'", v);
    return false;
  case B_NESTEROV: a->optim.nesterov = true; return true;
  case B_CLIP: a->optim.clip_grad_norm = true; return true;
  case B_TARGET_CPU: a->cpu = v; return true;
  case B_THREADS: {
    char *end;
    long n = strtol(v, &end, 10);
    if (*v && !*end && n > 0 && n <= 1024) {
      a->threads = (int)n;
      return true;
    }
    cli_usage_error(c, "--threads expects an integer in [1, 1024], got '%s'", v);
    return false;
  }
  case B_PREFIX: a->prefix = v; return true;
  case B_KEEP: a->keep = v; return true;
  case B_COUNT: break;
  }
  MC_UNREACHABLE();
}

/* ---- the model at three batches ---------------------------------------------------- */

static bool is_c_name(const char *s) {
  if (!*s || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return false;
  for (; *s; s++)
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9')))
      return false;
  return true;
}

/* The model's graphs with its batch dim at each probe batch (one graph
   when it has none), in o->mode. */
static bool compile_mode_graphs(CliSession *s, CliOpts *o, CliBuild *b, IrGraph **model) {
  IrGraph *g = cli_compile_model(s, o);
  if (!g) return false;
  int sym = ir_graph_batch_sym(g);
  b->nbatches = sym >= 0 ? 3 : 1;
  if (sym < 0) {
    model[0] = model[1] = model[2] = g;
    b->batch_name = NULL;
    return true;
  }
  b->batch_name = mc_arena_strdup(&o->arena, g->syms[sym].name);
  for (size_t i = 0; i < o->defines.len; i++)
    if (!strcmp(((FeDefine *)o->defines.data)[i].name, b->batch_name) &&
        !b->args->ignore_batch_define) {
      mc_error(&s->diag, (McLoc){0},
               "build: '%s' is the model's batch dim, bound per call: -D cannot fix it",
               b->batch_name);
      ir_graph_free(g);
      return false;
    }
  ir_graph_free(g);
  for (int i = 0; i < 3; i++) {
    FeDefine *d = mc_vec_push(&o->defines);
    *d = (FeDefine){.name = b->batch_name, .value = probe_batches[i]};
    model[i] = cli_compile_model(s, o);
    o->defines.len--;
    if (!model[i]) return false;
  }
  return true;
}

/* The training step runs the model in train mode, the forward entry in eval
   mode (torch's module.train() and module.eval()). */
static bool compile_graphs(CliSession *s, CliOpts *o, CliBuild *b) {
  o->mode = FE_MODE_TRAIN;
  if (!compile_mode_graphs(s, o, b, b->model)) return false;
  o->mode = FE_MODE_EVAL;
  bool ok = compile_mode_graphs(s, o, b, b->model_eval);
  o->mode = FE_MODE_TRAIN;
  return ok;
}

/* A clone of g keeping only the outputs of kind `keep` (and `keep2`). */
static IrGraph *with_outputs(const IrGraph *g, int keep, int keep2) {
  IrGraph *c = ir_graph_clone(g);
  uint32_t n = 0;
  for (uint32_t i = 0; i < c->nouts; i++)
    if ((int)c->outs[i].kind == keep || (int)c->outs[i].kind == keep2) c->outs[n++] = c->outs[i];
  c->nouts = n;
  return c;
}

/* Program k's graph at probe batch i, before its passes. The training
   step and the gradient program run the model in train mode with its loss
   and buffer updates, the forward program in eval mode with its outputs. */
static IrGraph *program_graph(const CliBuild *b, int k, int i) {
  switch (k) {
  case CLI_PROG_FORWARD: return with_outputs(b->model_eval[i], IR_OUT_OUTPUT, -1);
  case CLI_PROG_APPLY: return tr_apply_graph(b->model[0], b->programs[CLI_PROG_GRAD].g);
  default: return with_outputs(b->model[i], IR_OUT_LOSS, IR_OUT_UPDATE);
  }
}

static bool make_program(CliSession *s, CliBuild *b, int k, const CliBuildArgs *a,
                         const char *dir, const CgOptions *co) {
  static const char *const pipelines[CLI_PROG_COUNT] = {
      [CLI_PROG_FORWARD] = PASS_PIPELINE_FORWARD, [CLI_PROG_TRAIN] = PASS_PIPELINE_TRAIN,
      [CLI_PROG_GRAD] = PASS_PIPELINE_GRAD, [CLI_PROG_APPLY] = PASS_PIPELINE_APPLY};
  CliBuildProgram *p = &b->programs[k];
  const char *what = cli_build_program_names[k];
  /* a forward pass needs no labels; the training programs keep every input */
  PassCtx cx = {.diag = &s->diag, .optim = &a->optim, .drop_unused_inputs = k == CLI_PROG_FORWARD};
  IrGraph *gs[3] = {NULL, NULL, NULL};
  int nb = k == CLI_PROG_APPLY ? 1 : b->nbatches;
  bool ok = true;
  for (int i = 0; ok && i < nb; i++) {
    gs[i] = program_graph(b, k, i);
    ok = pass_run_pipeline(&gs[i], pipelines[k], &cx);
  }
  for (int i = nb; ok && i < 3; i++) gs[i] = gs[0];
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.o", dir, what);
  CgOptions o = *co;
  char run[300];
  snprintf(run, sizeof run, "%s__%s_run", b->prefix, what);
  o.run_name = run;
  ok = ok && cg_aot_compile(gs, probe_batches, &o, path, &p->prog, &s->diag);
  if (ok) {
    p->g = gs[0];
    p->object = mc_xstrdup(path);
    p->run_name = mc_xstrdup(run);
  }
  for (int i = ok ? 1 : 0; i < nb; i++)
    if (gs[i]) ir_graph_free(gs[i]);
  return ok;
}

/* ---- weights ------------------------------------------------------------------------- */

/* A param's bytes in the blob: padded to the next 64-byte boundary. */
static int64_t padded(int64_t bytes) { return (bytes + 63) / 64 * 64; }

/* The checkpoint tensor named (after --rename) like param `name`, or NULL. */
static const RtTensorRef *find_weight(const CliBuildArgs *a, const RtCheckpoint *c,
                                      const char *name) {
  for (size_t k = 0; k < c->ntensors; k++) {
    char *n = tr_rename(a->rename, a->nrename, c->tensors[k].name);
    bool same = strcmp(n, name) == 0;
    free(n);
    if (same) return &c->tensors[k];
  }
  return NULL;
}

/* The initializer's values of param p (seed 0) in its dtype (heap). */
static void *initial_values(const CliBuild *b, const CliBuildParam *p) {
  const IrGraph *g = b->model[0];
  int64_t n = p->bytes / (int64_t)rt_dtype_size(p->rt_dtype);
  double *v = mc_xcalloc((size_t)n + 1, sizeof *v);
  ir_init_fill(g, ir_node(g, ir_find_param(g, p->name)), 0, v);
  void *out = mc_xcalloc((size_t)p->bytes + 1, 1);
  for (int64_t i = 0; i < n; i++) {
    if (p->rt_dtype == RT_F64) ((double *)out)[i] = v[i];
    else ((float *)out)[i] = (float)v[i];
  }
  free(v);
  return out;
}

/* Checks each checkpoint tensor named like a model param (its dtype and
   shape must match) and writes every param's values, each at a 64-byte
   boundary, to `blob_path`: from the checkpoint, or for the params it
   lacks from their initializers (a note lists them). */
static bool write_weights(CliSession *s, CliBuild *b, const char *ckpt, const char *blob_path) {
  const CliBuildArgs *a = b->args;
  RtError e = {{0}};
  RtCheckpoint *c = rt_safetensors_load(ckpt, &e);
  if (!c) {
    mc_error(&s->diag, (McLoc){0}, "build: --weights: %s", e.msg);
    return false;
  }
  bool ok = true;
  int64_t at = 0, nmodel = 0, nfound = 0;
  McStr left;
  mc_str_init(&left);
  for (int i = 0; ok && i < b->nparams; i++) {
    CliBuildParam *p = &b->params[i];
    if (p->state) continue;
    const RtTensorRef *t = find_weight(a, c, p->name);
    nmodel++;
    p->weights_offset = at;
    at += padded(p->bytes);
    if (!t) {
      mc_str_printf(&left, "%s%s", left.len ? ", " : "", p->name);
      continue;
    }
    nfound++;
    char want[128], got[128];
    rt_dims_format(want, sizeof want, p->rank, p->dims);
    rt_dims_format(got, sizeof got, t->rank, t->dims);
    if (t->dtype != p->rt_dtype || t->rank != p->rank ||
        memcmp(t->dims, p->dims, (size_t)p->rank * sizeof *p->dims) != 0) {
      mc_error(&s->diag, (McLoc){0}, "%s: '%s' is %s%s, the model's is %s%s", ckpt, p->name,
               rt_dtype_name(t->dtype), got, rt_dtype_name(p->rt_dtype), want);
      ok = false;
    }
  }
  if (ok && nfound == 0) {
    mc_error(&s->diag, (McLoc){0}, "%s: no tensor is named like a param of the model%s", ckpt,
             a->nrename ? "" : "; --rename OLD=NEW maps name prefixes");
    ok = false;
  }
  if (ok && left.len)
    mc_note(&s->diag, (McLoc){0}, "%s: loaded %lld of %lld params; left at their "
            "initializers (seed 0): %s", ckpt, (long long)nfound, (long long)nmodel, left.s);
  mc_str_free(&left);
  FILE *f = ok ? fopen(blob_path, "wb") : NULL;
  if (ok && !f) {
    mc_error(&s->diag, (McLoc){0}, "%s: cannot write: %s", blob_path, strerror(errno));
    ok = false;
  }
  static const char zeros[64];
  for (int i = 0; ok && i < b->nparams; i++) {
    const CliBuildParam *p = &b->params[i];
    if (p->state) continue;
    const RtTensorRef *t = find_weight(a, c, p->name);
    void *init = t ? NULL : initial_values(b, p);
    size_t pad = (size_t)(padded(p->bytes) - p->bytes);
    ok = fwrite(t ? t->data : init, 1, (size_t)p->bytes, f) == (size_t)p->bytes &&
         fwrite(zeros, 1, pad, f) == pad;
    free(init);
  }
  if (f && fclose(f) != 0) ok = false;
  if (f && !ok) mc_error(&s->diag, (McLoc){0}, "build: cannot write '%s'", blob_path);
  b->weights_bytes = at;
  rt_checkpoint_free(c);
  return ok;
}

/* ---- the toolchain -------------------------------------------------------------------- */

static const char *c_compiler(void) {
  const char *cc = getenv("CC");
  return cc && *cc ? cc : "cc";
}

/* Runs argv (searched in PATH) with stdout and stderr into `log`; reports
   the command and its output on failure. */
static bool run_tool(CliSession *s, char *const *argv, const char *log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  if (rc == 0 && waitpid(pid, &status, 0) < 0) rc = errno;
  if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  McStr cmd;
  mc_str_init(&cmd);
  for (int i = 0; argv[i]; i++) mc_str_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
  size_t n = 0;
  const char *err = NULL;
  char *out = rc == 0 ? mc_read_file(log, &n, &err) : NULL;
  if (rc != 0)
    mc_error(&s->diag, (McLoc){0}, "build: cannot run '%s': %s", argv[0], strerror(rc));
  else
    mc_error(&s->diag, (McLoc){0}, "build: '%s' failed (%s %d)%s%s", cmd.s,
             WIFEXITED(status) ? "exit status" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out && *out ? ":\n" : "",
             out ? out : "");
  free(out);
  mc_str_free(&cmd);
  return false;
}

static bool write_bytes(CliSession *s, const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, n, f) == n;
  if (f && fclose(f) != 0) ok = false;
  if (!ok) mc_error(&s->diag, (McLoc){0}, "build: cannot write '%s': %s", path, strerror(errno));
  return ok;
}

static bool write_text(CliSession *s, const char *path, const McStr *text) {
  return write_bytes(s, path, text->s ? text->s : "", text->len);
}

static char *path_in(const char *dir, const char *name) {
  McStr p;
  mc_str_init(&p);
  mc_str_printf(&p, "%s/%s", dir, name);
  return p.s;
}

/* Compiles the generated C (and the weights' assembly) and links the
   library in the temporary folder; *made is the file made there. */
static bool link_library(CliSession *s, CliBuild *b, const char *dir, char **made) {
  char *rt_h = path_in(dir, "rt_aot.h"), *rt_a = path_in(dir, "libmodelc_aotrt.a");
  char *api_c = path_in(dir, "model.c"), *api_o = path_in(dir, "model.o");
  char *w_s = path_in(dir, "weights.s"), *w_o = path_in(dir, "weights.o");
  char *log = path_in(dir, "tool.log"), *inc = path_in(dir, "");
  char *out = path_in(dir, b->kind == CLI_BUILD_SO ? "lib.so" : b->kind == CLI_BUILD_A ? "lib.a" : "lib.o");
  char *rel = path_in(dir, "whole.o");
  const char *cc = c_compiler();
  bool ok = write_bytes(s, rt_h, rt_aot_blob_header, rt_aot_blob_header_size) &&
            write_bytes(s, rt_a, rt_aot_blob_archive, rt_aot_blob_archive_size);
  char incflag[4200];
  snprintf(incflag, sizeof incflag, "-I%s", inc);
  char *compile[] = {(char *)cc, "-std=c11", "-O2", "-fPIC", "-fvisibility=hidden",
                     incflag, "-c", api_c, "-o", api_o, NULL};
  ok = ok && run_tool(s, compile, log);
  if (ok && b->weights_path) {
    char *as[] = {(char *)cc, "-c", w_s, "-o", w_o, NULL};
    ok = run_tool(s, as, log);
  }
  const char *objs[8];
  int nobj = 0;
  objs[nobj++] = api_o;
  for (int k = 0; k < CLI_PROG_COUNT; k++)
    if (b->programs[k].object) objs[nobj++] = b->programs[k].object;
  if (b->weights_path) objs[nobj++] = w_o;
  char *argv[32];
  int n = 0;
  if (ok && b->kind == CLI_BUILD_SO) {
    argv[n++] = (char *)cc;
    argv[n++] = "-shared";
    argv[n++] = "-o";
    argv[n++] = out;
    for (int i = 0; i < nobj; i++) argv[n++] = (char *)objs[i];
    argv[n++] = rt_a;
    argv[n++] = "-lm";
    argv[n++] = "-lpthread";
    argv[n] = NULL;
    ok = run_tool(s, argv, log);
  } else if (ok) {
    /* one relocatable object, only the API's symbols left global */
    argv[n++] = (char *)cc;
    argv[n++] = "-r";
    argv[n++] = "-nostdlib";
    argv[n++] = "-o";
    argv[n++] = b->kind == CLI_BUILD_O ? out : rel;
    for (int i = 0; i < nobj; i++) argv[n++] = (char *)objs[i];
    argv[n++] = rt_a;
    argv[n] = NULL;
    ok = run_tool(s, argv, log);
    char *localize[] = {"objcopy", "--localize-hidden", b->kind == CLI_BUILD_O ? out : rel, NULL};
    ok = ok && run_tool(s, localize, log);
    if (ok && b->kind == CLI_BUILD_A) {
      char *ar[] = {"ar", "rcs", out, rel, NULL};
      ok = run_tool(s, ar, log);
    }
  }
  free(rt_h), free(rt_a), free(api_c), free(api_o), free(w_s), free(w_o), free(log), free(inc);
  free(rel);
  if (ok) *made = out;
  else free(out);
  return ok;
}

/* ---- the build ------------------------------------------------------------------------------ */

static bool output_kind(const char *path, CliBuildKind *k) {
  size_t n = strlen(path);
  if (n > 3 && !strcmp(path + n - 3, ".so")) *k = CLI_BUILD_SO;
  else if (n > 2 && !strcmp(path + n - 2, ".o")) *k = CLI_BUILD_O;
  else if (n > 2 && !strcmp(path + n - 2, ".a")) *k = CLI_BUILD_A;
  else return false;
  return true;
}

/* "out/libmlp.so" -> "out/" + name */
static char *beside(const char *output, const char *name) {
  const char *slash = strrchr(output, '/');
  McStr p;
  mc_str_init(&p);
  mc_str_printf(&p, "%.*s%s", slash ? (int)(slash - output + 1) : 0, output, name);
  return p.s;
}

static char *manifest_path(const char *output) {
  const char *dot = strrchr(output, '.');
  McStr p;
  mc_str_init(&p);
  mc_str_printf(&p, "%.*s.json", (int)(dot - output), output);
  return p.s;
}

/* Moves a made file into place (rename; a copy across file systems). */
static bool install(CliSession *s, const char *from, const char *to) {
  if (rename(from, to) == 0) return true;
  size_t n = 0;
  const char *err = NULL;
  char *data = mc_read_file(from, &n, &err);
  char *tmp = NULL;
  bool ok = false;
  if (data) {
    McStr t;
    mc_str_init(&t);
    mc_str_printf(&t, "%s.tmp%ld", to, (long)getpid());
    tmp = t.s;
    ok = write_bytes(s, tmp, data, n) && rename(tmp, to) == 0;
    if (!ok) unlink(tmp);
  }
  if (!ok)
    mc_error(&s->diag, (McLoc){0}, "build: cannot write '%s': %s", to, strerror(errno));
  free(data);
  free(tmp);
  return ok;
}

static void remove_dir(const char *dir) {
  static const char *const names[] = {"rt_aot.h", "libmodelc_aotrt.a", "model.c", "model.o",
                                      "weights.s", "weights.o", "weights.bin", "tool.log",
                                      "lib.so", "lib.a", "lib.o", "whole.o", "forward.o",
                                      "train.o", "grad.o", "apply.o", "model.h"};
  for (size_t i = 0; i < MC_COUNTOF(names); i++) {
    char *p = path_in(dir, names[i]);
    unlink(p);
    free(p);
  }
  rmdir(dir);
}

static void build_free(CliBuild *b) {
  for (int k = 0; k < CLI_PROG_COUNT; k++) {
    CliBuildProgram *p = &b->programs[k];
    cg_aot_program_free(&p->prog);
    if (p->g) ir_graph_free(p->g);
    free(p->object);
    free(p->run_name);
    free(p->slot_role);
    free(p->slot_index);
  }
  for (int i = 0; i < b->nbatches; i++) ir_graph_free(b->model[i]);
  for (int i = 0; i < b->nbatches; i++)
    if (b->model_eval[i]) ir_graph_free(b->model_eval[i]);
  free(b->params);
  free(b->grads);
  free(b->weights_path);
}

static bool make_temp_dir(CliSession *s, const CliBuildArgs *a, char *dir, size_t n) {
  if (a->keep) {
    if (mkdir(a->keep, 0755) != 0 && errno != EEXIST) {
      mc_error(&s->diag, (McLoc){0}, "build: cannot make '%s': %s", a->keep, strerror(errno));
      return false;
    }
    snprintf(dir, n, "%s", a->keep);
    return true;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, n, "%s/modelc-build-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(dir)) return true;
  mc_error(&s->diag, (McLoc){0}, "build: cannot make a temporary folder: %s", strerror(errno));
  return false;
}

static bool build(CliSession *s, CliOpts *o, const CliBuildArgs *a, const char *dir) {
  CliBuild b = {.args = a, .kind = CLI_BUILD_SO};
  output_kind(a->output, &b.kind);
  bool ok = compile_graphs(s, o, &b);
  if (ok) {
    b.prefix = a->prefix ? a->prefix : b.model[0]->name;
    if (!is_c_name(b.prefix)) {
      mc_error(&s->diag, (McLoc){0},
               "build: the symbol prefix '%s' is not a C name (choose one with --prefix)",
               b.prefix);
      ok = false;
    }
  }
  if (ok && a->train && !ir_find_output(b.model[0], IR_OUT_LOSS, NULL)) {
    tr_report_no_loss(&s->diag, "build: --train", b.model[0]);
    ok = false;
  }
  if (ok && !ir_find_output(b.model[0], IR_OUT_OUTPUT, NULL)) {
    mc_error(&s->diag, (McLoc){0}, "build: model '%s' has no output (add `output NAME`)",
             b.model[0]->name);
    ok = false;
  }
  if (ok && !cg_cpu_known(a->cpu)) {
    mc_error(&s->diag, (McLoc){0},
             "build: --target-cpu '%s': LLVM does not know this CPU (e.g. x86-64-v3, znver3, "
             "skylake-avx512)", a->cpu);
    ok = false;
  }
  CgOptions co = cg_options_default();
  co.cpu = a->cpu;
  co.threads = a->threads;
  ok = ok && make_program(s, &b, CLI_PROG_FORWARD, a, dir, &co);
  /* the apply program's params are those the gradient program differentiates */
  for (int k = CLI_PROG_TRAIN; a->train && k < CLI_PROG_COUNT; k++)
    ok = ok && make_program(s, &b, k, a, dir, &co);
  ok = ok && cli_build_describe(s, &b);
  if (ok && a->weights) {
    b.weights_path = path_in(dir, "weights.bin");
    ok = write_weights(s, &b, a->weights, b.weights_path);
  }
  McStr c_text, h_text, j_text, s_text;
  mc_str_init(&c_text), mc_str_init(&h_text), mc_str_init(&j_text), mc_str_init(&s_text);
  char *header = a->header ? mc_xstrdup(a->header) : NULL;
  if (ok && !header) {
    McStr h;
    mc_str_init(&h);
    mc_str_printf(&h, "%s.h", b.prefix);
    header = beside(a->output, h.s);
    mc_str_free(&h);
  }
  char *manifest = a->manifest ? mc_xstrdup(a->manifest) : manifest_path(a->output);
  char *made = NULL;
  if (ok) {
    const char *hslash = strrchr(header, '/');
    b.header_name = hslash ? hslash + 1 : header;
    const char *lslash = strrchr(a->output, '/');
    b.library_name = lslash ? lslash + 1 : a->output;
    cli_build_emit_header(&h_text, &b);
    cli_build_emit_c(&c_text, &b);
    cli_build_emit_manifest(&j_text, &b);
    if (b.weights_path) cli_build_emit_weights_asm(&s_text, &b);
    char *hp = path_in(dir, "model.h"), *cp = path_in(dir, "model.c"), *sp = path_in(dir, "weights.s");
    ok = write_text(s, hp, &h_text) && write_text(s, cp, &c_text) &&
         (!b.weights_path || write_text(s, sp, &s_text)) && link_library(s, &b, dir, &made);
    free(hp), free(cp), free(sp);
  }
  /* the library last: a consumer that sees it sees its header too */
  if (ok) {
    char *hp = path_in(dir, "model.h");
    ok = write_text(s, manifest, &j_text) && install(s, hp, header) && install(s, made, a->output);
    free(hp);
  }
  int nkernels = 0;
  for (int k = 0; k < CLI_PROG_COUNT; k++) nkernels += b.programs[k].prog.nkernels;
  if (ok)
    fprintf(stderr, "modelc build: wrote %s, %s and %s (%d kernels%s%s)\n", a->output, header,
            manifest, nkernels, b.batch_name ? ", run-time batch " : "",
            b.batch_name ? b.batch_name : "");
  free(made);
  free(header);
  free(manifest);
  mc_str_free(&c_text), mc_str_free(&h_text), mc_str_free(&j_text), mc_str_free(&s_text);
  build_free(&b);
  return ok;
}

bool cli_build_file(CliSession *s, const char *file, const FeDefine *defines, int ndefines,
                    const CliBuildArgs *a) {
  CliBuildKind kind;
  if (!output_kind(a->output, &kind)) {
    mc_error(&s->diag, (McLoc){0}, "build: the output '%s' must end in .so, .o or .a", a->output);
    return false;
  }
  CliOpts o = {.file = file};
  mc_vec_init(&o.defines, sizeof(FeDefine));
  mc_arena_init(&o.arena);
  for (int i = 0; i < ndefines; i++) *(FeDefine *)mc_vec_push(&o.defines) = defines[i];
  char dir[4096];
  bool ok = make_temp_dir(s, a, dir, sizeof dir);
  if (ok) {
    ok = build(s, &o, a, dir);
    if (!a->keep) remove_dir(dir);
  }
  cli_opts_fini(&o);
  return ok;
}

int cli_build_main(const CliCommand *c, int argc, char **argv, int first) {
  CliBuildArgs a = {.optim = {.kind = PASS_OPTIM_ADAM}};
  char **rest = mc_xcalloc((size_t)argc + 1, sizeof *rest);
  int nrest, rc = CLI_USAGE;
  CliOpts o;
  bool parsed = cli_split_long_opts(c, build_opts, B_COUNT, set_build_option, &a, argc, argv,
                                    first, rest, &nrest);
  if (parsed && cli_opts_parse(&o, c, nrest, rest, 0)) {
    CliBuildKind kind;
    if (o.help) {
      cli_print_command_help(stdout, c);
      rc = CLI_OK;
    } else if (!o.output) {
      rc = cli_usage_error(c, "-o OUTPUT is required (libNAME.so, NAME.o or libNAME.a)");
    } else if (!output_kind(o.output, &kind)) {
      rc = cli_usage_error(c, "-o %s: the output must end in .so, .o or .a", o.output);
    } else if (a.optim.nesterov && a.optim.kind != PASS_OPTIM_SGD) {
      rc = cli_usage_error(c, "--nesterov applies to --optimizer sgd only");
    } else {
      a.output = o.output;
      CliSession s;
      cli_session_init(&s);
      bool ok = cli_build_file(&s, o.file, o.defines.data, (int)o.defines.len, &a);
      rc = ok ? CLI_OK : CLI_FAIL;
      cli_session_fini(&s);
    }
    cli_opts_fini(&o);
  }
  free(rest);
  return rc;
}
