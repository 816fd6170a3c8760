/* cli.h -- the `modelc` command: option parsing, the command table and one
   entry point per command. Only this layer prints to stdout/stderr and
   decides exit codes. */
#ifndef CLI_H
#define CLI_H

#include <signal.h>

#include "cg.h"
#include "fe.h"
#include "ir.h"
#include "mc.h"
#include "pass.h"
#include "tr.h"

/* Exit codes of every command. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* ---- cli_opts.c: options ------------------------------------------------ */
typedef enum {
  CLI_OPT_HELP,            /* -h, --help */
  CLI_OPT_DEFINE,          /* -D NAME=VALUE */
  CLI_OPT_STAGE,           /* --stage forward|grad */
  CLI_OPT_PASSES,          /* --passes PIPELINE */
  CLI_OPT_PRINT_AFTER,     /* --print-after NAME[,NAME] */
  CLI_OPT_PRINT_AFTER_ALL, /* --print-after-all */
  CLI_OPT_FORMAT,          /* --format text|dot */
  CLI_OPT_OUTPUT,          /* -o OUT */
  CLI_OPT_GRAD_INPUTS,     /* --grad-inputs (dump, opt) */
  CLI_OPT_INPUTS,          /* --inputs (gradcheck) */
  CLI_OPT_SEED,            /* --seed N */
  CLI_OPT_TOL,             /* --tol X */
  CLI_OPT_EMIT,            /* --emit ir|llvm|asm (dump) */
  CLI_OPT_STATS,           /* --stats (dump) */
  CLI_OPT_FREEZE,          /* --freeze GLOB */
  CLI_OPT_COUNT
} CliOptId;

#define CLI_OPT_BIT(id) (1u << (id))

typedef struct CliCommand CliCommand;

/* Everything the command line said; strings point into argv or the arena. */
typedef struct CliOpts {
  const CliCommand *cmd;
  const char *file;        /* the FILE argument; "-" = stdin */
  McVec defines;           /* of FeDefine, names in arena */
  McVec freeze;            /* of const char *: --freeze globs */
  const char *stage;       /* "forward" (default), "grad" or "step" */
  const char *emit;        /* dump: "ir" (default), "llvm" or "asm" */
  bool stats;              /* dump: print the compiled programs' statistics */
  const char *passes;      /* pipeline; NULL = the stage's default */
  const char *print_after; /* comma list or NULL */
  bool print_after_all;
  const char *format; /* "text" (default) or "dot" */
  const char *output; /* -o; NULL = stdout */
  bool grad_inputs;   /* --grad-inputs / --inputs */
  uint64_t seed;      /* --seed, default 0 */
  double tol;         /* --tol, default 1e-6 */
  bool help;          /* -h/--help seen: print the command's help */
  FeMode mode;        /* the model's mode (train unless a command asks for eval) */
  McArena arena;      /* strings made while parsing */
} CliOpts;

/* Parses argv[first..argc) for `cmd` into o (which it initializes). On a
   usage error prints "modelc CMD: message" and "Try 'modelc help CMD'." on
   stderr and returns false. */
bool cli_opts_parse(CliOpts *o, const CliCommand *cmd, int argc, char **argv, int first);
void cli_opts_fini(CliOpts *o);
/* Prints the option lines of the options in `mask` (for help). */
void cli_opts_print_help(FILE *f, unsigned mask);
/* Commands with long options of their own (train, build): a table of
   them, and a setter that checks and stores a value (returns false after
   reporting a usage error). */
typedef struct CliLongOpt {
  const char *name;    /* long name without "--" */
  const char *metavar; /* NULL = a flag */
  const char *help;
} CliLongOpt;
typedef bool (*CliLongSet)(const CliCommand *c, void *ctx, int opt, const char *value);
/* Takes the table's options (--NAME VALUE or --NAME=VALUE) out of
   argv[first..argc) through set; the rest (FILE, -D, --help, ...) goes to
   rest[] in order, for cli_opts_parse. Unknown long options are usage
   errors with a suggestion. */
bool cli_split_long_opts(const CliCommand *c, const CliLongOpt *opts, int nopts, CliLongSet set,
                         void *ctx, int argc, char **argv, int first, char **rest, int *nrest);
