#define _GNU_SOURCE
#include "cprocess.h"
#include "csystem.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int interleave_spawn(const char *path, char *const argv[], const int *fd_map, int map_pairs, pid_t *pid_out) {
    if (map_pairs > 128) return EINVAL;
    // Move every source fd above every target first, so that one dup2 can never
    // overwrite the source of a later one (a parent fd may well be 3 or 4).
    int staged[128];
    int highest_target = 2;
    for (int i = 0; i < map_pairs; i++) {
        staged[i] = -1;
        if (fd_map[2 * i] > highest_target) highest_target = fd_map[2 * i];
    }
    int floor = highest_target + 1 > 64 ? highest_target + 1 : 64;
    int err = 0;
    for (int i = 0; i < map_pairs; i++) {
        staged[i] = fcntl(fd_map[2 * i + 1], F_DUPFD_CLOEXEC, floor);
        if (staged[i] < 0) { err = errno; goto cleanup_staged; }
    }

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    for (int i = 0; i < map_pairs; i++) posix_spawn_file_actions_adddup2(&actions, staged[i], fd_map[2 * i]);
    posix_spawn_file_actions_addclosefrom_np(&actions, highest_target + 1);

    sigset_t mask, defaults;
    sigemptyset(&mask);
    sigemptyset(&defaults);
    int reset[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};
    for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++) sigaddset(&defaults, reset[i]);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    extern char **environ;
    err = posix_spawn(pid_out, path, &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
cleanup_staged:
    for (int i = 0; i < map_pairs; i++) if (staged[i] >= 0) close(staged[i]);
    return err;
}

int interleave_pipe(int fds[2], int nonblocking) {
    return pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0));
}

int interleave_shm_create(size_t size, void **addr_out) {
    int fd = memfd_create("interleave-shared", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t)size) != 0) { close(fd); return -1; }
    void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) { close(fd); return -1; }
    *addr_out = addr;
    return fd;
}

void *interleave_shm_map(int fd, size_t *size_out) {
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) return NULL;
    void *addr = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) return NULL;
    *size_out = (size_t)st.st_size;
    return addr;
}

void interleave_shm_unmap(void *addr, size_t size) { munmap(addr, size); }

size_t interleave_plock_size(void) { return sizeof(pthread_mutex_t); }

int interleave_plock_init(void *at) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    int err = pthread_mutex_init((pthread_mutex_t *)at, &attr);
    pthread_mutexattr_destroy(&attr);
    return err == 0 ? 0 : -1;
}

static int recover(pthread_mutex_t *mutex, int err) {
    if (err == 0) return 0;
    if (err == EOWNERDEAD) { pthread_mutex_consistent(mutex); return 1; }
    return -1;
}

int interleave_plock_lock(void *at) {
    pthread_mutex_t *mutex = (pthread_mutex_t *)at;
    return recover(mutex, pthread_mutex_lock(mutex));
}

int interleave_plock_trylock(void *at) {
    pthread_mutex_t *mutex = (pthread_mutex_t *)at;
    int err = pthread_mutex_trylock(mutex);
    if (err == EBUSY) return 1;
    return recover(mutex, err) < 0 ? -1 : 0;
}

int interleave_plock_unlock(void *at) { return pthread_mutex_unlock((pthread_mutex_t *)at) == 0 ? 0 : -1; }

size_t interleave_pbarrier_size(void) { return sizeof(pthread_barrier_t); }

int interleave_pbarrier_init(void *at, unsigned count) {
    pthread_barrierattr_t attr;
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    int err = pthread_barrier_init((pthread_barrier_t *)at, &attr, count);
    pthread_barrierattr_destroy(&attr);
    return err == 0 ? 0 : -1;
}

int interleave_pbarrier_wait(void *at) {
    int err = pthread_barrier_wait((pthread_barrier_t *)at);
    return (err == 0 || err == PTHREAD_BARRIER_SERIAL_THREAD) ? 0 : -1;
}

int64_t interleave_shared_load(const int64_t *cell) { return __atomic_load_n(cell, __ATOMIC_RELAXED); }
void interleave_shared_store(int64_t *cell, int64_t value) { __atomic_store_n(cell, value, __ATOMIC_RELAXED); }
int interleave_shared_cas(int64_t *cell, int64_t expected, int64_t desired) {
    return __atomic_compare_exchange_n(cell, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 1 : 0;
}

typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    int64_t capacity;
    int64_t head;
    int64_t count;
    struct { int64_t item, flow; } slots[];
} pqueue;

size_t interleave_pqueue_size(int64_t capacity) {
    return sizeof(pqueue) + (size_t)capacity * 2 * sizeof(int64_t);
}

