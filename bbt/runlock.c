/* runlock.c — an advisory lock on RUN/run.lock (see runlock.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "bbt/files.h"
#include "bbt/runlock.h"

/* The pid written by the holder, or 0 when the file holds none yet (the holder is between flock and its write). */
static long holder_pid(int fd)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return strtol(buf, NULL, 10);
}

static int write_pid(int fd)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    /* write, then cut to length: the file is never empty in between (a refused tune reads it to name us) */
    if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) != 0)
        return -1;
    return 0;
}

int runlock_acquire(runlock *l, const char *dir, bbt_error *err)
{
    l->fd = -1;
    char *path = path_join(dir, RUNLOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = bbt_fail(err, "%s: cannot open the run's lock file: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    int rc = 0;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK) {
            long pid = holder_pid(fd);
            /* the holder may be between its flock and its write: give it up to 0.2 s to name itself */
            for (int tries = 0; pid == 0 && tries < 20; tries++) {
                nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
                pid = holder_pid(fd);
            }
            char who[48] = "another process";
            if (pid > 0)
                snprintf(who, sizeof who, "another bbt (pid %ld)", pid);
            rc = bbt_fail(err, "%s is in use: %s is writing this run (it holds %s); wait for it to end or stop it "
                               "first",
                          dir, who, path);
        } else {
            rc = bbt_fail(err, "%s: cannot lock: %s", path, strerror(errno));
        }
        break;
    }
    if (!rc && write_pid(fd) != 0)
        rc = bbt_fail(err, "%s: cannot write the pid: %s", path, strerror(errno));
    free(path);
    if (rc) {
        close(fd);
        return rc;
    }
    l->fd = fd;
    return 0;
}

void runlock_release(runlock *l)
{
    if (l->fd >= 0)
        close(l->fd); /* drops the flock */
    l->fd = -1;
}
