#define _GNU_SOURCE
#include "cos.h"
#include <errno.h>
#include <sched.h>
#include <time.h>

// The kernel's encoding of a per-thread CPU clock (include/linux/posix-timers.h):
// the complemented tid shifted by 3, CPUCLOCK_PERTHREAD_MASK (4) and CPUCLOCK_SCHED (2).
// glibc's pthread_getcpuclockid builds the same id but needs a pthread_t, and the
// sampler only knows kernel tids. The kernel allows it for threads of our own process.
static clockid_t thread_clock(pid_t tid) { return (clockid_t)((~(unsigned)tid) << 3) | 4 | 2; }

int64_t interleave_os_thread_cpu_ns(pid_t tid) {
    struct timespec ts;
    if (clock_gettime(thread_clock(tid), &ts) != 0) return -1;
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

int64_t interleave_os_process_cpu_ns(pid_t pid) {
    clockid_t clock;
    struct timespec ts;
    if (clock_getcpuclockid(pid, &clock) != 0) return -1;
    if (clock_gettime(clock, &ts) != 0) return -1;
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

int interleave_os_get_affinity(pid_t tid, int *cpus, int max) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(tid, sizeof set, &set) != 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < max; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[count++] = cpu;
    }
    return count;
}

int interleave_os_set_affinity(pid_t tid, const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_SET(cpus[i], &set);
    }
    return sched_setaffinity(tid, sizeof set, &set) == 0 ? 0 : errno;
}

int interleave_os_current_cpu(void) { return sched_getcpu(); }

int interleave_os_sched_other(void) { return SCHED_OTHER; }
int interleave_os_sched_fifo(void) { return SCHED_FIFO; }
int interleave_os_sched_rr(void) { return SCHED_RR; }

int interleave_os_set_scheduler(pid_t tid, int policy, int priority) {
    struct sched_param param = {.sched_priority = priority};
    return sched_setscheduler(tid, policy, &param) == 0 ? 0 : errno;
}

int interleave_os_set_priority(pid_t tid, int priority) {
    struct sched_param param = {.sched_priority = priority};
    return sched_setparam(tid, &param) == 0 ? 0 : errno;
}

int64_t interleave_os_rr_interval_ns(pid_t tid) {
    struct timespec ts;
    if (sched_rr_get_interval(tid, &ts) != 0) return -1;
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}
