/* matmul_bench.c -- GFLOP/s of the JIT's f32 matmul: for n = 256, 512,
   1024 a one-matmul graph c[n,n] = a[n,n] b[n,n] goes through
   cg_jit_compile and is run repeatedly; prints the median (and best) of
   the timed runs and checks a few entries against a naive dot product.
     matmul_bench [--cpu NAME] [threads] [n...]     threads 0 = all cores (default)
   --cpu compiles for another CPU than the host (e.g. haswell: the AVX2
   kernels on an AVX-512 machine). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cg.h"

/* Relative error of a few entries of c against float dot products. */
static double spot_check(const float *a, const float *b, const float *c, int64_t n) {
  double worst = 0;
  for (int t = 0; t < 16; t++) {
    int64_t i = (t * 7919) % n, j = (t * 104729) % n;
    double s = 0, mag = 0;
    for (int64_t k = 0; k < n; k++) {
      s += (double)a[i * n + k] * b[k * n + j];
      mag += fabs((double)a[i * n + k] * b[k * n + j]);
    }
    double err = fabs(c[i * n + j] - s) / (mag > 0 ? mag : 1);
    if (err > worst)
      worst = err;
  }
  return worst;
}

static const char *target_cpu; /* NULL: the host */

static int bench(int64_t n, int threads) {
  McDiag d;
  mc_diag_init(&d, NULL, stderr);
  IrGraph *g = ir_graph_new("matmul", &d);
  IrShape s = {.rank = 2, .d = {ir_dim_const(n), ir_dim_const(n)}};
  IrRef a = ir_input(g, "a", IR_F32, &s, (McLoc){0}), b = ir_input(g, "b", IR_F32, &s, (McLoc){0});
  ir_add_output(g, IR_OUT_OUTPUT, "c", ir_matmul(g, a, b, (McLoc){0}));
  CgOptions o = cg_options_default();
  o.threads = threads;
  o.cpu = target_cpu;
  CgProgram *p = cg_jit_compile(g, &o, &d);
  if (!p)
    return 1;
  size_t bytes = (size_t)(n * n) * sizeof(float);
  float *A = aligned_alloc(64, bytes), *B = aligned_alloc(64, bytes), *C = aligned_alloc(64, bytes);
  for (int64_t i = 0; i < n * n; i++) {
    A[i] = (float)(mc_rng_uniform(1, 1, (uint64_t)i) - 0.5);
    B[i] = (float)(mc_rng_uniform(1, 2, (uint64_t)i) - 0.5);
  }
  void *bufs[3] = {A, B, C};
  double flop = 2.0 * (double)n * (double)n * (double)n;
  int reps = n <= 256 ? 200 : n <= 512 ? 50 : 15;
  double *t = malloc((size_t)reps * sizeof *t);
  cg_program_run(p, bufs, &d); /* warm-up */
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now_seconds();
    cg_program_run(p, bufs, &d);
    t[r] = bench_now_seconds() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, bench_cmp_double);
  CgStats st;
  cg_program_stats(p, &st);
  printf("n=%5lld  median %7.1f GFLOP/s  best %7.1f GFLOP/s  (%d runs, %d threads, compile %.3f s, "
         "max rel err %.1e)\n",
         (long long)n, flop / t[reps / 2] * 1e-9, flop / t[0] * 1e-9, reps, st.threads,
         st.compile_seconds, spot_check(A, B, C, n));
  free(t);
  free(A);
  free(B);
  free(C);
  cg_program_free(p);
  ir_graph_free(g);
  mc_diag_fini(&d);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "--cpu")) {
    target_cpu = argv[2];
    if (!cg_cpu_known(target_cpu)) {
      fprintf(stderr, "matmul_bench: LLVM does not know CPU '%s'\n", target_cpu);
      return 2;
    }
    argv += 2;
    argc -= 2;
  }
  int threads = argc > 1 ? atoi(argv[1]) : 0;
  McStr cpu;
  mc_str_init(&cpu);
  cg_host_cpu(&cpu);
  printf("LLVM %s, host cpu %s, code for %s\n", cg_llvm_version(), cpu.s,
         target_cpu ? target_cpu : "the host");
  mc_str_free(&cpu);
  if (argc > 2) {
    for (int i = 2; i < argc; i++)
      if (bench(atoll(argv[i]), threads))
        return 1;
    return 0;
  }
  static const int64_t sizes[] = {256, 512, 1024};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    if (bench(sizes[i], threads))
      return 1;
  return 0;
}
