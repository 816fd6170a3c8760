/* cli_train.c -- `modelc train`: parses the training options (the shared
   ones, -D and --help, go through cli_opts_parse), handles Ctrl-C
   (the first stops after the current step and saves, the second exits at
   once with 130) and drives a training session (cli_trainer.c). */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

#define EXIT_INTERRUPTED 130

typedef enum {
  T_DATA, T_EVAL, T_EPOCHS, T_STEPS, T_BATCH, T_OPTIMIZER, T_LR, T_MOMENTUM, T_NESTEROV,
  T_WEIGHT_DECAY, T_BETAS, T_EPS, T_CLIP_NORM, T_SEED, T_THREADS, T_SAVE, T_RESUME,
  T_INIT_FROM, T_RENAME, T_HOLDOUT, T_LIMIT, T_F64, T_COUNT
} TrainOptId;

static const CliLongOpt train_opts[T_COUNT] = {
    [T_DATA] = {"data", "NAME=PATH[,K=V]", "feed input NAME from a file (repeatable, data.md)"},
    [T_EVAL] = {"eval", "NAME=PATH[,K=V]", "evaluation data for input NAME (repeatable)"},
    [T_EPOCHS] = {"epochs", "N", "train until N epochs are done (default 1)"},
    [T_STEPS] = {"steps", "N", "train until N optimizer steps are done"},
    [T_BATCH] = {"batch", "N", "batch size: binds the model's batch dim, like -D B=N"},
    [T_OPTIMIZER] = {"optimizer", "sgd|adam|adamw", "the optimizer (default adam)"},
    [T_LR] = {"lr", "X", "learning rate (adam, adamw 1e-3; sgd 0.01)"},
    [T_MOMENTUM] = {"momentum", "X", "sgd momentum (default 0)"},
    [T_NESTEROV] = {"nesterov", NULL, "sgd with Nesterov momentum"},
    [T_WEIGHT_DECAY] = {"weight-decay", "X", "weight decay (default 0; adamw 1e-2)"},
    [T_BETAS] = {"betas", "B1,B2", "adam/adamw betas (default 0.9,0.999)"},
    [T_EPS] = {"eps", "X", "adam/adamw eps (default 1e-8)"},
    [T_CLIP_NORM] = {"clip-norm", "X", "clip the gradients' global 2-norm to X"},
    [T_SEED] = {"seed", "N", "params, data order, split, random data (default 0)"},
    [T_THREADS] = {"threads", "N", "threads of the compiled code (default: all cores)"},
    [T_SAVE] = {"save", "PATH", "checkpoint (safetensors) after each epoch and at the end"},
    [T_RESUME] = {"resume", "PATH", "continue from a checkpoint written by --save"},
    [T_INIT_FROM] = {"init-from", "PATH", "start from the params of a safetensors file (by name)"},
    [T_RENAME] = {"rename", "OLD=NEW", "--init-from: read names starting OLD as NEW (repeatable)"},
    [T_HOLDOUT] = {"holdout", "FRACTION", "hold out this fraction of the data for evaluation"},
    [T_LIMIT] = {"limit", "N", "use only the first N samples of every data file"},
    [T_F64] = {"f64", NULL, "steps by the reference evaluator in f64 (slow; for checks)"},
};

/* What the train options said. */
typedef struct TrainArgs {
  McVec data, eval;            /* of const char *: the NAME=PATH arguments */
  McVec rename;                /* of const char *: OLD=NEW */
  int64_t epochs, steps, batch, threads, limit;
  const char *optimizer;       /* NULL = adam */
  double lr, momentum, weight_decay, beta1, beta2, eps, clip_norm, holdout;  /* NaN = unset */
  uint64_t seed;
  bool nesterov, seed_given, f64;
  const char *save, *resume, *init_from;
} TrainArgs;

void cli_train_print_options(FILE *f) { cli_print_long_opts(f, train_opts, T_COUNT); }

/* ---- option values ------------------------------------------------------------- */