int interleave_pqueue_init(void *at, int64_t capacity) {
    pqueue *q = (pqueue *)at;
    if (interleave_plock_init(&q->mutex) != 0) return -1;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    int err = pthread_cond_init(&q->not_empty, &attr) | pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    q->capacity = capacity;
    q->head = 0;
    q->count = 0;
    return err == 0 ? 0 : -1;
}

static int queue_wait(pqueue *q, pthread_cond_t *cond) {
    return recover(&q->mutex, pthread_cond_wait(cond, &q->mutex)) < 0 ? -1 : 0;
}

/* Appends to a queue that has room, with its mutex held; signals a getter and unlocks. */
static int push_and_unlock(pqueue *q, int64_t item, int64_t flow, int64_t *size_after, uint64_t *at_ns) {
    int64_t tail = (q->head + q->count) % q->capacity;
    q->slots[tail].item = item;
    q->slots[tail].flow = flow;
    q->count += 1;
    *size_after = q->count;
    *at_ns = interleave_monotonic_ns();
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mutex);
    return 0;
}

int interleave_pqueue_try_put(void *at, int64_t item, int64_t flow, int64_t *size_after, uint64_t *at_ns) {
    pqueue *q = (pqueue *)at;
    if (interleave_plock_lock(&q->mutex) < 0) return -1;
    if (q->count >= q->capacity) { pthread_mutex_unlock(&q->mutex); return 1; }
    return push_and_unlock(q, item, flow, size_after, at_ns);
}

int interleave_pqueue_put(void *at, int64_t item, int64_t flow, int *found_full, int64_t *size_after, uint64_t *at_ns) {
    pqueue *q = (pqueue *)at;
    if (interleave_plock_lock(&q->mutex) < 0) return -1;
    *found_full = q->count >= q->capacity;
    while (q->count >= q->capacity) {
        if (queue_wait(q, &q->not_full) != 0) { pthread_mutex_unlock(&q->mutex); return -1; }
    }
    return push_and_unlock(q, item, flow, size_after, at_ns);
}

int interleave_pqueue_get(void *at, int64_t *item, int64_t *flow, int *found_empty, int64_t *size_after, uint64_t *at_ns) {
    pqueue *q = (pqueue *)at;
    if (interleave_plock_lock(&q->mutex) < 0) return -1;
    *found_empty = q->count == 0;
    while (q->count == 0) {
        if (queue_wait(q, &q->not_empty) != 0) { pthread_mutex_unlock(&q->mutex); return -1; }
    }
    *item = q->slots[q->head].item;
    *flow = q->slots[q->head].flow;
    q->head = (q->head + 1) % q->capacity;
    q->count -= 1;
    *size_after = q->count;
    *at_ns = interleave_monotonic_ns();
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mutex);
    return 0;
}

int interleave_child_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result;
    do { result = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT); } while (result != 0 && errno == EINTR);
    if (result != 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}

int interleave_child_dying(pid_t pid) {
    if (interleave_child_exited(pid) != 0) return 1;
    char path[64], buffer[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "re");
    if (file == NULL) return 1;  // gone
    size_t length = fread(buffer, 1, sizeof buffer - 1, file);
    fclose(file);
    buffer[length] = 0;
    // Fields after the command name (which may hold spaces and parentheses):
    // state ppid pgrp session tty_nr tpgid flags ...
    char *rest = strrchr(buffer, ')');
    if (rest != NULL) {
        char state = 0;
        int ppid, pgrp, session, tty, tpgid;
        unsigned int flags = 0;
        if (sscanf(rest + 1, " %c %d %d %d %d %d %u", &state, &ppid, &pgrp, &session, &tty, &tpgid, &flags) == 7
            && ((flags & 0x4u) != 0 || state == 'Z' || state == 'X')) return 1;  // PF_EXITING
    }
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    file = fopen(path, "re");
    if (file == NULL) return 1;
    char line[256];
    int dying = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        unsigned long long mask;
        // SigPnd (this thread) and ShdPnd (the process): bit 8 is SIGKILL.
        if ((strncmp(line, "ShdPnd:", 7) == 0 || strncmp(line, "SigPnd:", 7) == 0)
            && sscanf(line + 7, "%llx", &mask) == 1 && (mask & (1ull << (SIGKILL - 1))) != 0) { dying = 1; break; }
    }
    fclose(file);
    return dying;
}

int interleave_reap(pid_t pid, int *code, int *signal) {
    int status = 0;
    pid_t got;
    do { got = waitpid(pid, &status, 0); } while (got < 0 && errno == EINTR);
    if (got != pid) return -1;
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return 0;
}
