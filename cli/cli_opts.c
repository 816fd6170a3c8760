/* cli_opts.c -- command-line options: one table of every option, parsed in
   the forms --opt=value, --opt value, -D NAME=VALUE, -DNAME=VALUE, -o OUT,
   -oOUT; values are validated here so commands see only sane options. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct OptSpec {
  const char *name;    /* long name without "--" */
  char short_name;     /* 0 = none */
  const char *metavar; /* NULL = a flag without value */
  const char *help;
} OptSpec;

static const OptSpec opt_specs[CLI_OPT_COUNT] = {
    [CLI_OPT_HELP] = {"help", 'h', NULL, "show this help"},
    [CLI_OPT_DEFINE] = {"define", 'D', "NAME=VALUE",
                        "override a model dim, e.g. -D B=2 (repeatable)"},
    [CLI_OPT_STAGE] = {"stage", 0, "forward|grad|step",
                       "which program to print (default forward)"},
    [CLI_OPT_PASSES] = {"passes", 0, "PIPELINE",
                        "comma-separated passes to run instead of the default"},
    [CLI_OPT_PRINT_AFTER] = {"print-after", 0, "NAME[,NAME]",
                             "also print the IR after these passes"},
    [CLI_OPT_PRINT_AFTER_ALL] = {"print-after-all", 0, NULL,
                                 "print the IR before the first pass and after each"},
    [CLI_OPT_FORMAT] = {"format", 0, "text|dot", "IR text (default) or Graphviz DOT"},
    [CLI_OPT_OUTPUT] = {"output", 'o', "OUT", "write the result to OUT instead of stdout"},
    [CLI_OPT_GRAD_INPUTS] = {"grad-inputs", 0, NULL,
                             "autodiff also differentiates w.r.t. float inputs"},
    [CLI_OPT_INPUTS] = {"inputs", 0, NULL, "also check the gradients w.r.t. float inputs"},
    [CLI_OPT_SEED] = {"seed", 0, "N", "seed for inputs, params and directions (default 0)"},
    [CLI_OPT_TOL] = {"tol", 0, "X", "largest accepted relative error (default 1e-6)"},
    [CLI_OPT_EMIT] = {"emit", 0, "ir|llvm|asm",
                      "print the IR (default), the optimized LLVM IR or the assembly"},
    [CLI_OPT_STATS] = {"stats", 0, NULL,
                       "JIT-compile forward and training step; print kernels, time, memory"},
    [CLI_OPT_FREEZE] = {"freeze", 0, "GLOB",
                        "hold matching params fixed, e.g. 'bert.*' (repeatable)"},
};

int cli_usage_error(const CliCommand *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, cmd ? "modelc %s: " : "modelc: ", cmd ? cmd->name : "");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (cmd)
    fprintf(stderr, "\nTry 'modelc help %s'.\n", cmd->name);
  else
    fputs("\nTry 'modelc help'.\n", stderr);
  return CLI_USAGE;
}

void cli_opts_print_help(FILE *f, unsigned mask) {
  for (int i = 0; i < CLI_OPT_COUNT; i++) {
    if (!(mask & CLI_OPT_BIT(i))) continue;
    const OptSpec *s = &opt_specs[i];
    const char *sep = s->metavar ? " " : "", *meta = s->metavar ? s->metavar : "";
    char left[64];
    if (s->short_name)
      snprintf(left, sizeof left, "-%c, --%s%s%s", s->short_name, s->name, sep, meta);
    else
      snprintf(left, sizeof left, "--%s%s%s", s->name, sep, meta);
    fprintf(f, "  %-26s %s\n", left, s->help);
  }
}

/* Finds a long option among those `cmd` accepts (name without "--"). */
static int find_long(const CliCommand *cmd, const char *name, size_t len) {
  for (int i = 0; i < CLI_OPT_COUNT; i++)
    if ((cmd->opts & CLI_OPT_BIT(i)) && strlen(opt_specs[i].name) == len &&
        strncmp(opt_specs[i].name, name, len) == 0)
      return i;
  return -1;
}

