/* weights_eq.c -- a seed_net library built with --weights CKPT (prefix
   seedw) against the plain one after seed_net_load(CKPT): their forward
   outputs must be bit-identical, and differ from the plain library's
   seeded initial params (so the comparison can fail).
     weights_eq CKPT */
#include <stdio.h>
#include <string.h>

#include "seed_net.h"
#include "seedw.h"

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  seed_net_config sc = {123, 1};
  seedw_config wc = {123, 1}; /* the seed does not touch embedded params */
  seed_net_ctx *a = NULL;
  seedw_ctx *w = NULL;
  if (seed_net_create(&sc, &a)) return printf("create: %s\n", seed_net_last_error(NULL)), 1;
  if (seedw_create(&wc, &w)) return printf("create: %s\n", seedw_last_error(NULL)), 1;
  float x[5 * 10], init[50], loaded[50], embedded[50];
  for (int i = 0; i < 50; i++) x[i] = (float)(i % 7) - 3.0f;
  if (seed_net_forward(a, 5, x, 50, init, 50)) return printf("%s\n", seed_net_last_error(a)), 1;
  if (seed_net_load(a, argv[1])) return printf("load: %s\n", seed_net_last_error(a)), 1;
  if (seed_net_forward(a, 5, x, 50, loaded, 50)) return printf("%s\n", seed_net_last_error(a)), 1;
  if (seedw_forward(w, 5, x, 50, embedded, 50)) return printf("%s\n", seedw_last_error(w)), 1;
  printf("embedded == loaded: %s\n", memcmp(embedded, loaded, sizeof loaded) ? "no" : "yes");
  printf("loaded != initial: %s\n", memcmp(init, loaded, sizeof loaded) ? "yes" : "no");
  const float *b1 = seedw_param_data(w, SEEDW_PARAM_FC1_BIAS);
  const float *b2 = seed_net_param_data(a, SEED_NET_PARAM_FC1_BIAS);
  printf("fc1.bias embedded == loaded: %s\n", b1 && b2 && !memcmp(b1, b2, 20 * 4) ? "yes" : "no");
  seedw_destroy(w);
  seed_net_destroy(a);
  return 0;
}