void cli_print_long_opts(FILE *f, const CliLongOpt *opts, int nopts);
/* The value of --OPT as a positive integer; a usage error otherwise. */
bool cli_positive_int(const CliCommand *c, const char *opt, const char *v, int64_t *out);
/* --rename OLD=NEW: checks the form and appends v to list (of const char *). */
bool cli_rename_arg(const CliCommand *c, const char *v, McVec *list);
/* The value of --seed (a non-negative integer); a usage error otherwise. */
bool cli_seed_value(const CliCommand *c, const char *v, uint64_t *out);
/* Prints the usage error line and the "Try" hint; returns CLI_USAGE. */
int cli_usage_error(const CliCommand *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- main.c: the command table ------------------------------------------ */
struct CliCommand {
  const char *name;        /* "check" */
  const char *args;        /* "FILE [-D NAME=VALUE ...]", for the usage line */
  const char *summary;     /* one line, for `modelc help` */
  const char *description; /* a paragraph, for `modelc help CMD` */
  unsigned opts;           /* CLI_OPT_BIT of each accepted option */
  bool needs_file;         /* takes exactly one FILE argument */
  int (*run)(CliOpts *o);  /* returns an exit code */
  /* Commands with options of their own (train) parse argv themselves:
     run_args replaces the option parsing and run (first = index of the
     first argument after the command name), print_options adds their
     option lines to the help. NULL for the others. */
  int (*run_args)(const CliCommand *c, int argc, char **argv, int first);
  void (*print_options)(FILE *f);
};

const CliCommand *cli_find_command(const char *name);
/* Prints `modelc help CMD`: the usage line, description and options. */
void cli_print_command_help(FILE *f, const CliCommand *c);

/* ---- cli_model.c: loading models and writing results --------------------- */
/* The state of one command run: sources for diagnostics and the sink. */
typedef struct CliSession {
  McSources src;
  McDiag diag;      /* reports to stderr as errors happen */
  char *stdin_text; /* FILE "-": standard input, read once (a command may compile twice) */
  size_t stdin_len;
} CliSession;

void cli_session_init(CliSession *s);
void cli_session_fini(CliSession *s);
/* Compiles o->file (or stdin for "-") with o's -D defines; NULL on error
   (already reported). */
IrGraph *cli_compile_model(CliSession *s, const CliOpts *o);
/* Runs `pipeline` (may be empty: nothing runs) over *g with o's printing
   options, verifying after each pass. */
bool cli_run_pipeline(CliSession *s, const CliOpts *o, IrGraph **g, const char *pipeline);
/* Checks that every name of a comma-separated pass list is a known pass
   ("all" allowed when allow_all); reports a usage error otherwise. */
bool cli_check_pass_list(const CliCommand *cmd, const char *option, const char *list,
                         bool allow_all);
/* Writes text to o->output (or stdout); false after reporting when it cannot. */
bool cli_write_output(CliSession *s, const CliOpts *o, const McStr *text);
/* Reads a whole file or, for "-", stdin. NULL after reporting. */
char *cli_read_input(CliSession *s, const char *path, size_t *len);

/* ---- the commands (cli_check.c, cli_dump.c, cli_gradcheck.c) -------------- */
int cli_check(CliOpts *o);
int cli_dump(CliOpts *o);
int cli_opt(CliOpts *o);
int cli_gradcheck(CliOpts *o);

/* ---- cli_train.c: `modelc train` ------------------------------------------ */
int cli_train_main(const CliCommand *c, int argc, char **argv, int first);
void cli_train_print_options(FILE *f);

/* ---- cli_grad.c: `modelc grad` ------------------------------------------- */
int cli_grad_main(const CliCommand *c, int argc, char **argv, int first);
void cli_grad_print_options(FILE *f);

/* ---- cli_generate.c: `modelc generate` ------------------------------------ */
int cli_generate_main(const CliCommand *c, int argc, char **argv, int first);
void cli_generate_print_options(FILE *f);

/* ---- cli_build.c, cli_build_emit.c: `modelc build` ------------------------- */
int cli_build_main(const CliCommand *c, int argc, char **argv, int first);
void cli_build_print_options(FILE *f);

typedef enum { CLI_BUILD_SO, CLI_BUILD_O, CLI_BUILD_A } CliBuildKind;

#define CLI_BUILD_MAX_RENAME 16

typedef struct CliBuildArgs {
  const char *output, *header, *manifest, *weights, *cpu, *prefix, *keep;
  const char *rename[CLI_BUILD_MAX_RENAME]; /* --rename OLD=NEW for --weights */
  int nrename;
  bool train;
  PassOptim optim;
  int threads;              /* parallel parts of large kernels; 0 = all cores */
  bool ignore_batch_define; /* a -D of the batch dim is dropped (the REPL's dims) */
} CliBuildArgs;

/* An input, output or param as the library's user sees it: dim i is
   dims[i], times the batch when bit i of batch_mask is set. */
typedef struct CliBuildTensor {
  const char *name; /* a graph's arena */
  IrDtype dtype;
  int rt_dtype; /* RT_F32 ... */
  int rank;
  int64_t dims[IR_MAX_RANK];
  uint32_t batch_mask;
  int64_t bound; /* i32 inputs: valid values are [0, bound) when > 0 */
  int64_t bytes; /* params: without a batch */
  bool state;    /* params: optimizer state */
  IrInit init;   /* params */
  int64_t weights_offset; /* params with --weights: where in the blob */
} CliBuildTensor;
typedef CliBuildTensor CliBuildParam;

typedef struct CliBuildProgram {
  IrGraph *g; /* at the first probe batch; NULL when not built */
  CgAotProgram prog;
  char *object, *run_name;
  int *slot_role, *slot_index; /* rt_aot.h's RtAotSlot */
} CliBuildProgram;

/* The programs of a library: forward (eval mode) and, with --train, the
   training step and its two halves for the caller's allreduce, the
   gradient program and the apply program (the optimizer alone). */
enum { CLI_PROG_FORWARD, CLI_PROG_TRAIN, CLI_PROG_GRAD, CLI_PROG_APPLY, CLI_PROG_COUNT };
extern const char *const cli_build_program_names[CLI_PROG_COUNT]; /* "forward", ... */

#define CLI_BUILD_MAX_IO 64
#define CLI_BUILD_MAX_HYPER 16

typedef struct CliBuild {
  const CliBuildArgs *args;
  CliBuildKind kind;
  const char *prefix, *batch_name, *header_name, *library_name;
  IrGraph *model[3]; /* the model at the probe batches (one graph without a batch dim) */
  IrGraph *model_eval[3]; /* the same in eval mode: what the forward entry runs */
  int nbatches;
  CliBuildProgram programs[CLI_PROG_COUNT]; /* CLI_PROG_* */
  CliBuildTensor inputs[CLI_BUILD_MAX_IO], outputs[CLI_BUILD_MAX_IO];
  int ninputs, noutputs;
  /* inputs per program (train_uses: the training step's and grad's, which keep all) */
  bool fwd_uses[CLI_BUILD_MAX_IO], train_uses[CLI_BUILD_MAX_IO];
  CliBuildParam *params; /* model params, then optimizer state */
  int nparams;
  int *grads; /* the params with a gradient (grad, apply), in model order */
  int ngrads;
  const char *hyper[CLI_BUILD_MAX_HYPER];
  int nhyper;
  char *weights_path; /* the blob of --weights, or NULL */
  int64_t weights_bytes;
} CliBuild;

/* Builds the library a->output of model `file` (with -D defines): what
   `modelc build` does after parsing its options, for the REPL too. */
bool cli_build_file(CliSession *s, const char *file, const FeDefine *defines, int ndefines,
                    const CliBuildArgs *a);

/* Fills the build's inputs, outputs, params, hyperparameters and slot
   roles from its programs; false after reporting (e.g. too many inputs). */
bool cli_build_describe(CliSession *s, CliBuild *b);
void cli_build_emit_header(McStr *out, const CliBuild *b);
void cli_build_emit_c(McStr *out, const CliBuild *b);
void cli_build_emit_manifest(McStr *out, const CliBuild *b);
void cli_build_emit_weights_asm(McStr *out, const CliBuild *b);

/* ---- cli_repl.c: `modelc repl` -------------------------------------------- */
int cli_repl_main(const CliCommand *c, int argc, char **argv, int first);

#endif
