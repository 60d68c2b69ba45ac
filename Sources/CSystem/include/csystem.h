#ifndef INTERLEAVE_CSYSTEM_H
#define INTERLEAVE_CSYSTEM_H
// Small C helpers for things Swift cannot call directly: variadic syscalls
// (syscall, prctl) and per-thread caching (__thread).
#include <stdint.h>
#include <sys/types.h>

/// The calling thread's kernel thread id (gettid), cached per thread so that
/// tracing pays for the syscall once per thread, not once per event.
pid_t interleave_tid(void);

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process on the host,
/// so parent and child traces share one time axis.
uint64_t interleave_monotonic_ns(void);

/// Ask the kernel to send `sig` to this process when its parent dies
/// (prctl(PR_SET_PDEATHSIG)); returns 0 on success.
int interleave_set_parent_death_signal(int sig);

/// Number of threads of this process, counted from /proc/self/task (-1 on error).
int interleave_thread_count(void);
/// Names the calling thread (pthread_setname_np needs _GNU_SOURCE); 15 bytes kept.
void interleave_set_thread_name(const char *name);
/// Returns the heap's free pages to the system (glibc's malloc_trim, from <malloc.h>,
/// which Swift's Glibc module does not expose).
int interleave_release_free_memory(void);
/// glibc malloc settings (mallopt, from <malloc.h>): at most `arenas` arenas, and blocks of
/// `mmap_threshold` bytes or more mapped on their own (unmapped when freed). A value <= 0, or
/// one set by the environment (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_), is left as it is.
/// Returns 1 when every setting made was accepted.
int interleave_configure_malloc(int arenas, int mmap_threshold);
/// Bytes malloc holds from the system and bytes of it in use, over every arena and mapped
/// block (mallinfo2).
void interleave_malloc_usage(long *system_bytes, long *in_use_bytes);
#endif
