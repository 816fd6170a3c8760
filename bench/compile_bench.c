/* compile_bench.c -- JIT compile time of real models: each .model file goes
   through the front end, then its forward graph, its gradient program and
   its whole training step (gradient plus AdamW update, with gradient-norm
   clipping) are each JIT-compiled several times. Prints nodes, distinct kernels, the median compile
   time, planned vs naive workspace bytes, and the median time of one run of the program (inputs
   zero, params small random values). compile_bench [-O level] [-r reps] [-t threads] [-c] [-u]
   file.model...
   (-c: compile only, the run is timed once; -u: unfused, the fuse pass's kernel groups
   dropped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cg.h"
#include "fe.h"
#include "pass.h"

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of the whole process (every thread), user + system. */
static double cpu_seconds(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec +
         1e-6 * (double)u.ru_stime.tv_usec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

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

static void bench_graph(const char *label, const IrGraph *g, const CgOptions *o, int reps) {
  McDiag d;
  mc_diag_init(&d, NULL, stderr);
  double *times = calloc((size_t)reps, sizeof *times), *cpu = calloc((size_t)reps, sizeof *cpu);
  CgStats st = {0};
  CgProgram *keep = NULL;
  for (int r = 0; r < reps; r++) {
    double c0 = cpu_seconds();
    CgProgram *p = cg_jit_compile(g, o, &d);
    cpu[r] = cpu_seconds() - c0;
    if (!p) {
      fprintf(stderr, "%s: compile failed\n", label);
      free(times);
      free(cpu);
      mc_diag_fini(&d);
      return;
    }
    times[r] = cg_program_compile_seconds(p);
    cg_program_stats(p, &st);
    if (keep)
      cg_program_free(keep);
    keep = p;
  }
  void **bufs = make_buffers(g, keep);
  double run[21];
  int nrun = compile_only ? 1 : (int)(sizeof run / sizeof run[0]);
  cg_program_run(keep, bufs, &d); /* warm-up */
  for (int r = 0; r < nrun; r++) {
    double t0 = now_seconds();
    cg_program_run(keep, bufs, &d);
    run[r] = now_seconds() - t0;
  }
  double best = times[0];
  for (int r = 1; r < reps; r++)
    best = times[r] < best ? times[r] : best;
  printf("%-24s nodes %5d  kernels %4d  calls %4d  compile %.3f s (median of %d, best %.3f, cpu %.3f s)  "
         "workspace %.2f MiB (naive %.2f MiB)  run %.3f ms  threads %d\n",
         label, st.nnodes, st.nkernels, st.ncalls, median(times, reps), reps, best, median(cpu, reps),
         (double)st.workspace_bytes / 1048576.0, (double)st.naive_bytes / 1048576.0,
         1e3 * median(run, nrun), st.threads);
  for (int s = 0; s < cg_program_nslots(keep); s++)
    free(bufs[s]);
  free(bufs);
  cg_program_free(keep);
  free(times);
  free(cpu);
  mc_diag_fini(&d);
}

static void bench_file(const char *path, const CgOptions *o, int reps) {
  McSources src;
  McDiag d;
  mc_sources_init(&src);
  mc_diag_init(&d, &src, stderr);
  IrGraph *g = fe_compile_file(path, NULL, &src, &d);
  PassCtx cx = {.diag = &d};
  if (g && pass_run_pipeline(&g, PASS_PIPELINE_FORWARD, &cx)) {
    char label[256];
    snprintf(label, sizeof label, "%s forward", g->name ? g->name : path);
    drop_groups(g);
    bench_graph(label, g, o, reps);
    IrGraph *step = ir_graph_clone(g);
    if (ir_find_output(g, IR_OUT_LOSS, NULL) &&
        pass_run_pipeline(&g, "autodiff,simplify,cse,dce,fuse", &cx)) {
      snprintf(label, sizeof label, "%s gradient", g->name ? g->name : path);
      drop_groups(g);
      bench_graph(label, g, o, reps);
      PassOptim adamw = {.kind = PASS_OPTIM_ADAMW, .clip_grad_norm = true};
      cx.optim = &adamw;
      if (pass_run_pipeline(&step, PASS_PIPELINE_TRAIN, &cx)) {
        snprintf(label, sizeof label, "%s train step", g->name ? g->name : path);
        drop_groups(step);
        bench_graph(label, step, o, reps);
      }
    }
    ir_graph_free(step);
  }
  ir_graph_free(g);
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
