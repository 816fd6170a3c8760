/* tr_dist.c -- the processes that train one model together (data-parallel
   training, docs/train.md): Open MPI when this modelc was built with it and
   runs under mpirun, otherwise a group of one. Only this file sees MPI;
   the trainer asks it for its rank, sums and broadcasts. Errors: MPI's
   default handler ends every process when one fails or dies, which mpirun
   reports; a failed call here is reported and ends the step. */
#include "tr.h"

#include <stdlib.h>
#include <string.h>

#ifdef MODELC_HAVE_MPI
#include <mpi.h>

bool tr_dist_available(void) { return true; }

/* Whether a launcher (mpirun, srun) started this process as one of many. */
static bool launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

bool tr_dist_init(TrDist *d, McDiag *diag) {
  *d = (TrDist){.rank = 0, .size = 1};
  if (!launched()) return true;
  int ok = MPI_Init(NULL, NULL) == MPI_SUCCESS &&
           MPI_Comm_rank(MPI_COMM_WORLD, &d->rank) == MPI_SUCCESS &&
           MPI_Comm_size(MPI_COMM_WORLD, &d->size) == MPI_SUCCESS;
  if (!ok) {
    mc_error(diag, (McLoc){0}, "train: MPI could not start");
    return false;
  }
  d->mpi = true;
  return true;
}

void tr_dist_finish(TrDist *d) {
  if (d->mpi) MPI_Finalize();
  d->mpi = false;
}

bool tr_dist_sum(const TrDist *d, double *buf, int64_t n, McDiag *diag) {
  if (d->size == 1) return true;
  for (int64_t done = 0; done < n;) {   /* MPI counts are ints */
    int part = n - done > (1 << 30) ? 1 << 30 : (int)(n - done);
    if (MPI_Allreduce(MPI_IN_PLACE, buf + done, part, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) !=
        MPI_SUCCESS) {
      mc_error(diag, (McLoc){0}, "train: MPI_Allreduce failed on rank %d", d->rank);
      return false;
    }
    done += part;
  }
  return true;
}

bool tr_dist_broadcast(const TrDist *d, void *buf, int64_t bytes, McDiag *diag) {
  if (d->size == 1) return true;
  for (int64_t done = 0; done < bytes;) {
    int part = bytes - done > (1 << 30) ? 1 << 30 : (int)(bytes - done);
    if (MPI_Bcast((char *)buf + done, part, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
      mc_error(diag, (McLoc){0}, "train: MPI_Bcast failed on rank %d", d->rank);
      return false;
    }
    done += part;
  }
  return true;
}

#else

bool tr_dist_available(void) { return false; }

bool tr_dist_init(TrDist *d, McDiag *diag) {
  *d = (TrDist){.rank = 0, .size = 1};
  const char *size = getenv("OMPI_COMM_WORLD_SIZE");
  if (size && atoi(size) > 1) {
    mc_error(diag, (McLoc){0}, "train: started by mpirun as one of %s processes, but this "
             "modelc was built without MPI (install libopenmpi-dev and rebuild)", size);
    return false;
  }
  return true;
}

void tr_dist_finish(TrDist *d) { (void)d; }

bool tr_dist_sum(const TrDist *d, double *buf, int64_t n, McDiag *diag) {
  (void)d, (void)buf, (void)n, (void)diag;
  return true;
}

bool tr_dist_broadcast(const TrDist *d, void *buf, int64_t bytes, McDiag *diag) {
  (void)d, (void)buf, (void)bytes, (void)diag;
  return true;
}

#endif