static int find_short(const CliCommand *cmd, char c) {
  for (int i = 0; i < CLI_OPT_COUNT; i++)
    if ((cmd->opts & CLI_OPT_BIT(i)) && opt_specs[i].short_name == c) return i;
  return -1;
}

static bool unknown_option(const CliCommand *cmd, const char *arg) {
  const char *best = NULL;
  int best_d = 3;
  const char *name = arg + strspn(arg, "-");
  size_t len = strcspn(name, "=");
  char buf[64];
  snprintf(buf, sizeof buf, "%.*s", (int)(len < 63 ? len : 63), name);
  for (int i = 0; i < CLI_OPT_COUNT; i++) {
    if (!(cmd->opts & CLI_OPT_BIT(i))) continue;
    int d = mc_edit_distance(buf, opt_specs[i].name);
    if (d < best_d) best_d = d, best = opt_specs[i].name;
  }
  if (best)
    cli_usage_error(cmd, "unknown option '%s' (did you mean '--%s'?)", arg, best);
  else
    cli_usage_error(cmd, "unknown option '%s'", arg);
  return false;
}

static bool parse_define(CliOpts *o, const char *v) {
  const char *eq = strchr(v, '=');
  if (!eq || eq == v) {
    cli_usage_error(o->cmd, "-D expects NAME=VALUE, got '%s'", v);
    return false;
  }
  char *end;
  errno = 0;
  long long n = strtoll(eq + 1, &end, 10);
  if (eq[1] == 0 || *end || errno || n < 0) {
    cli_usage_error(o->cmd, "-D %s: VALUE must be a non-negative integer", v);
    return false;
  }
  FeDefine *d = mc_vec_push(&o->defines);
  d->name = mc_arena_strndup(&o->arena, v, (size_t)(eq - v));
  d->value = n;
  return true;
}

bool cli_rename_arg(const CliCommand *c, const char *v, McVec *list) {
  const char *eq = strchr(v, '=');
  if (!eq || strchr(eq + 1, '=') || (eq == v && eq[1] == 0)) {
    cli_usage_error(c, "--rename expects OLD=NEW (name prefixes; either may be empty, not "
                    "both), got '%s'", v);
    return false;
  }
  *(const char **)mc_vec_push(list) = v;
  return true;
}

bool cli_positive_int(const CliCommand *c, const char *opt, const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (*v && !*end && !errno && n > 0) {
    *out = n;
    return true;
  }
  cli_usage_error(c, "--%s expects a positive integer, got '%s'", opt, v);
  return false;
}

bool cli_seed_value(const CliCommand *c, const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (*v >= '0' && *v <= '9' && !*end && !errno) {
    *out = n;
    return true;
  }
  cli_usage_error(c, "--seed expects a non-negative integer, got '%s'", v);
  return false;
}

static bool parse_seed(CliOpts *o, const char *v) { return cli_seed_value(o->cmd, v, &o->seed); }

static bool parse_tol(CliOpts *o, const char *v) {
  char *end;
  double x = strtod(v, &end);
  if (!*v || *end || !(x > 0) || !isfinite(x)) {
    cli_usage_error(o->cmd, "--tol expects a positive number, got '%s'", v);
    return false;
  }
  o->tol = x;
  return true;
}

/* v must be a, b or (when not NULL) c. */
static bool one_of(CliOpts *o, const char *opt, const char *v, const char *a, const char *b,
                   const char *c) {
  if (strcmp(v, a) == 0 || strcmp(v, b) == 0 || (c && strcmp(v, c) == 0)) return true;
  if (c)
    cli_usage_error(o->cmd, "--%s expects '%s', '%s' or '%s', got '%s'", opt, a, b, c, v);
  else
    cli_usage_error(o->cmd, "--%s expects '%s' or '%s', got '%s'", opt, a, b, v);
  return false;
}

