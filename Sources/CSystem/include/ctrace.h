#ifndef INTERLEAVE_CTRACE_H
#define INTERLEAVE_CTRACE_H
// The tracer's hot path needs three things Swift cannot express cheaply: a per-thread
// slot (__thread, no pthread_getspecific call), the CPU the thread is on read from
// the rseq area the kernel keeps up to date (glibc >= 2.35 registers it for every
// thread), and plain acquire/release accesses on memory that is not a Swift Atomic.
// All are `static inline` so the Swift optimizer can inline them into `emit`.
#include <stdint.h>
#include <sched.h>
#include <sys/rseq.h>
#include <time.h>

// Declared by <sched.h> only under _GNU_SOURCE, which Swift's importer does not set.
int sched_getcpu(void);

/// The trace buffer the calling thread last used, tagged with its recorder's id.
struct interleave_trace_slot {
    uint64_t recorder;
    void *buffer;
};
extern __thread struct interleave_trace_slot interleave_trace_tls;

/// A number no other thread of this process has had or will have (tids are reused).
uint64_t interleave_thread_serial(void);

/// The calling thread's buffer for `recorder`, or NULL if it last used another one.
static inline void *interleave_trace_buffer(uint64_t recorder) {
    return interleave_trace_tls.recorder == recorder ? interleave_trace_tls.buffer : (void *)0;
}

static inline void interleave_set_trace_buffer(uint64_t recorder, void *buffer) {
    interleave_trace_tls.recorder = recorder;
    interleave_trace_tls.buffer = buffer;
}

/// The CPU the calling thread is running on (sched_getcpu, without the call): the
/// kernel writes it into the thread's rseq area on every migration.
static inline int32_t interleave_cpu(void) {
    if (__rseq_size > 0) {
        const struct rseq *area = (const struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
        return (int32_t)area->cpu_id;
    }
    return (int32_t)sched_getcpu();
}

/// CLOCK_MONOTONIC in nanoseconds, inlined (the vDSO call is the whole cost).
static inline uint64_t interleave_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/// Asks for the cache line at `address` in a writable state, without waiting for it.
/// The tracer fetches the line of a record a few emits ahead: the ticket's locked add
/// drains the store buffer, so a record store that missed the cache would otherwise be
/// waited for, in full, by the next emit.
/// (PREFETCHW by hand: the baseline x86-64 target turns __builtin_prefetch into a read
/// prefetch, which may bring the line shared. CPUs without PREFETCHW run it as a no-op.)
static inline void interleave_prefetch_write(const void *address) {
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)address));
#else
    __builtin_prefetch(address, 1, 3);
#endif
}

static inline int64_t interleave_load_acquire(const int64_t *cell) { return __atomic_load_n(cell, __ATOMIC_ACQUIRE); }
static inline void interleave_store_release(int64_t *cell, int64_t value) { __atomic_store_n(cell, value, __ATOMIC_RELEASE); }
static inline uint32_t interleave_load_relaxed32(const uint32_t *cell) { return __atomic_load_n(cell, __ATOMIC_RELAXED); }
static inline void interleave_store_relaxed32(uint32_t *cell, uint32_t value) { __atomic_store_n(cell, value, __ATOMIC_RELAXED); }
#endif
