/* cli_generate.c -- `modelc generate`: samples text from a character-level
   model (examples/gpt.model) with weights from a safetensors file. It
   parses its options and drives a generator of the training layer
   (tr_generate.c), which the REPL's `generate` uses too. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  GEN_WEIGHTS, GEN_PROMPT, GEN_TOKENS, GEN_TEMPERATURE, GEN_TOP_K, GEN_SEED, GEN_THREADS,
  GEN_COUNT
} GenOptId;

static const CliLongOpt gen_opts[GEN_COUNT] = {
    [GEN_WEIGHTS] = {"weights", "CKPT", "params from a safetensors file, by name (required)"},
    [GEN_PROMPT] = {"prompt", "TEXT", "the text to continue (default: start from a newline)"},
    [GEN_TOKENS] = {"tokens", "N", "characters to generate (default 200)"},
    [GEN_TEMPERATURE] = {"temperature", "T",
                         "sample from softmax(logits / T); 0 = argmax (default 1)"},
    [GEN_TOP_K] = {"top-k", "K", "sample among the K most likely characters (default: all)"},
    [GEN_SEED] = {"seed", "N", "the sampling seed: same seed, same text (default 0)"},
    [GEN_THREADS] = {"threads", "N", "threads of the compiled code (default: all cores)"},
};

/* What the generate options said. */
typedef struct GenArgs {
  const char *weights;
  int64_t threads;
  TrSample s;
} GenArgs;

void cli_generate_print_options(FILE *f) { cli_print_long_opts(f, gen_opts, GEN_COUNT); }

/* --temperature: a finite number >= 0. */
static bool temperature_value(const CliCommand *c, const char *v, double *out) {
  char *end;
  double x = strtod(v, &end);
  if (*v && !*end && isfinite(x) && x >= 0) {
    *out = x;
    return true;
  }
  cli_usage_error(c, "--temperature expects a number >= 0, got '%s'", v);
  return false;
}

static bool set_gen_option(const CliCommand *c, void *ctx, int opt, const char *v) {
  GenArgs *a = ctx;
  const char *n = gen_opts[opt].name;
  switch ((GenOptId)opt) {
  case GEN_WEIGHTS: a->weights = v; return true;
  case GEN_PROMPT: a->s.prompt = v; return true;
  case GEN_TOKENS: return cli_positive_int(c, n, v, &a->s.tokens);
  case GEN_TEMPERATURE: return temperature_value(c, v, &a->s.temperature);
  case GEN_TOP_K: return cli_positive_int(c, n, v, &a->s.top_k);
  case GEN_SEED: return cli_seed_value(c, v, &a->s.seed);
  case GEN_THREADS: return cli_positive_int(c, n, v, &a->threads);
  case GEN_COUNT: break;
  }
  MC_UNREACHABLE();
}

/* Compiles the model, loads the weights, samples. */
static int generate(CliSession *s, const CliOpts *o, const GenArgs *a) {
  size_t len;
  char *text = cli_read_input(s, o->file, &len);
  if (!text) return CLI_FAIL;
  TrConfig tc = {.file = strcmp(o->file, "-") == 0 ? "<stdin>" : o->file, .text = text,
                 .defines = o->defines.data, .ndefines = (int)o->defines.len,
                 .threads = (int)(a->threads < 1024 ? a->threads : 0)};
  TrGenerator *g = tr_generator_new(&s->src, &s->diag, &tc);
  bool ok = g && tr_generator_load(g, a->weights) && tr_generate(g, &a->s);
  tr_generator_free(g);
  free(text);
  return ok ? CLI_OK : CLI_FAIL;
}

int cli_generate_main(const CliCommand *c, int argc, char **argv, int first) {
  GenArgs a = {.s = tr_sample_defaults()};
  char **rest = mc_xcalloc((size_t)argc + 1, sizeof *rest);
  int nrest, rc = CLI_USAGE;
  CliOpts o;
  bool parsed = cli_split_long_opts(c, gen_opts, GEN_COUNT, set_gen_option, &a, argc, argv, first,
                                    rest, &nrest);
  if (parsed && cli_opts_parse(&o, c, nrest, rest, 0)) {
    if (o.help) {
      cli_print_command_help(stdout, c);
      rc = CLI_OK;
    } else if (!a.weights) {
      rc = cli_usage_error(c, "missing --weights CKPT (the model's trained params)");
    } else {
      CliSession s;
      cli_session_init(&s);
      rc = generate(&s, &o, &a);
      cli_session_fini(&s);
    }
  }
  if (parsed) cli_opts_fini(&o);
  free(rest);
  return rc;
}
