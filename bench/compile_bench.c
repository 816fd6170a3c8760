/* compile_bench.c -- JIT compile time of real models: each .model file goes
   through the front end, then its forward graph, its gradient program and
   its whole training step (gradient plus AdamW update, with gradient-norm
   clipping) are JIT-compiled one after the other in a fresh process, as
   `modelc train` compiles them (the later ones reuse the kernels the
   earlier ones compiled), several times. Prints the median compile time
   of each and of the three, then per program: nodes, distinct kernels,
   calls per run, planned vs naive workspace bytes, and the median time of
   one run (inputs zero, params small random values).
   compile_bench [-O level] [-r reps] [-t threads] [-c] [-u] file.model...
   (-c: compile only, the run is timed once; -u: unfused, the fuse pass's
   kernel groups dropped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "bench.h"
#include "cg.h"
#include "fe.h"
#include "pass.h"

static size_t elem_size(IrDtype t) { return t == IR_F64 ? 8 : t == IR_BOOL ? 1 : 4; }

/* One buffer per slot: params get small values, everything else zeros. */
static void **make_buffers(const IrGraph *g, const CgProgram *p) {
  int n = cg_program_nslots(p);
  void **bufs = calloc((size_t)n, sizeof *bufs);
  for (int s = 0; s < n; s++) {
    const IrNode *nd = ir_node(g, cg_program_slot_node(p, s));
    int64_t numel = ir_shape_numel(&nd->shape);
    bufs[s] = calloc((size_t)(numel ? numel : 1), elem_size((IrDtype)nd->dtype));
    if (nd->op == IR_OP_PARAM && nd->dtype == IR_F32)
      for (int64_t i = 0; i < numel; i++)
        ((float *)bufs[s])[i] = (float)(0.02 * (mc_rng_uniform(1, (uint64_t)s, (uint64_t)i) - 0.5));
  }
  return bufs;
}

static bool compile_only, unfused;

static void drop_groups(IrGraph *g) {
  for (uint32_t i = 0; unfused && i < g->nnodes; i++)
    g->nodes[i].kernel = 0;
}

/* Compile seconds of gs[0..n), compiled one after the other in a fresh
   process (fork) whose kernel cache starts empty, as in `modelc train`:
   each program compiles only the kernels the earlier ones did not. */
static bool cold_sequence(IrGraph *const *gs, int n, const CgOptions *o, double *secs) {
  int fd[2];
  if (pipe(fd) != 0) return false;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    McDiag d;
    mc_diag_init(&d, NULL, stderr);
    double t[8] = {0};
    for (int i = 0; i < n; i++) {
      CgProgram *p = cg_jit_compile(gs[i], o, &d);
      if (!p) _exit(1);
      t[i] = cg_program_compile_seconds(p);
      cg_program_free(p);
    }
    _exit(write(fd[1], t, (size_t)n * sizeof *t) == (ssize_t)(n * sizeof *t) ? 0 : 1);
  }
  close(fd[1]);
  ssize_t got = pid > 0 ? read(fd[0], secs, (size_t)n * sizeof *secs) : -1;
  close(fd[0]);
  int status = 1;
  if (pid > 0) waitpid(pid, &status, 0);
  return got == (ssize_t)(n * sizeof *secs) && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* One program: its size, plan and the median time of a run (compiled in
   this process, after the cold measurements). */
static void bench_graph(const char *label, const IrGraph *g, const CgOptions *o, double cold) {
  McDiag d;
  mc_diag_init(&d, NULL, stderr);
  CgProgram *p = cg_jit_compile(g, o, &d);
  if (!p) {
    fprintf(stderr, "%s: compile failed\n", label);
    mc_diag_fini(&d);
    return;
  }
  CgStats st;
  cg_program_stats(p, &st);
  void **bufs = make_buffers(g, p);
  double run[21];
  int nrun = compile_only ? 1 : (int)(sizeof run / sizeof run[0]);
  cg_program_run(p, bufs, &d); /* warm-up */
  for (int r = 0; r < nrun; r++) {
    double t0 = bench_now_seconds();
    cg_program_run(p, bufs, &d);
    run[r] = bench_now_seconds() - t0;
  }
  printf("%-24s nodes %5d  kernels %4d  calls %4d  compile %.3f s  workspace %.2f MiB (naive "
         "%.2f MiB)  run %.3f ms  threads %d\n",
         label, st.nnodes, st.nkernels, st.ncalls, cold, (double)st.workspace_bytes / 1048576.0,
         (double)st.naive_bytes / 1048576.0, 1e3 * bench_median(run, nrun), st.threads);
  for (int s = 0; s < cg_program_nslots(p); s++)
    free(bufs[s]);
  free(bufs);
  cg_program_free(p);
  mc_diag_fini(&d);
}

