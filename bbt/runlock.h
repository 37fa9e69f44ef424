/* runlock.h — one writer per run directory.
 *
 * `bbt tune` (a new run, --force, --resume) holds an advisory lock (flock) on RUN/run.lock for the run's life, so that a
 * second writer on the same directory is refused instead of mixing two runs' files. The file holds the holder's pid, so
 * that the refusal can name it. The kernel drops the lock when the holder dies, however it dies (kill -9 included):
 * a run.lock left behind never blocks --resume. Readers (eval, predict) take no lock.
 */
#ifndef BBT_RUNLOCK_H
#define BBT_RUNLOCK_H

#include "bbt/error.h"

typedef struct runlock {
    int fd; /* -1 when not held */
} runlock;

#define RUNLOCK_FILE "run.lock"

/* Take the lock of run directory dir (which must exist) without waiting. -1 when another process holds it: the message
 * names dir and the holder's pid; or when the lock file cannot be made. */
int runlock_acquire(runlock *l, const char *dir, bbt_error *err);

/* Give the lock back (the file stays); a lock not held is left alone. */
void runlock_release(runlock *l);

#endif
