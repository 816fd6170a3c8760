/* two_libs.c -- three model libraries in one process: libseed_net.so (with
   --train), libseed2.so (seed_net again, built with --prefix seed2) and
   libmlp.so. Each gets a context and runs forward; the two copies of
   seed_net start from the same seed and must agree bit for bit, and a
   training step in one must not change the other. Saves the mlp context
   to PATH (a checkpoint of another model, for api_errors).
     two_libs MLP_CHECKPOINT_PATH */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mlp.h"
#include "seed2.h"
#include "seed_net.h"

#define CHECK(call, err)                                                          \
  do {                                                                            \
    int rc_ = (call);                                                             \
    if (rc_) return printf("FAIL %s: code %d: %s\n", #call, rc_, err), 1;         \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  seed_net_config sc = {7, 1};
  seed2_config s2c = {7, 1};
  mlp_config mc = {7, 1};
  seed_net_ctx *a = NULL;
  seed2_ctx *b = NULL;
  mlp_ctx *m = NULL;
  CHECK(seed_net_create(&sc, &a), seed_net_last_error(NULL));
  CHECK(seed2_create(&s2c, &b), seed2_last_error(NULL));
  CHECK(mlp_create(&mc, &m), mlp_last_error(NULL));

  float x[3 * 10], ya[3 * 10], yb[3 * 10], t[3 * 10];
  for (int i = 0; i < 30; i++) x[i] = cosf((float)i), t[i] = 0.25f;
  CHECK(seed_net_forward(a, 3, x, 30, ya, 30), seed_net_last_error(a));
  CHECK(seed2_forward(b, 3, x, 30, yb, 30), seed2_last_error(b));
  printf("seed_net and seed2 agree: %s\n", memcmp(ya, yb, sizeof ya) ? "no" : "yes");
  printf("seed_net out[0..2] = %.6f %.6f %.6f\n", ya[0], ya[1], ya[2]);

  static float img[2 * 784], logits[2 * 10];
  for (int i = 0; i < 2 * 784; i++) img[i] = (float)(i % 17) / 17.0f;
  CHECK(mlp_forward(m, 2, img, 2 * 784, logits, 20), mlp_last_error(m));
  int finite = 1;
  for (int i = 0; i < 20; i++) finite &= isfinite(logits[i]) && logits[i] != 0.0f;
  printf("mlp logits finite and nonzero: %s\n", finite ? "yes" : "no");

  /* a step in seed_net changes it and leaves its twin alone */
  float loss = 0;
  CHECK(seed_net_train_step(a, 3, x, 30, t, 30, NULL, &loss), seed_net_last_error(a));
  float ya2[30], yb2[30];
  CHECK(seed_net_forward(a, 3, x, 30, ya2, 30), seed_net_last_error(a));
  CHECK(seed2_forward(b, 3, x, 30, yb2, 30), seed2_last_error(b));
  printf("after a step: seed_net changed: %s, seed2 unchanged: %s\n",
         memcmp(ya, ya2, sizeof ya) ? "yes" : "no", memcmp(yb, yb2, sizeof yb) ? "no" : "yes");
  printf("steps: seed_net %lld, seed2 %lld\n", (long long)seed_net_steps(a),
         (long long)seed2_steps(b));
  CHECK(mlp_save(m, argv[1]), mlp_last_error(m));
  mlp_destroy(m);
  seed2_destroy(b);
  seed_net_destroy(a);
  printf("ok\n");
  return 0;
}
