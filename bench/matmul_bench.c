/* matmul_bench.c -- GFLOP/s of the JIT's f32 matmul: for n = 256, 512,
   1024 a one-matmul graph c[n,n] = a[n,n] b[n,n] goes through
   cg_jit_compile and is run repeatedly; prints the median (and best) of
   the timed runs and checks a few entries against a naive dot product.
     matmul_bench [--cpu NAME] [threads] [n | MxNxK[t] ...]
   threads 0 = all cores (default); MxNxK: c[M,N] = a[M,K] b[K,N], with t
   b stored transposed ([N, K], as a linear layer's weight), with T a
   stored transposed ([K, M], as in a weight gradient). --cpu
   compiles for another CPU than the host (e.g. haswell: the AVX2 kernels
   on an AVX-512 machine). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "cg.h"

typedef struct Shape {
  int64_t m, n, k;
  bool bt; /* b stored transposed */
  bool at; /* a stored transposed */
} Shape;

/* Relative error of a few entries of c against float dot products. */
static double spot_check(const float *a, const float *b, const float *c, Shape q) {
  double worst = 0;
  for (int t = 0; t < 16; t++) {
    int64_t i = (t * 7919) % q.m, j = (t * 104729) % q.n;
    double s = 0, mag = 0;
    for (int64_t k = 0; k < q.k; k++) {
      double x = (double)a[q.at ? k * q.m + i : i * q.k + k] * b[q.bt ? j * q.k + k : k * q.n + j];
      s += x;
      mag += fabs(x);
    }
    double err = fabs(c[i * q.n + j] - s) / (mag > 0 ? mag : 1);
    if (err > worst)
      worst = err;
  }
  return worst;
}

static const char *target_cpu; /* NULL: the host */

static IrShape shape2(int64_t r, int64_t c) {
  return (IrShape){.rank = 2, .d = {ir_dim_const(r), ir_dim_const(c)}};
}

static int bench(Shape q, int threads) {
  McDiag d;
  mc_diag_init(&d, NULL, stderr);
  IrGraph *g = ir_graph_new("matmul", &d);
  IrShape sa = q.at ? shape2(q.k, q.m) : shape2(q.m, q.k);
  IrShape sb = q.bt ? shape2(q.n, q.k) : shape2(q.k, q.n);
  IrRef a = ir_input(g, "a", IR_F32, &sa, (McLoc){0}), b = ir_input(g, "b", IR_F32, &sb, (McLoc){0});
  static const uint8_t swap[2] = {1, 0};
  if (q.at)
    a = ir_permute(g, a, swap, (McLoc){0});
  if (q.bt)
    b = ir_permute(g, b, swap, (McLoc){0});
  ir_add_output(g, IR_OUT_OUTPUT, "c", ir_matmul(g, a, b, (McLoc){0}));
  CgOptions o = cg_options_default();
  o.threads = threads;
  o.cpu = target_cpu;
  CgProgram *p = cg_jit_compile(g, &o, &d);
  if (!p)
    return 1;
  size_t ea = (size_t)(q.m * q.k), eb = (size_t)(q.k * q.n), ec = (size_t)(q.m * q.n);
  float *A = aligned_alloc(64, (ea * 4 + 63) / 64 * 64), *B = aligned_alloc(64, (eb * 4 + 63) / 64 * 64),
        *C = aligned_alloc(64, (ec * 4 + 63) / 64 * 64);
  for (size_t i = 0; i < ea; i++)
    A[i] = (float)(mc_rng_uniform(1, 1, (uint64_t)i) - 0.5);
  for (size_t i = 0; i < eb; i++)
    B[i] = (float)(mc_rng_uniform(1, 2, (uint64_t)i) - 0.5);
  void *bufs[3] = {A, B, C};
  double flop = 2.0 * (double)q.m * (double)q.n * (double)q.k;
  int reps = flop <= 2.0 * 256 * 256 * 256 ? 200 : flop <= 2.0 * 512 * 512 * 512 ? 50 : 15;
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
  char name[64];
  if (q.m == q.n && q.n == q.k && !q.bt && !q.at)
    snprintf(name, sizeof name, "n=%5lld", (long long)q.n);
  else
    snprintf(name, sizeof name, "%lldx%lldx%lld%s%s", (long long)q.m, (long long)q.n,
             (long long)q.k, q.at ? "T" : "", q.bt ? "t" : "");
  printf("%s  median %7.1f GFLOP/s  best %7.1f GFLOP/s  (%d runs, %d threads, compile %.3f s, "
         "max rel err %.1e)\n",
         name, flop / t[reps / 2] * 1e-9, flop / t[0] * 1e-9, reps, st.threads,
         st.compile_seconds, spot_check(A, B, C, q));
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
    for (int i = 2; i < argc; i++) {
      long long m, n, k;
      char t[3] = "";
      Shape q;
      if (sscanf(argv[i], "%lldx%lldx%lld%2[tT]", &m, &n, &k, t) >= 3 && m > 0 && n > 0 && k > 0)
        q = (Shape){m, n, k, strchr(t, 't') != NULL, strchr(t, 'T') != NULL};
      else if ((m = atoll(argv[i])) > 0)
        q = (Shape){m, m, m, false, false};
      else {
        fprintf(stderr, "matmul_bench: '%s' is neither a size nor MxNxK[t]\n", argv[i]);
        return 2;
      }
      if (bench(q, threads))
        return 1;
    }
    return 0;
  }
  static const int64_t sizes[] = {256, 512, 1024};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    if (bench((Shape){sizes[i], sizes[i], sizes[i], false, false}, threads))
      return 1;
  return 0;
}