/* Stores the value of option `id`; false after a usage error. */
static bool set_option(CliOpts *o, int id, const char *v) {
  switch ((CliOptId)id) {
  case CLI_OPT_HELP: o->help = true; return true;
  case CLI_OPT_DEFINE: return parse_define(o, v);
  case CLI_OPT_STAGE:
    o->stage = v;
    return one_of(o, "stage", v, "forward", "grad", "step");
  case CLI_OPT_EMIT:
    o->emit = v;
    return one_of(o, "emit", v, "ir", "llvm", "asm");
  case CLI_OPT_STATS: o->stats = true; return true;
  case CLI_OPT_PASSES: o->passes = v; return cli_check_pass_list(o->cmd, "passes", v, false);
  case CLI_OPT_PRINT_AFTER:
    o->print_after = v;
    return cli_check_pass_list(o->cmd, "print-after", v, true);
  case CLI_OPT_PRINT_AFTER_ALL: o->print_after_all = true; return true;
  case CLI_OPT_FORMAT: o->format = v; return one_of(o, "format", v, "text", "dot", NULL);
  case CLI_OPT_OUTPUT: o->output = v; return true;
  case CLI_OPT_GRAD_INPUTS:
  case CLI_OPT_INPUTS: o->grad_inputs = true; return true;
  case CLI_OPT_SEED: return parse_seed(o, v);
  case CLI_OPT_TOL: return parse_tol(o, v);
  case CLI_OPT_FREEZE: *(const char **)mc_vec_push(&o->freeze) = v; return true;
  case CLI_OPT_COUNT: break;
  }
  MC_UNREACHABLE();
}

static bool set_positional(CliOpts *o, const char *arg) {
  if (o->file) {
    cli_usage_error(o->cmd, "unexpected argument '%s' (only one %s expected)", arg,
                    o->cmd->needs_file ? "FILE" : "argument");
    return false;
  }
  o->file = arg;
  return true;
}

/* "--name=value" or "--name [value]"; *i advances over a consumed value. */
static bool parse_long(CliOpts *o, int argc, char **argv, int *i) {
  const char *arg = argv[*i], *name = arg + 2;
  const char *eq = strchr(name, '=');
  int id = find_long(o->cmd, name, eq ? (size_t)(eq - name) : strlen(name));
  if (id < 0) return unknown_option(o->cmd, arg);
  const OptSpec *s = &opt_specs[id];
  if (!s->metavar) {
    if (eq) {
      cli_usage_error(o->cmd, "option '--%s' takes no value", s->name);
      return false;
    }
    return set_option(o, id, NULL);
  }
  if (eq) return set_option(o, id, eq + 1);
  if (*i + 1 >= argc) {
    cli_usage_error(o->cmd, "option '--%s' needs a value (%s)", s->name, s->metavar);
    return false;
  }
  return set_option(o, id, argv[++*i]);
}

/* "-h", "-D NAME=VALUE", "-DNAME=VALUE", "-o OUT", "-oOUT". */
static bool parse_short(CliOpts *o, int argc, char **argv, int *i) {
  const char *arg = argv[*i];
  int id = find_short(o->cmd, arg[1]);
  if (id < 0) return unknown_option(o->cmd, arg);
  const OptSpec *s = &opt_specs[id];
  if (!s->metavar) {
    if (arg[2]) return unknown_option(o->cmd, arg);
    return set_option(o, id, NULL);
  }
  if (arg[2]) return set_option(o, id, arg + 2);
  if (*i + 1 >= argc) {
    cli_usage_error(o->cmd, "option '-%c' needs a value (%s)", s->short_name, s->metavar);
    return false;
  }
  return set_option(o, id, argv[++*i]);
}

