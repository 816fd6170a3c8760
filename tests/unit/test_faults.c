/* test_faults.c -- a checkpoint save that fails part way never damages the
   previous checkpoint: the runtime's stdio and file-system calls are
   wrapped at link time (-Wl,--wrap, tests/CMakeLists.txt) so that the n-th
   fwrite, fflush, fsync, fclose or rename of a save fails, for every n; a
   failed save must report the error, leave the previous file byte for byte
   and leave no temporary file beside it. A child process killed (SIGKILL)
   at random points while it saves again and again must leave a file that
   is one complete version or another, never a partial one. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"
#include "test_util.h"

/* ---- the wrapped calls ------------------------------------------------------- */

enum { F_FWRITE, F_FFLUSH, F_FSYNC, F_FCLOSE, F_RENAME, F_KINDS };
static const char *const kind_names[F_KINDS] = {"fwrite", "fflush", "fsync", "fclose", "rename"};

static int calls[F_KINDS];   /* calls of each kind since the last reset */
static int fail_kind = -1;   /* the kind to fail, -1 = none */
static int fail_at;          /* ... at its fail_at-th call */

size_t __real_fwrite(const void *p, size_t size, size_t n, FILE *f);
int __real_fflush(FILE *f);
int __real_fsync(int fd);
int __real_fclose(FILE *f);
int __real_rename(const char *from, const char *to);

static bool injected(int kind) {
  calls[kind]++;
  if (kind != fail_kind || calls[kind] != fail_at) return false;
  errno = kind == F_RENAME ? EXDEV : ENOSPC;
  return true;
}

size_t __wrap_fwrite(const void *p, size_t size, size_t n, FILE *f) {
  return injected(F_FWRITE) ? 0 : __real_fwrite(p, size, n, f);
}

int __wrap_fflush(FILE *f) { return injected(F_FFLUSH) ? EOF : __real_fflush(f); }

int __wrap_fsync(int fd) { return injected(F_FSYNC) ? -1 : __real_fsync(fd); }

int __wrap_fclose(FILE *f) {
  if (!injected(F_FCLOSE)) return __real_fclose(f);
  __real_fclose(f); /* the stream is gone either way, as after a failed close */
  errno = EIO;
  return EOF;
}

int __wrap_rename(const char *from, const char *to) {
  return injected(F_RENAME) ? -1 : __real_rename(from, to);
}

static void arm(int kind, int at) {
  memset(calls, 0, sizeof calls);
  fail_kind = kind;
  fail_at = at;
}

/* ---- checkpoints ----------------------------------------------------------------- */

#define NVALUES (1 << 16) /* floats per tensor: several buffered writes */

/* A checkpoint of version v: two tensors whose values all derive from v. */
static bool save_version(const char *path, int v, RtError *e) {
  static float a[NVALUES], b[NVALUES / 2];
  for (int i = 0; i < NVALUES; i++) a[i] = (float)(v * 1000 + i % 997);
  for (int i = 0; i < NVALUES / 2; i++) b[i] = (float)(-v - i % 13);
  char version[16];
  snprintf(version, sizeof version, "%d", v);
  RtTensorRef t[2] = {{.name = "a", .dtype = RT_F32, .rank = 1, .dims = {NVALUES}, .data = a},
                      {.name = "b", .dtype = RT_F32, .rank = 2, .dims = {2, NVALUES / 4},
                       .data = b}};
  RtMeta m[1] = {{"version", version}};
  return rt_safetensors_save(path, t, 2, m, 1, e);
}

/* The version a checkpoint holds when it is complete and consistent, else -1. */
static int loaded_version(const char *path) {
  RtError e = {{0}};
  RtCheckpoint *c = rt_safetensors_load(path, &e);
  if (!c) return -1;
  const char *s = rt_checkpoint_meta(c, "version");
  int v = s ? atoi(s) : -1;
  const RtTensorRef *a = rt_checkpoint_find(c, "a"), *b = rt_checkpoint_find(c, "b");
  bool ok = a && b && a->dims[0] == NVALUES;
  for (int i = 0; ok && i < NVALUES; i++) ok = ((const float *)a->data)[i] == v * 1000 + i % 997;
  for (int i = 0; ok && i < NVALUES / 2; i++) ok = ((const float *)b->data)[i] == -v - i % 13;
  rt_checkpoint_free(c);
  return ok ? v : -1;
}

