/* cli_grad.c -- `modelc grad`: the loss, the outputs and every param's
   gradient at given weights on one batch of given data, written to a
   safetensors file. It parses its options and drives a training session
   (cli_trainer.c), which loads the weights (as train --init-from) and the
   data and runs the gradient program; comparing a model with another
   implementation (tests/parity) starts here. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "rt.h"

typedef enum { G_WEIGHTS, G_RENAME, G_DATA, G_BATCH, G_SEED, G_THREADS, G_F64, G_COUNT } GradOptId;

static const CliLongOpt grad_opts[G_COUNT] = {
    [G_WEIGHTS] = {"weights", "CKPT", "params from a safetensors file, by name (as train --init-from)"},
    [G_RENAME] = {"rename", "OLD=NEW", "--weights: read names starting OLD as NEW (repeatable)"},
    [G_DATA] = {"data", "NAME=PATH[,K=V]", "feed input NAME from a file (repeatable, data.md)"},
    [G_BATCH] = {"batch", "N", "batch size: binds the model's batch dim, like -D B=N"},
    [G_SEED] = {"seed", "N", "params not in --weights, random data (default 0)"},
    [G_THREADS] = {"threads", "N", "threads of the compiled code (default: all cores)"},
    [G_F64] = {"f64", NULL, "compute with the reference evaluator in f64 instead of the JIT"},
};

/* What the grad options said. */
typedef struct GradArgs {
  McVec data;   /* of const char *: the NAME=PATH arguments */
  McVec rename; /* of const char *: OLD=NEW */
  const char *weights;
  int64_t batch, threads;
  uint64_t seed;
  bool f64;
} GradArgs;

void cli_grad_print_options(FILE *f) { cli_print_long_opts(f, grad_opts, G_COUNT); }

/* --data: the syntax is checked here so that a bad one is a usage error. */
static bool data_arg(const CliCommand *c, const char *v, McVec *list) {
  RtDataArg d;
  RtError e = {{0}};
  if (!rt_data_arg_parse(v, &d, &e)) {
    cli_usage_error(c, "--data %s: %s", v, e.msg);
    return false;
  }
  *(const char **)mc_vec_push(list) = v;
  return true;
}

static bool set_grad_option(const CliCommand *c, void *ctx, int opt, const char *v) {
  GradArgs *a = ctx;
  const char *n = grad_opts[opt].name;
  switch ((GradOptId)opt) {
  case G_WEIGHTS: a->weights = v; return true;
  case G_RENAME: return cli_rename_arg(c, v, &a->rename);
  case G_DATA: return data_arg(c, v, &a->data);
  case G_BATCH: return cli_positive_int(c, n, v, &a->batch);
  case G_SEED: return cli_seed_value(c, v, &a->seed);
  case G_THREADS: return cli_positive_int(c, n, v, &a->threads);
  case G_F64: a->f64 = true; return true;
  case G_COUNT: break;
  }
  MC_UNREACHABLE();
}

/* Compiles the model, loads weights and data, writes the gradients. */
static int grad(CliSession *s, const CliOpts *o, const GradArgs *a) {
  size_t len;
  char *text = cli_read_input(s, o->file, &len);
  if (!text) return CLI_FAIL;
  TrConfig tc = {
      .file = strcmp(o->file, "-") == 0 ? "<stdin>" : o->file, .text = text,
      .defines = o->defines.data, .ndefines = (int)o->defines.len, .batch = a->batch,
      .freeze = o->freeze.data, .nfreeze = (int)o->freeze.len,
      .rename = a->rename.data, .nrename = (int)a->rename.len,
      .optim = {.kind = PASS_OPTIM_SGD}, .hyper = pass_optim_defaults(PASS_OPTIM_SGD),
      .seed = a->seed, .seed_given = true, .out = stdout,
      .threads = (int)(a->threads < 1024 ? a->threads : 0)};
  TrTrainer *t = tr_trainer_new(&s->src, &s->diag, &tc);
  bool ok = t && (!a->weights || tr_trainer_init_from(t, a->weights));
  for (size_t i = 0; ok && i < a->data.len; i++)
    ok = tr_trainer_add_data(t, MC_VEC_AT(&a->data, const char *, i), false);
  ok = ok && tr_trainer_load_data(t) && tr_trainer_save_grads(t, o->output, a->f64);
  tr_trainer_free(t);
  free(text);
  return ok ? CLI_OK : CLI_FAIL;
}

int cli_grad_main(const CliCommand *c, int argc, char **argv, int first) {
  GradArgs a = {0};
  mc_vec_init(&a.data, sizeof(const char *));
  mc_vec_init(&a.rename, sizeof(const char *));
  char **rest = mc_xcalloc((size_t)argc + 1, sizeof *rest);
  int nrest, rc = CLI_USAGE;
  CliOpts o;
  bool parsed =
      cli_split_long_opts(c, grad_opts, G_COUNT, set_grad_option, &a, argc, argv, first, rest, &nrest);
  if (parsed && cli_opts_parse(&o, c, nrest, rest, 0)) {
    if (o.help) {
      cli_print_command_help(stdout, c);
      rc = CLI_OK;
    } else if (!o.output) {
      rc = cli_usage_error(c, "missing -o OUT.safetensors (where the gradients go)");
    } else {
      CliSession s;
      cli_session_init(&s);
      rc = grad(&s, &o, &a);
      cli_session_fini(&s);
    }
  }
  if (parsed) cli_opts_fini(&o);
  free(rest);
  mc_vec_free(&a.data);
  mc_vec_free(&a.rename);
  return rc;
}
