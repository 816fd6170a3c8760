/* tr.h -- the training layer: a training session that `modelc train`,
   `modelc grad` and the REPL drive (tr_trainer.c). It compiles the model's
   training step (PASS_PIPELINE_TRAIN, then the LLVM JIT) and its forward
   program once, owns the params, the optimizer state and the data, and runs
   epochs with progress, evaluation and checkpoints. Hyperparameters are
   run-time inputs of the step: changing them never recompiles. Calls in
   order: new, resume or init_from (optional), add_data (per file),
   load_data, run (or save_grads), report; save whenever. Errors go to the
   diagnostics given to tr_trainer_new. */
#ifndef TR_H
#define TR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fe.h"
#include "ir.h"
#include "mc.h"
#include "pass.h"

/* ---- tr_dist.c: the processes that train together ----------------------------
   Data-parallel training over Open MPI: under mpirun each process is one
   rank of the group; alone (or built without MPI) a group of one. */
typedef struct TrDist {
  int rank, size;
  bool mpi;      /* MPI_Init ran: tr_dist_finish must run */
} TrDist;

bool tr_dist_available(void);   /* built with MPI */
/* Joins the group mpirun started, or makes a group of one. */
bool tr_dist_init(TrDist *d, McDiag *diag);
void tr_dist_finish(TrDist *d);
/* buf[0..n) summed over the ranks, in place on every rank. */
bool tr_dist_sum(const TrDist *d, double *buf, int64_t n, McDiag *diag);
/* Rank 0's bytes, on every rank. */
bool tr_dist_broadcast(const TrDist *d, void *buf, int64_t bytes, McDiag *diag);

/* ---- tr_trainer.c: a training session ------------------------------------------ */
typedef struct TrTrainer TrTrainer;

typedef struct TrConfig {
  const char *file;          /* the model's name for diagnostics and imports */
  const char *text;          /* its source (NUL-terminated, borrowed) */
  const FeDefine *defines;   /* -D overrides (borrowed) */
  int ndefines;
  const char *const *freeze; /* --freeze globs (borrowed) */
  int nfreeze;
  const char *const *rename; /* init_from's OLD=NEW name-prefix rules, first match wins */
  int nrename;
  int64_t batch;             /* binds the batch dim (first dim of the inputs); 0 = as compiled */
  PassOptim optim;           /* structural choices: compiled into the step */
  PassOptimHyper hyper;      /* run-time hyperparameters */
  uint64_t seed;             /* params, data order, held-out split, random data */
  bool seed_given;           /* resume keeps the checkpoint's seed unless set */
  int threads;               /* threads of the compiled code; <= 0 = all cores */
  double holdout;            /* fraction of the training samples held out, in [0, 1) */
  int64_t limit;             /* use the first N samples of every file; 0 = all */
  const char *save;          /* checkpoint written after each epoch and at the end; NULL */
  FILE *out;                 /* per-epoch and final lines (stdout) */
  FILE *progress;            /* the progress line (stderr); NULL = none */
  bool progress_tty;         /* a \r-updated line rather than a line every few seconds */
  volatile sig_atomic_t *stop; /* nonzero: stop after the current step (may be NULL) */
  bool f64;                  /* steps by the reference evaluator in f64; f64 checkpoints */
  const TrDist *dist;        /* data-parallel group (NULL: this process alone) */
} TrConfig;

typedef enum { TR_DONE, TR_STOPPED, TR_ERROR } TrStatus;

/* Compiles the model (at c->batch) into the step and forward programs and
   initializes the params from c->seed. NULL after reporting. */
TrTrainer *tr_trainer_new(McSources *src, McDiag *d, const TrConfig *c);
void tr_trainer_free(TrTrainer *t);
/* Queues a `NAME=PATH[,KEY=VALUE...]` argument (docs/data.md) for the
   training data (eval false) or the evaluation data (eval true). */
bool tr_trainer_add_data(TrTrainer *t, const char *arg, bool eval);
/* Loads and checks the queued files (or draws random data when no training
   file was given and every input is float) and makes the held-out split. */
bool tr_trainer_load_data(TrTrainer *t);
/* Loads params, optimizer state, step and epoch from a checkpoint. */
bool tr_trainer_resume(TrTrainer *t, const char *path);
/* Starts from given weights: fills every model param whose name has a
   tensor in the safetensors file at path (its dtype and shape must match:
   an error names both). Notes say which params were left at their
   initializers and which tensors were not used; no tensor matching any
   param is an error. Optimizer state and the step count start afresh. */
bool tr_trainer_init_from(TrTrainer *t, const char *path);
/* The name a checkpoint tensor goes by under --rename rules "OLD=NEW": the
   first rule whose OLD prefixes `name` replaces that prefix (heap). */
char *tr_rename(const char *const *rules, int nrules, const char *name);
/* Reports that model g cannot be trained for want of a loss, with the
   statement to add, written with its first output: "`what`: model 'm' has
   no loss to minimize: add a statement such as `minimize mse(y, target)`". */
/* The optimizer step alone, for data-parallel training: per trained param P
   (those with a gradient output in grad, or when grad is NULL those not
   frozen) a param P and an input "grad.P" of its type as its gradient;
   pass_optim then adds P's update and its state ("P.exp_avg", the same
   tensors as the training step's). It depends on no batch. */
