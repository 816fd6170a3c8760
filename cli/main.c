/* main.c -- the `modelc` driver: the command table, help, --version and
   dispatch. Exit codes: 0 success, 1 user error (bad model, failed check),
   2 usage error. */
#include "cli.h"

#include <string.h>

#include "cg.h"

static int cmd_help(CliOpts *o);

#define DUMP_OPTS                                                                                  \
  (CLI_OPT_BIT(CLI_OPT_PASSES) | CLI_OPT_BIT(CLI_OPT_PRINT_AFTER) |                                \
   CLI_OPT_BIT(CLI_OPT_PRINT_AFTER_ALL) | CLI_OPT_BIT(CLI_OPT_FORMAT) |                            \
   CLI_OPT_BIT(CLI_OPT_OUTPUT) | CLI_OPT_BIT(CLI_OPT_GRAD_INPUTS))

static const CliCommand commands[] = {
    {"check", "FILE [-D NAME=VALUE ...]", "compile a model and print a summary of it",
     "Compiles a .model file (FILE '-' reads stdin) and prints its name, inputs,\n"
     "outputs, loss and the number of params and weights. Errors are printed as\n"
     "file:line:col: error: ... with the source line and a caret; exit 1.",
     CLI_OPT_BIT(CLI_OPT_HELP) | CLI_OPT_BIT(CLI_OPT_DEFINE) | CLI_OPT_BIT(CLI_OPT_FREEZE), true,
     cli_check, NULL, NULL},
    {"dump", "FILE [OPTIONS]", "print a model's IR: the forward graph or the gradient program",
     "Compiles a .model file (FILE '-' reads stdin) and prints its IR as text\n"
     "or Graphviz DOT:\n"
     "  --stage forward  the front end's graph after " PASS_PIPELINE_FORWARD "\n"
     "  --stage grad     the gradient program, after " PASS_PIPELINE_GRAD "\n"
     "  --stage step     the training step (gradient + SGD update), after\n"
     "                   " PASS_PIPELINE_TRAIN "\n"
     "--emit llvm|asm prints the optimized LLVM IR or the host assembly of the\n"
     "program instead; --stats JIT-compiles the forward program and the training\n"
     "step and prints their kernels, compile time and planned memory.\n"
     "--passes replaces the stage's pipeline ('' runs no pass). A header comment\n"
     "lists the source files by id, so loc(FILE:LINE:COL) can be read.",
     CLI_OPT_BIT(CLI_OPT_HELP) | CLI_OPT_BIT(CLI_OPT_DEFINE) | CLI_OPT_BIT(CLI_OPT_FREEZE) |
         CLI_OPT_BIT(CLI_OPT_STAGE) |
         CLI_OPT_BIT(CLI_OPT_EMIT) | CLI_OPT_BIT(CLI_OPT_STATS) | DUMP_OPTS,
     true, cli_dump, NULL, NULL},
    {"opt", "FILE.mir [OPTIONS]", "run passes over IR text and print the result",
     "Parses IR text (FILE '-' reads stdin), verifies it, runs the --passes\n"
     "pipeline (none by default) verifying after each pass, and prints the IR.",
     CLI_OPT_BIT(CLI_OPT_HELP) | DUMP_OPTS, true, cli_opt, NULL, NULL},
    {"gradcheck", "FILE [OPTIONS]", "check the gradient program against finite differences",
     "Compiles a model, builds its gradient program with the pipeline\n"
     "  " PASS_PIPELINE_GRAD "\n"
     "(or --passes) and evaluates everything in f64 at one point p: inputs drawn\n"
     "from --seed (floats ~ N(0,1), integers uniform over the range their uses\n"
     "allow), params from their initializers. For each param tensor (and float\n"
     "input, with --inputs) it draws a seeded random unit direction u and compares\n"
     "  ad = <gradient, u>                       from the gradient program\n"
     "  fd = (4 D(h/2) - D(h)) / 3               Richardson extrapolation of\n"
     "  D(h) = (L(p + h u) - L(p - h u)) / 2h    central differences of the loss\n"
     "with h = 1e-2 * max(1, |p|) (|p| the Euclidean norm of the tensor). L is\n"
     "the forward graph with each non-smooth op (relu, abs, max, maximum,\n"
     "minimum, comparisons) held on the branch it takes at p, so steps never\n"
     "straddle a kink. It prints one row per tensor with the relative error\n"
     "|fd - ad| / max(|fd|, |ad|, |g| / sqrt(n), 1e-12), |g| / sqrt(n) being the\n"
     "size <gradient, u> typically has along a random unit direction (n elements;\n"
     "it keeps a direction that happens to be nearly orthogonal to the gradient\n"
     "from dividing the differences' own error by a near-zero), then the worst\n"
     "one, and passes (exit 0) when every relative error is below --tol.",
     CLI_OPT_BIT(CLI_OPT_HELP) | CLI_OPT_BIT(CLI_OPT_DEFINE) | CLI_OPT_BIT(CLI_OPT_PASSES) |
         CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_TOL) | CLI_OPT_BIT(CLI_OPT_INPUTS),
     true, cli_gradcheck, NULL, NULL},
    {"train", "FILE [--data NAME=PATH[,KEY=VALUE] ...] [OPTIONS]",
     "train a model on data files with the compiled training step",
     "Compiles the model's training step (forward pass, gradient and optimizer\n"
     "update: " PASS_PIPELINE_TRAIN ")\n"
     "and its forward pass with LLVM, then trains: each --data file feeds the\n"
     "model input NAME (docs/data.md), samples are shuffled per (seed, epoch),\n"
     "the last partial batch is dropped. Without --data, a model whose inputs are\n"
     "all float trains on seeded N(0,1) random data. Progress goes to stderr; one\n"
     "line per epoch (train loss, then loss and accuracy on --holdout and --eval\n"
     "data) and a final accuracy line go to stdout. Ctrl-C stops after the\n"
     "current step and saves (exit 130); a second Ctrl-C exits at once.\n"
     "Defaults follow torch.optim: adam lr 1e-3 betas 0.9,0.999 eps 1e-8;\n"
     "sgd lr 0.01; adamw weight decay 1e-2. Same seed, data and --threads give\n"
     "bit-identical params. --f64 runs each step with the reference evaluator\n"
     "in f64 instead (params and optimizer state held and saved in f64), to\n"
     "compare with an f64 reference such as torch's. See docs/train.md.",
     CLI_OPT_BIT(CLI_OPT_HELP) | CLI_OPT_BIT(CLI_OPT_DEFINE) | CLI_OPT_BIT(CLI_OPT_FREEZE), true,
     NULL, cli_train_main,
     cli_train_print_options},
    {"grad", "FILE -o OUT.safetensors [--weights CKPT] [--data NAME=PATH ...] [OPTIONS]",
     "write the loss, outputs and gradients at given weights on one batch",
     "Compiles the model's gradient program (" PASS_PIPELINE_GRAD ")\n"
     "and runs it once: params from --weights (a safetensors file, matched by\n"
     "name as 'modelc train --init-from' does; the others from their initializers\n"
     "and --seed), inputs from the first batch of the --data files in file order\n"
     "(no shuffling; without --data, seeded random data as train uses). Writes a\n"
     "safetensors file with the loss ('loss'), every output under its name and\n"
     "the gradient of every param P as 'grad.P', in the model's dtypes; with\n"
     "--f64 the reference evaluator computes everything in f64 instead. Prints\n"
     "one line with the loss. See docs/train.md.",
     CLI_OPT_BIT(CLI_OPT_HELP) | CLI_OPT_BIT(CLI_OPT_DEFINE) | CLI_OPT_BIT(CLI_OPT_OUTPUT) |
         CLI_OPT_BIT(CLI_OPT_FREEZE), true, NULL, cli_grad_main, cli_grad_print_options},
    {"generate", "FILE --weights CKPT [--prompt TEXT] [--tokens N] [OPTIONS]",
     "sample text from a character-level model such as examples/gpt.model",
     "Compiles the model's logits at batch 1 in eval mode (" PASS_PIPELINE_FORWARD ")\n"
     "with params from --weights (a safetensors file, matched by name as\n"
     "'modelc train --init-from' does) and writes the prompt, then --tokens\n"
     "characters, each as soon as it is sampled, then a newline. The model needs\n"
     "one i32 input [B, T] of character ids (newline, then ' '..'~': 96 ids; a\n"
     "tab reads as a space) and a float output [B, T, 96] (the output 'logits',\n"
     "else the first of that shape); other inputs the logits read get zeros.\n"
     "The batch dim is bound to 1. The last T characters of the text fill\n"
     "positions 0..n-1 and the next one is drawn from the logits at position\n"
     "n-1 (exact for a causal model): from softmax(logits / temperature) over\n"
     "the --top-k largest, by a counter-based RNG seeded by --seed, so the same\n"
     "seed gives the same text; --temperature 0 takes the most likely one. An\n"
     "empty --prompt starts from a newline (not printed). A summary line goes to\n"
     "stderr. See docs/train.md.",
     CLI_OPT_BIT(CLI_OPT_HELP) | CLI_OPT_BIT(CLI_OPT_DEFINE), true, NULL, cli_generate_main,
     cli_generate_print_options},
    {"build", "FILE -o libNAME.so|NAME.o|libNAME.a [OPTIONS]",
     "compile a model into a library callable from C and Python",
     "Compiles the model's forward pass (its outputs) and, with --train, its\n"
     "training step ahead of time into a shared object (-o libNAME.so), an object\n"
     "file (NAME.o) or a static archive (libNAME.a) that needs only libc, libm and\n"
     "pthreads, with a C header and a JSON manifest beside it. Every exported\n"
     "symbol starts with the model's name (--prefix changes it). A dim the model\n"
     "marks as its batch (`B = batch(64)`) is bound per call; -D fixes the others.\n"
     "Params come from --weights (embedded) or from the seed the caller gives at\n"
     "run time. The system C compiler ($CC, default cc) links the library. See\n"
     "docs/aot.md.",
     CLI_OPT_BIT(CLI_OPT_HELP) | CLI_OPT_BIT(CLI_OPT_DEFINE) | CLI_OPT_BIT(CLI_OPT_OUTPUT), true,
     NULL, cli_build_main, cli_build_print_options},
    {"repl", "[FILE]", "an interactive session: load, train, inspect and evaluate a model",
     "Starts an interactive session (line editing, history in ~/.modelc_history or\n"
     "$MODELC_HISTORY, tab completion) over the model FILE, if given. Type 'help'\n"
     "at the prompt for its commands. Commands read from a pipe or a file run in\n"
     "order and are echoed with their results; the exit status is 1 if any\n"
     "command failed. See docs/repl.md.",
     CLI_OPT_BIT(CLI_OPT_HELP), false, NULL, cli_repl_main, NULL},
    {"help", "[COMMAND]", "show help for modelc or one command",
     "Prints the list of commands, or the usage and options of COMMAND.", CLI_OPT_BIT(CLI_OPT_HELP),
     false, cmd_help, NULL, NULL},
};