/* A finite number >= lo (> lo when strict) and < hi. */
static bool number_in(const CliCommand *c, const char *opt, const char *v, double lo, bool strict,
                      double hi, double *out) {
  char *end;
  double x = strtod(v, &end);
  if (*v && !*end && isfinite(x) && (strict ? x > lo : x >= lo) && x < hi) {
    *out = x;
    return true;
  }
  if (isinf(hi))
    cli_usage_error(c, "--%s expects a number %s %g, got '%s'", opt, strict ? ">" : ">=", lo, v);
  else
    cli_usage_error(c, "--%s expects a number in %c%g, %g), got '%s'", opt, strict ? '(' : '[',
                    lo, hi, v);
  return false;
}

static bool parse_seed(const CliCommand *c, const char *v, TrainArgs *a) {
  return a->seed_given = cli_seed_value(c, v, &a->seed);
}

static bool parse_betas(const CliCommand *c, const char *v, TrainArgs *a) {
  const char *comma = strchr(v, ',');
  char first[64];
  if (comma && (size_t)(comma - v) < sizeof first) {
    snprintf(first, sizeof first, "%.*s", (int)(comma - v), v);
    char *e1, *e2;
    double b1 = strtod(first, &e1), b2 = strtod(comma + 1, &e2);
    if (*first && !*e1 && comma[1] && !*e2 && b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1) {
      a->beta1 = b1;
      a->beta2 = b2;
      return true;
    }
  }
  cli_usage_error(c, "--betas expects B1,B2 with each in [0, 1), got '%s'", v);
  return false;
}

/* --data/--eval: the syntax is checked here so that a bad one is a usage error. */
static bool data_arg(const CliCommand *c, const char *opt, const char *v, McVec *list) {
  RtDataArg a;
  RtError e = {{0}};
  if (!rt_data_arg_parse(v, &a, &e)) {
    cli_usage_error(c, "--%s %s: %s", opt, v, e.msg);
    return false;
  }
  *(const char **)mc_vec_push(list) = v;
  return true;
}

static bool set_train_option(const CliCommand *c, void *ctx, int opt, const char *v) {
  TrainArgs *a = ctx;
  TrainOptId id = (TrainOptId)opt;
  const char *n = train_opts[id].name;
  switch (id) {
  case T_DATA: return data_arg(c, n, v, &a->data);
  case T_EVAL: return data_arg(c, n, v, &a->eval);
  case T_EPOCHS: return cli_positive_int(c, n, v, &a->epochs);
  case T_STEPS: return cli_positive_int(c, n, v, &a->steps);
  case T_BATCH: return cli_positive_int(c, n, v, &a->batch);
  case T_THREADS: return cli_positive_int(c, n, v, &a->threads);
  case T_LIMIT: return cli_positive_int(c, n, v, &a->limit);
  case T_OPTIMIZER: {
    PassOptimKind k;
    a->optimizer = v;
    if (pass_optim_kind_from_name(v, &k)) return true;
    cli_usage_error(c, "--optimizer expects sgd, adam or adamw, got '%s'", v);
    return false;
  }
  case T_LR: return number_in(c, n, v, 0, true, INFINITY, &a->lr);
  case T_MOMENTUM: return number_in(c, n, v, 0, false, INFINITY, &a->momentum);
  case T_NESTEROV: a->nesterov = true; return true;
  case T_WEIGHT_DECAY: return number_in(c, n, v, 0, false, INFINITY, &a->weight_decay);
  case T_BETAS: return parse_betas(c, v, a);
  case T_EPS: return number_in(c, n, v, 0, false, INFINITY, &a->eps);
  case T_CLIP_NORM: return number_in(c, n, v, 0, true, INFINITY, &a->clip_norm);
  case T_SEED: return parse_seed(c, v, a);
  case T_HOLDOUT: return number_in(c, n, v, 0, false, 1, &a->holdout);
  case T_SAVE: a->save = v; return true;
  case T_RESUME: a->resume = v; return true;
  case T_INIT_FROM: a->init_from = v; return true;
  case T_RENAME: return cli_rename_arg(c, v, &a->rename);
  case T_F64: a->f64 = true; return true;
  case T_COUNT: break;
  }
  MC_UNREACHABLE();
}