bool cli_opts_parse(CliOpts *o, const CliCommand *cmd, int argc, char **argv, int first) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  o->stage = "forward";
  o->emit = "ir";
  o->format = "text";
  o->tol = 1e-6;
  mc_vec_init(&o->defines, sizeof(FeDefine));
  mc_vec_init(&o->freeze, sizeof(const char *));
  mc_arena_init(&o->arena);
  bool only_positional = false;
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    bool ok;
    if (only_positional || arg[0] != '-' || arg[1] == 0)
      ok = set_positional(o, arg);
    else if (strcmp(arg, "--") == 0)
      ok = only_positional = true;
    else if (arg[1] == '-')
      ok = parse_long(o, argc, argv, &i);
    else
      ok = parse_short(o, argc, argv, &i);
    if (!ok) return false;
    if (o->help) return true;
  }
  if (cmd->needs_file && !o->file) {
    cli_usage_error(cmd, "missing FILE");
    return false;
  }
  return true;
}

void cli_opts_fini(CliOpts *o) {
  mc_vec_free(&o->defines);
  mc_vec_free(&o->freeze);
  mc_arena_free(&o->arena);
}

/* ---- long options of commands that parse their own (train, build) ------------ */

/* Options that go through cli_opts_parse, for "did you mean". */
static const char *const shared_long_opts[] = {"help", "define", "freeze"};

static int find_long_opt(const CliLongOpt *opts, int nopts, const char *name, size_t len) {
  for (int i = 0; i < nopts; i++)
    if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return i;
  return -1;
}

static bool is_shared_long_opt(const char *name, size_t len) {
  for (size_t i = 0; i < MC_COUNTOF(shared_long_opts); i++)
    if (strlen(shared_long_opts[i]) == len && strncmp(shared_long_opts[i], name, len) == 0)
      return true;
  return false;
}

static bool unknown_long_opt(const CliCommand *c, const CliLongOpt *opts, int nopts,
                             const char *arg, const char *name, size_t len) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*s", (int)(len < 63 ? len : 63), name);
  const char *best = NULL;
  int best_d = 3;
  for (int i = 0; i < nopts + (int)MC_COUNTOF(shared_long_opts); i++) {
    const char *cand = i < nopts ? opts[i].name : shared_long_opts[i - nopts];
    int d = mc_edit_distance(buf, cand);
    if (d < best_d) best_d = d, best = cand;
  }
  if (best) cli_usage_error(c, "unknown option '%s' (did you mean '--%s'?)", arg, best);
  else cli_usage_error(c, "unknown option '%s'", arg);
  return false;
}

bool cli_split_long_opts(const CliCommand *c, const CliLongOpt *opts, int nopts, CliLongSet set,
                         void *ctx, int argc, char **argv, int first, char **rest, int *nrest) {
  *nrest = 0;
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      while (i < argc) rest[(*nrest)++] = argv[i++];
      break;
    }
    if (strncmp(arg, "--", 2) != 0) {
      rest[(*nrest)++] = argv[i];
      continue;
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int id = find_long_opt(opts, nopts, name, len);
    if (id < 0) {
      if (!is_shared_long_opt(name, len)) return unknown_long_opt(c, opts, nopts, arg, name, len);
      rest[(*nrest)++] = argv[i];
      continue;
    }
    const CliLongOpt *o = &opts[id];
    if (!o->metavar && eq) {
      cli_usage_error(c, "option '--%s' takes no value", o->name);
      return false;
    }
    if (o->metavar && !eq && i + 1 >= argc) {
      cli_usage_error(c, "option '--%s' needs a value (%s)", o->name, o->metavar);
      return false;
    }
    const char *v = o->metavar ? (eq ? eq + 1 : argv[++i]) : NULL;
    if (!set(c, ctx, id, v)) return false;
  }
  return true;
}

void cli_print_long_opts(FILE *f, const CliLongOpt *opts, int nopts) {
  for (int i = 0; i < nopts; i++) {
    const CliLongOpt *o = &opts[i];
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
             o->metavar ? o->metavar : "");
    fprintf(f, "  %-26s %s\n", left, o->help);
  }
}