const CliCommand *cli_find_command(const char *name) {
  for (size_t i = 0; i < MC_COUNTOF(commands); i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static void print_general_help(FILE *f) {
  fputs("modelc - a compiler for neural-network models\n\n"
        "Usage: modelc COMMAND [OPTIONS] FILE\n\nCommands:\n",
        f);
  for (size_t i = 0; i < MC_COUNTOF(commands); i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\nOptions:\n"
        "  -h, --help    show this help (or a command's, after COMMAND)\n"
        "  --version     show the versions of modelc and LLVM and the host CPU\n\n"
        "Run 'modelc help COMMAND' for the options of a command.\n",
        f);
}

static void print_passes(FILE *f) {
  fputs("\nPasses:\n", f);
  for (int i = 0; i < pass_count; i++)
    fprintf(f, "  %-10s %s\n", pass_table[i].name, pass_table[i].summary);
}

static void print_command_help(FILE *f, const CliCommand *c) {
  fprintf(f, "Usage: modelc %s %s\n\n%s\n", c->name, c->args, c->description);
  if (c->opts & ~CLI_OPT_BIT(CLI_OPT_HELP) || c->print_options) {
    fputs("\nOptions:\n", f);
    if (c->print_options) c->print_options(f);
    cli_opts_print_help(f, c->opts);
  }
  if (c->opts & CLI_OPT_BIT(CLI_OPT_PASSES)) print_passes(f);
}

void cli_print_command_help(FILE *f, const CliCommand *c) { print_command_help(f, c); }

static int cmd_help(CliOpts *o) {
  if (!o->file) {
    print_general_help(stdout);
    return CLI_OK;
  }
  const CliCommand *c = cli_find_command(o->file);
  if (!c) return cli_usage_error(NULL, "unknown command '%s'", o->file);
  print_command_help(stdout, c);
  return CLI_OK;
}

static int print_version(void) {
  McStr cpu;
  mc_str_init(&cpu);
  cg_host_cpu(&cpu);
  printf("modelc %s (LLVM %s, host CPU %s)\n", MODELC_VERSION, cg_llvm_version(),
         cpu.s ? cpu.s : "unknown");
  mc_str_free(&cpu);
  return CLI_OK;
}

/* Suggests the closest command name for a typo, or NULL. */
static const char *closest_command(const char *name) {
  const char *best = NULL;
  int best_d = 3;
  for (size_t i = 0; i < MC_COUNTOF(commands); i++) {
    int d = mc_edit_distance(name, commands[i].name);
    if (d < best_d) best_d = d, best = commands[i].name;
  }
  return best;
}

static int unknown_command(const char *name) {
  const char *s = closest_command(name);
  if (s) return cli_usage_error(NULL, "unknown command '%s' (did you mean '%s'?)", name, s);
  return cli_usage_error(NULL, "unknown command '%s'", name);
}

static int run_command(const CliCommand *c, int argc, char **argv) {
  if (c->run_args) return c->run_args(c, argc, argv, 2);
  CliOpts o;
  int rc;
  if (!cli_opts_parse(&o, c, argc, argv, 2)) {
    rc = CLI_USAGE;
  } else if (o.help) {
    print_command_help(stdout, c);
    rc = CLI_OK;
  } else {
    rc = c->run(&o);
  }
  cli_opts_fini(&o);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) return cli_usage_error(NULL, "missing command");
  const char *first = argv[1];
  if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
    print_general_help(stdout);
    return CLI_OK;
  }
  if (strcmp(first, "--version") == 0) return print_version();
  if (first[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", first);
  const CliCommand *c = cli_find_command(first);
  if (!c) return unknown_command(first);
  return run_command(c, argc, argv);
}