IrGraph *tr_apply_graph(const IrGraph *fwd, const IrGraph *grad);
void tr_report_no_loss(McDiag *d, const char *what, const IrGraph *g);
/* Sets the rules init_from applies (borrowed until the next call). */
void tr_trainer_set_rename(TrTrainer *t, const char *const *rules, int nrules);
/* Checks, before training, that a checkpoint can be written at path. */
bool tr_trainer_check_save(TrTrainer *t, const char *path);
bool tr_trainer_save(TrTrainer *t, const char *path);
/* Trains until `epochs` epochs or `steps` steps are done in all (counting
   those of a resumed checkpoint; 0 = no limit of that kind) or *stop is set. */
TrStatus tr_trainer_run(TrTrainer *t, int64_t epochs, int64_t steps);
/* Writes the loss, the outputs and every param's gradient ("grad.P") at the
   current params, for the first `batch` training samples in file order, to
   a safetensors file, and prints a summary line: computed by the
   JIT-compiled gradient program (PASS_PIPELINE_GRAD) in the model's
   dtypes, or, with f64, by the reference evaluator in f64 (every tensor
   F64). For `modelc grad`. */
bool tr_trainer_save_grads(TrTrainer *t, const char *path, bool f64);
/* Prints the final line: the evaluation accuracy (or loss). */
bool tr_trainer_report(TrTrainer *t);
int64_t tr_trainer_step(const TrTrainer *t);     /* optimizer steps done */
int64_t tr_trainer_epoch(const TrTrainer *t);    /* whole epochs done */
/* For a REPL: the forward graph at the training batch (owned by t). */
const IrGraph *tr_trainer_forward(const TrTrainer *t);
/* The step program's source slots; tr_trainer_param gives the PARAM node
   (model param or optimizer state) of slot i and its host buffer, or NULL
   when slot i is an input. */
int tr_trainer_nslots(const TrTrainer *t);
const IrNode *tr_trainer_param(TrTrainer *t, int i, void **data);
/* Says the params were filled from elsewhere (like resume does). */
void tr_trainer_params_loaded(TrTrainer *t);
/* Run-time hyperparameters for the next steps: no recompilation. */
void tr_trainer_set_hyper(TrTrainer *t, const PassOptimHyper *h);
/* Writes the first `count` samples of input `name` into dst (the input's
   dtype): from the eval data, or without it from the training data.
   False, reported, when no data is loaded or too few samples are. */
bool tr_trainer_fill_input(TrTrainer *t, const char *name, int64_t count, void *dst);
/* The loss of every step this trainer ran, in order. */
const double *tr_trainer_losses(const TrTrainer *t, int64_t *n);
struct CgStats;
/* The codegen statistics (memory plan) of the step and forward programs.
   A step that the gradient and apply programs run (split over the batch
   rows: parts > 0; data-parallel) reports their sums. */
void tr_trainer_stats(const TrTrainer *t, struct CgStats *step, struct CgStats *fwd);

/* ---- tr_generate.c: sampling text from a character-level model ----------
   A generator compiles a model's forward program at batch 1 in eval mode,
   keeping only its logits, and samples characters from it one at a time
   (docs/train.md, "Sampling"). The model must have one i32 input [B, T]
   (the token ids, rt_char_id's vocabulary) that the logits read and a float
   output [B, T, RT_CHAR_VOCAB] (the output `logits`, else the first of that
   shape); other inputs the logits read are fed zeros, those they do not
   read (the loss's targets) are dropped. Calls: new, then load (a
   safetensors file) or take_params (a trainer's current params), then
   tr_generate as often as wanted. Errors go to the diagnostics given to
   tr_generator_new. */
typedef struct TrGenerator TrGenerator;

/* One sampling run; tr_sample_defaults gives the defaults noted here. */
typedef struct TrSample {
  const char *prompt;          /* the text to continue; "" = start from a newline ("") */
  int64_t tokens;              /* characters to generate, > 0 (200) */
  double temperature;          /* sample from softmax(logits / T); 0 = argmax (1) */
  int64_t top_k;               /* sample among the K largest logits; 0 = all (0) */
  uint64_t seed;               /* the sampling RNG (mc_rng_uniform); same seed, same text (0) */
  FILE *out;                   /* the prompt, then each character as produced (stdout) */
  FILE *summary;               /* "generated N tokens in X s, Y tokens/s"; NULL = none (stderr) */
  volatile sig_atomic_t *stop; /* nonzero: stop after the current character (NULL) */
} TrSample;

TrSample tr_sample_defaults(void);
/* Compiles c->file (c->text) with c->defines, the batch dim bound to 1,
   for c->threads; params start from their initializers with seed 0. Other
   fields of c are not used. NULL after reporting. */
TrGenerator *tr_generator_new(McSources *src, McDiag *d, const TrConfig *c);
void tr_generator_free(TrGenerator *g);
/* Fills the params by name from a safetensors file, as tr_trainer_init_from
   does (dtype and shape must match; notes name the params left at their
   initializers and the tensors not used, optimizer state aside). */
bool tr_generator_load(TrGenerator *g, const char *path);
/* Copies the trainer's current params, matched by name (a REPL's session). */
bool tr_generator_take_params(TrGenerator *g, TrTrainer *t);
/* The context length T: the most recent characters the model sees. */
int64_t tr_generator_context(const TrGenerator *g);
/* Writes s->prompt and s->tokens sampled characters to s->out, then a
   newline. The last min(n, T) ids of the context sit at positions 0..n-1
   of the input (the rest 0) and the next id is drawn from the logits at
   position n-1: exact for causal models. False after reporting (a prompt
   character without an id, a param without a value, non-finite logits). */
bool tr_generate(TrGenerator *g, const TrSample *s);

#endif