static void bench_file(const char *path, const CgOptions *o, int reps) {
  McSources src;
  McDiag d;
  mc_sources_init(&src);
  mc_diag_init(&d, &src, stderr);
  IrGraph *gs[3] = {fe_compile_file(path, NULL, &src, &d), NULL, NULL};
  PassCtx cx = {.diag = &d};
  PassOptim adamw = {.kind = PASS_OPTIM_ADAMW, .clip_grad_norm = true};
  int n = 0;
  if (gs[0] && pass_run_pipeline(&gs[0], PASS_PIPELINE_FORWARD, &cx)) {
    n = 1;
    if (ir_find_output(gs[0], IR_OUT_LOSS, NULL)) {
      gs[1] = ir_graph_clone(gs[0]);
      gs[2] = ir_graph_clone(gs[0]);
      cx.optim = &adamw;
      n = pass_run_pipeline(&gs[1], "autodiff,simplify,cse,dce,sink,remat,fuse", &cx) &&
                  pass_run_pipeline(&gs[2], PASS_PIPELINE_TRAIN, &cx)
              ? 3
              : 1;
    }
  }
  for (int i = 0; i < n; i++) drop_groups(gs[i]);
  static const char *const what[3] = {"forward", "gradient", "train step"};
  double *t[3];
  for (int i = 0; i < 3; i++) t[i] = calloc((size_t)reps, sizeof(double));
  double *total = calloc((size_t)reps, sizeof(double));
  int ok = 0;
  for (int r = 0; n > 0 && r < reps; r++) {
    double secs[3] = {0};
    if (!cold_sequence(gs, n, o, secs)) continue;
    for (int i = 0; i < n; i++) t[i][ok] = secs[i], total[ok] += secs[i];
    ok++;
  }
  const char *name = gs[0] && gs[0]->name ? gs[0]->name : path;
  if (ok > 0) {
    printf("%s: compiled in a fresh process, one after the other (median of %d):", name, ok);
    for (int i = 0; i < n; i++) printf(" %s %.3f s%s", what[i], bench_median(t[i], ok), i + 1 < n ? " +" : "");
    printf(" = %.3f s\n", bench_median(total, ok));
  }
  for (int i = 0; i < n; i++) {
    char label[256];
    snprintf(label, sizeof label, "%s %s", name, what[i]);
    /* in a child too: this process's kernel cache stays empty for the next file */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      bench_graph(label, gs[i], o, ok > 0 ? bench_median(t[i], ok) : 0);
      fflush(stdout);
      _exit(0);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
  }
  for (int i = 0; i < 3; i++) {
    free(t[i]);
    if (gs[i]) ir_graph_free(gs[i]);
  }
  free(total);
  mc_diag_fini(&d);
  mc_sources_free(&src);
}

int main(int argc, char **argv) {
  CgOptions o = cg_options_default();
  int reps = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-O") && i + 1 < argc)
      o.opt_level = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-r") && i + 1 < argc)
      reps = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
    else if (!strcmp(argv[i], "-c"))
      compile_only = true;
    else if (!strcmp(argv[i], "-u"))
      unfused = true;
    else if (!strcmp(argv[i], "-t") && i + 1 < argc)
      o.threads = atoi(argv[++i]);
    else
      bench_file(argv[i], &o, reps);
  }
  if (argc < 2)
    fprintf(stderr, "usage: compile_bench [-O level] [-r reps] [-t threads] [-c] [-u] file.model...\n");
  return 0;
}