/* ---- the configuration ------------------------------------------------------------------- */

/* Options that do not apply to the chosen optimizer are usage errors. */
static bool check_optimizer_opts(const CliCommand *c, const TrainArgs *a, PassOptimKind k) {
  bool sgd = k == PASS_OPTIM_SGD;
  const char *bad = !sgd && !isnan(a->momentum) ? "--momentum"
                    : !sgd && a->nesterov       ? "--nesterov"
                    : sgd && !isnan(a->beta1)   ? "--betas"
                    : sgd && !isnan(a->eps)     ? "--eps"
                                                : NULL;
  if (bad) {
    cli_usage_error(c, "%s does not apply to --optimizer %s", bad, pass_optim_kind_name(k));
    return false;
  }
  if (a->nesterov && !(a->momentum > 0)) {
    cli_usage_error(c, "--nesterov needs a --momentum above 0");
    return false;
  }
  return true;
}

static bool make_config(const CliCommand *c, const TrainArgs *a, TrConfig *tc) {
  if (a->rename.len && !a->init_from) {
    cli_usage_error(c, "--rename applies to --init-from's names: give --init-from");
    return false;
  }
  tc->rename = a->rename.data;
  tc->nrename = (int)a->rename.len;
  if (a->resume && a->init_from) {
    cli_usage_error(c, "--init-from starts a new training run and --resume continues one: "
                    "give one of them");
    return false;
  }
  PassOptimKind k = PASS_OPTIM_ADAM;
  if (a->optimizer) pass_optim_kind_from_name(a->optimizer, &k);
  if (!check_optimizer_opts(c, a, k)) return false;
  tc->optim = (PassOptim){
      .kind = k, .nesterov = a->nesterov, .clip_grad_norm = !isnan(a->clip_norm)};
  PassOptimHyper h = pass_optim_defaults(k);
  if (k == PASS_OPTIM_SGD) h.lr = 0.01;
  if (!isnan(a->lr)) h.lr = a->lr;
  if (!isnan(a->momentum)) h.momentum = a->momentum;
  if (!isnan(a->weight_decay)) h.weight_decay = a->weight_decay;
  if (!isnan(a->beta1)) h.beta1 = a->beta1, h.beta2 = a->beta2;
  if (!isnan(a->eps)) h.eps = a->eps;
  if (!isnan(a->clip_norm)) h.max_norm = a->clip_norm;
  tc->hyper = h;
  tc->batch = a->batch;
  tc->threads = (int)(a->threads > 0 && a->threads < 1024 ? a->threads : 0);
  tc->holdout = isnan(a->holdout) ? 0 : a->holdout;
  tc->limit = a->limit;
  tc->save = a->save;
  tc->seed = a->seed;
  tc->seed_given = a->seed_given;
  tc->f64 = a->f64;
  return true;
}

/* ---- Ctrl-C ------------------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
  (void)sig;
  if (interrupted) {
    static const char msg[] = "\nmodelc train: interrupted again: exiting now\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(EXIT_INTERRUPTED);
  }
  interrupted = 1;
}

static void install_sigint(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}

/* ---- the command ---------------------------------------------------------------------------- */

static bool add_all(TrTrainer *t, const McVec *list, bool eval) {
  for (size_t i = 0; i < list->len; i++)
    if (!tr_trainer_add_data(t, MC_VEC_AT(list, const char *, i), eval)) return false;
  return true;
}

