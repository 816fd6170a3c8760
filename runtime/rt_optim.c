/* rt_optim.c -- the values of a training step's hyperparameter inputs
   ("opt.lr", "opt.step_size", ...), derived in double from the user's
   torch.optim hyperparameters and the step number as PyTorch does, and
   torch.optim's defaults. The compiler's trainer (pass_optim_input_value)
   and AOT libraries share these, so both bind the same f32 scalars. */
#include "rt.h"

#include <math.h>
#include <string.h>

/* The names pass_optim.c gives the step graph's inputs. */
static const char *const input_names[RT_OPTIM_IN_COUNT] = {
    [RT_OPTIM_IN_LR] = "opt.lr",
    [RT_OPTIM_IN_MOMENTUM] = "opt.momentum",
    [RT_OPTIM_IN_WEIGHT_DECAY] = "opt.weight_decay",
    [RT_OPTIM_IN_BETA1] = "opt.beta1",
    [RT_OPTIM_IN_BETA2] = "opt.beta2",
    [RT_OPTIM_IN_EPS] = "opt.eps",
    [RT_OPTIM_IN_STEP_SIZE] = "opt.step_size",
    [RT_OPTIM_IN_BC2_SQRT] = "opt.bias_correction2_sqrt",
    [RT_OPTIM_IN_ONE_MINUS_BETA1] = "opt.one_minus_beta1",
    [RT_OPTIM_IN_ONE_MINUS_BETA2] = "opt.one_minus_beta2",
    [RT_OPTIM_IN_MAX_NORM] = "opt.max_norm",
};

const char *rt_optim_input_name(int input) {
  return input >= 0 && input < RT_OPTIM_IN_COUNT ? input_names[input] : NULL;
}

static const char *const kind_names[RT_OPTIM_COUNT] = {"sgd", "adam", "adamw"};

const char *rt_optim_kind_name(int kind) {
  return kind >= 0 && kind < RT_OPTIM_COUNT ? kind_names[kind] : "?";
}

RtOptimHyper rt_optim_defaults(int kind) {
  return (RtOptimHyper){.lr = 1e-3, .weight_decay = kind == RT_OPTIM_ADAMW ? 1e-2 : 0.0,
                        .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .max_norm = 1.0};
}

bool rt_optim_input_value(const RtOptimHyper *h, int64_t step, const char *name, double *out) {
  int s = 0;
  while (name && s < RT_OPTIM_IN_COUNT && strcmp(name, input_names[s]) != 0) s++;
  double t = (double)step;
  switch ((RtOptimInput)s) {
  case RT_OPTIM_IN_LR: *out = h->lr; return true;
  case RT_OPTIM_IN_MOMENTUM: *out = h->momentum; return true;
  case RT_OPTIM_IN_WEIGHT_DECAY: *out = h->weight_decay; return true;
  case RT_OPTIM_IN_BETA1: *out = h->beta1; return true;
  case RT_OPTIM_IN_BETA2: *out = h->beta2; return true;
  case RT_OPTIM_IN_EPS: *out = h->eps; return true;
  case RT_OPTIM_IN_MAX_NORM: *out = h->max_norm; return true;
  case RT_OPTIM_IN_STEP_SIZE:
    if (step < 1) return false;
    *out = h->lr / (1.0 - pow(h->beta1, t));
    return true;
  case RT_OPTIM_IN_BC2_SQRT:
    if (step < 1) return false;
    *out = sqrt(1.0 - pow(h->beta2, t));
    return true;
  case RT_OPTIM_IN_ONE_MINUS_BETA1: *out = 1.0 - h->beta1; return true;
  case RT_OPTIM_IN_ONE_MINUS_BETA2: *out = 1.0 - h->beta2; return true;
  case RT_OPTIM_IN_COUNT: return false;
  }
  return false;
}
