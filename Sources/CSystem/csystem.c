#define _GNU_SOURCE
#include "csystem.h"
#include "ctrace.h"
#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static __thread pid_t cached_tid = 0;
__thread struct interleave_trace_slot interleave_trace_tls;
static __thread uint64_t thread_serial = 0;
static uint64_t last_thread_serial = 0;

uint64_t interleave_thread_serial(void) {
    if (thread_serial == 0) thread_serial = __atomic_add_fetch(&last_thread_serial, 1, __ATOMIC_RELAXED);
    return thread_serial;
}

pid_t interleave_tid(void) {
    if (cached_tid == 0) cached_tid = (pid_t)syscall(SYS_gettid);
    return cached_tid;
}

uint64_t interleave_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int interleave_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0);
}

int interleave_thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(dir);
    return count;
}

void interleave_set_thread_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, 15);
    shortened[15] = 0;
    pthread_setname_np(pthread_self(), shortened);
}

#include <malloc.h>
#include <stdlib.h>
int interleave_release_free_memory(void) { return malloc_trim(0); }

int interleave_configure_malloc(int arenas, int mmap_threshold) {
    int ok = 1;
    if (arenas > 0 && getenv("MALLOC_ARENA_MAX") == NULL) ok &= mallopt(M_ARENA_MAX, arenas) == 1;
    if (mmap_threshold > 0 && getenv("MALLOC_MMAP_THRESHOLD_") == NULL) ok &= mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1;
    return ok;
}

void interleave_malloc_usage(long *system_bytes, long *in_use_bytes) {
    struct mallinfo2 info = mallinfo2();
    *system_bytes = (long)(info.arena + info.hblkhd);
    *in_use_bytes = (long)(info.uordblks + info.hblkhd);
}