static char *read_all(const char *path, long *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)*n + 1);
  if (fread(s, 1, (size_t)*n, f) != (size_t)*n) *n = -1;
  fclose(f);
  return s;
}

/* Files in dir other than `keep`. */
static int stray_files(const char *dir, const char *keep) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, keep);
  if (d) closedir(d);
  return n;
}

/* ---- injected failures ------------------------------------------------------------- */

static void test_faults_every_call_of_a_save(void) {
  char dir[] = "/tmp/modelc-faults-XXXXXX", path[64];
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
  RtError e = {{0}};
  CU_ASSERT_TRUE_FATAL(save_version(path, 1, &e));
  long nold;
  char *old = read_all(path, &nold);
  arm(-1, 0);
  CU_ASSERT_TRUE_FATAL(save_version(path, 1, &e)); /* counts the calls of one save */
  int total[F_KINDS];
  memcpy(total, calls, sizeof calls);
  int failures = 0;
  for (int k = 0; k < F_KINDS; k++) {
    CU_ASSERT(total[k] > 0);   /* the save still makes calls of this kind */
    for (int at = 1; at <= total[k]; at++) {
      arm(k, at);
      RtError err = {{0}};
      bool saved = save_version(path, 2, &err);
      arm(-1, 0);
      int v = loaded_version(path);
      long n;
      char *now = read_all(path, &n);
      bool intact = now && n == nold && memcmp(now, old, (size_t)n) == 0;
      free(now);
      /* syncing the folder after the rename is best effort: the save stands */
      if (saved) {
        CU_ASSERT_EQUAL(v, 2);
        CU_ASSERT_TRUE(save_version(path, 1, &e)); /* back to version 1 */
        free(old);
        old = read_all(path, &nold);
      } else {
        failures++;
        if (!intact || strstr(err.msg, "cannot write") == NULL)
          fprintf(stderr, "\n  %s #%d: previous file %s, error '%s'", kind_names[k], at,
                  intact ? "intact" : "DAMAGED", err.msg);
        CU_ASSERT_TRUE(intact);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot write"));
      }
      CU_ASSERT_EQUAL(stray_files(dir, "ckpt.safetensors"), 0);
    }
  }
  CU_ASSERT(failures >= total[F_FWRITE] + total[F_FFLUSH] + total[F_FCLOSE] + total[F_RENAME]);
  free(old);
  unlink(path);
  rmdir(dir);
}

/* ---- SIGKILL at random points --------------------------------------------------------- */

static void test_faults_killed_while_saving(void) {
  char dir[] = "/tmp/modelc-kill-XXXXXX", path[64];
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
  RtError e = {{0}};
  CU_ASSERT_TRUE_FATAL(save_version(path, 1, &e));
  srand(12345);
  int last = 1;
  for (int round = 0; round < 30; round++) {
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
      for (int v = last + 1;; v++) save_version(path, v, NULL);
    }
    struct timespec ts = {0, (long)(rand() % 20000) * 1000}; /* 0 to 20 ms */
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int v = loaded_version(path);
    CU_ASSERT(v >= last);   /* a complete version, never older than the last one seen */
    if (v >= last) last = v;
  }
  /* a killed save may leave its temporary file (nothing can remove it), but
     never under the final name */
  DIR *d = opendir(dir);
  for (struct dirent *ent; d && (ent = readdir(d));) {
    if (ent->d_name[0] == '.' && (!ent->d_name[1] || ent->d_name[1] == '.')) continue;
    CU_ASSERT(strcmp(ent->d_name, "ckpt.safetensors") == 0 ||
              strncmp(ent->d_name, "ckpt.safetensors.tmp.", 21) == 0);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, ent->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

int main(void) {
  static const TestCase cases[] = {
      {"a failure of each fwrite, fflush, fsync, fclose, rename of a save",
       test_faults_every_call_of_a_save},
      {"SIGKILL while saving leaves one complete version", test_faults_killed_while_saving},
  };
  return test_main("faults", cases, MC_COUNTOF(cases));
}