/* Compiles, loads, resumes, trains and reports as one rank; the exit code. */
static int train_ranked(CliSession *s, const CliOpts *o, const TrainArgs *a, TrConfig *tc) {
  size_t len;
  char *text = cli_read_input(s, o->file, &len);
  if (!text) return CLI_FAIL;
  tc->file = strcmp(o->file, "-") == 0 ? "<stdin>" : o->file;
  tc->text = text;
  tc->defines = o->defines.data;
  tc->ndefines = (int)o->defines.len;
  tc->freeze = o->freeze.data;
  tc->nfreeze = (int)o->freeze.len;
  TrTrainer *t = tr_trainer_new(&s->src, &s->diag, tc);
  bool ok = t && (!a->resume || tr_trainer_resume(t, a->resume)) &&
            (!a->init_from || tr_trainer_init_from(t, a->init_from)) &&
            add_all(t, &a->data, false) && add_all(t, &a->eval, true) &&
            tr_trainer_load_data(t) && (!tc->save || tr_trainer_check_save(t, tc->save));
  int rc = ok ? CLI_OK : CLI_FAIL;
  if (ok) {
    int64_t epochs = a->epochs ? a->epochs : a->steps ? 0 : 1;
    TrStatus st = tr_trainer_run(t, epochs, a->steps);
    if (st == TR_STOPPED) {
      fprintf(stderr, "modelc train: interrupted after step %lld%s%s\n",
              (long long)tr_trainer_step(t), a->save ? "; saved " : "", a->save ? a->save : "");
      rc = EXIT_INTERRUPTED;
    } else if (st == TR_ERROR || !tr_trainer_report(t)) {
      rc = CLI_FAIL;
    }
  }
  tr_trainer_free(t);
  free(text);
  return rc;
}

/* Under mpirun, ranks other than 0 train silently and save nothing. */
static FILE *quiet_rank(TrConfig *tc, const TrDist *dist) {
  tc->dist = dist;
  if (dist->rank == 0) return NULL;
  FILE *null = fopen("/dev/null", "w");
  tc->out = null ? null : tc->out;
  tc->progress = NULL;
  tc->save = NULL;
  return null;
}

/* Compiles, loads, resumes, trains and reports; the exit code. */
static int train(CliSession *s, const CliOpts *o, const TrainArgs *a, TrConfig *tc) {
  TrDist dist;
  if (!tr_dist_init(&dist, &s->diag)) return CLI_FAIL;
  FILE *null = quiet_rank(tc, &dist);
  int rc = train_ranked(s, o, a, tc);
  if (null) fclose(null);
  tr_dist_finish(&dist);
  return rc;
}

int cli_train_main(const CliCommand *c, int argc, char **argv, int first) {
  TrainArgs a = {.lr = NAN, .momentum = NAN, .weight_decay = NAN, .beta1 = NAN, .beta2 = NAN,
                 .eps = NAN, .clip_norm = NAN, .holdout = NAN};
  mc_vec_init(&a.data, sizeof(const char *));
  mc_vec_init(&a.eval, sizeof(const char *));
  mc_vec_init(&a.rename, sizeof(const char *));
  char **rest = mc_xcalloc((size_t)argc + 1, sizeof *rest);
  int nrest, rc = CLI_USAGE;
  CliOpts o;
  bool parsed = cli_split_long_opts(c, train_opts, T_COUNT, set_train_option, &a, argc, argv, first,
                                    rest, &nrest);
  if (parsed && cli_opts_parse(&o, c, nrest, rest, 0)) {
    TrConfig tc = {.out = stdout, .progress = stderr,
                         .progress_tty = isatty(STDERR_FILENO), .stop = &interrupted};
    if (o.help) {
      cli_print_command_help(stdout, c);
      rc = CLI_OK;
    } else if (make_config(c, &a, &tc)) {
      CliSession s;
      cli_session_init(&s);
      install_sigint();
      rc = train(&s, &o, &a, &tc);
      cli_session_fini(&s);
    }
  }
  if (parsed) cli_opts_fini(&o);
  free(rest);
  mc_vec_free(&a.data);
  mc_vec_free(&a.eval);
  mc_vec_free(&a.rename);
  return rc;
}
