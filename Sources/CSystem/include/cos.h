#ifndef INTERLEAVE_COS_H
#define INTERLEAVE_COS_H
// What the kernel does with threads: CPU clocks of other threads, affinity, scheduling
// policies. In C because cpu_set_t is driven by macros (CPU_SET, CPU_ISSET), the
// per-thread CPU clock id is built with bit operations the kernel defines, and several
// of these calls need _GNU_SOURCE, which Swift's Glibc lacks.
#include <stdint.h>
#include <sys/types.h>

/// CPU time in ns that thread `tid` of THIS process has used, read live from the
/// kernel (precise even while it runs); -1 if it is gone or not ours.
int64_t interleave_os_thread_cpu_ns(pid_t tid);
/// CPU time in ns of process `pid` (all its threads); -1 if it is gone.
int64_t interleave_os_process_cpu_ns(pid_t pid);

/// The CPUs thread `tid` (0: the caller) may run on, written into `cpus` (up to `max`);
/// returns how many, or -1.
int interleave_os_get_affinity(pid_t tid, int *cpus, int max);
/// Pins thread `tid` (0: the caller) to `cpus`; returns 0 or an errno value.
int interleave_os_set_affinity(pid_t tid, const int *cpus, int count);
/// The CPU the calling thread is on now (sched_getcpu), or -1.
int interleave_os_current_cpu(void);

/// Scheduling policy constants, for Swift.
int interleave_os_sched_other(void);
int interleave_os_sched_fifo(void);
int interleave_os_sched_rr(void);
/// sched_setscheduler(tid, policy, {priority}); returns 0 or an errno value (EPERM).
int interleave_os_set_scheduler(pid_t tid, int policy, int priority);
/// sched_setparam(tid, {priority}) within the current policy; 0 or an errno value.
int interleave_os_set_priority(pid_t tid, int priority);
/// sched_rr_get_interval: the round-robin time slice of `tid` in ns, or -1.
int64_t interleave_os_rr_interval_ns(pid_t tid);
#endif
