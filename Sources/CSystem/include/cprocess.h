#ifndef INTERLEAVE_CPROCESS_H
#define INTERLEAVE_CPROCESS_H
// C helpers for worker processes and the memory they share. They exist because
// posix_spawn's attribute and file-action objects, process-shared pthread objects
// and their attribute setters are awkward or unsafe to drive from Swift: the objects
// must not move, and several calls are macros or need _GNU_SOURCE.
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Starts `path` with `argv` (NULL-terminated) by posix_spawn — fork-free and
/// exec-always, so the child never runs a copy of the server's memory. The child
/// gets its own process group (pgid == its pid), an empty signal mask, default
/// dispositions for the usual signals (the server may ignore SIGPIPE, and ignored
/// dispositions survive exec), `fd_map[2i]` as its fd made from the parent's
/// `fd_map[2i+1]`, and no other descriptor. Returns 0 or an errno value.
int interleave_spawn(const char *path, char *const argv[], const int *fd_map, int map_pairs, pid_t *pid_out);

/// pipe2(O_CLOEXEC [| O_NONBLOCK]); pipe2 needs _GNU_SOURCE, which Swift's Glibc lacks.
int interleave_pipe(int fds[2], int nonblocking);

/// A shared-memory file (memfd, close-on-exec) of `size` bytes mapped read-write;
/// returns the fd (pass it to children) or -1. Nothing is left in /dev/shm.
int interleave_shm_create(size_t size, void **addr_out);
/// Maps a whole shared-memory fd received from the parent; NULL on failure.
void *interleave_shm_map(int fd, size_t *size_out);
void interleave_shm_unmap(void *addr, size_t size);

/// A process-shared, robust pthread mutex living in shared memory. A holder that
/// is killed does not wedge the others: the next locker recovers it.
size_t interleave_plock_size(void);
int interleave_plock_init(void *at);
/// 0 when taken, 1 when taken from a holder that died, -1 on error.
int interleave_plock_lock(void *at);
/// 0 when taken, 1 when busy, -1 on error.
int interleave_plock_trylock(void *at);
int interleave_plock_unlock(void *at);

/// A process-shared barrier for `count` processes, in shared memory.
size_t interleave_pbarrier_size(void);
int interleave_pbarrier_init(void *at, unsigned count);
int interleave_pbarrier_wait(void *at);

/// Loads and stores of a shared 64-bit cell that the compiler may not fold away.
int64_t interleave_shared_load(const int64_t *cell);
void interleave_shared_store(int64_t *cell, int64_t value);
/// Stores `desired` if the cell holds `expected`; 1 if it did (the write overwrote nobody).
int interleave_shared_cas(int64_t *cell, int64_t expected, int64_t desired);

/// A bounded FIFO of (item, flow) pairs in shared memory, guarded by a
/// process-shared robust mutex and two process-shared condition variables: the
/// multiprocessing.Queue of this project. put/get block; `found_full`/`found_empty`
/// say whether the caller had to wait; `size_after` is the depth after the call.
size_t interleave_pqueue_size(int64_t capacity);
int interleave_pqueue_init(void *at, int64_t capacity);
/// `at_ns` is the monotonic time at which the item went in or came out, taken
/// under the queue's lock, so a put is always stamped before its get.
int interleave_pqueue_put(void *at, int64_t item, int64_t flow, int *found_full, int64_t *size_after, uint64_t *at_ns);
int interleave_pqueue_get(void *at, int64_t *item, int64_t *flow, int *found_empty, int64_t *size_after, uint64_t *at_ns);
/// put without blocking: 0 done, 1 full (nothing put), -1 error.
int interleave_pqueue_try_put(void *at, int64_t item, int64_t flow, int64_t *size_after, uint64_t *at_ns);

/// waitid(P_PID, pid, WEXITED | WNOHANG | WNOWAIT): 1 if the child has exited (it
/// stays a zombie, so its pid cannot be reused yet), 0 if not, -1 if it is not our
/// child any more (ECHILD: someone else reaped it).
int interleave_child_exited(pid_t pid);
/// 1 if the child is already on its way out on its own: exited (a zombie), exiting
/// (PF_EXITING in /proc/PID/stat: set before it closes its files, so before a peer can
/// see EOF from it), or with a SIGKILL pending; else 0. A run about to signal its
/// children asks this, so a death from outside is not taken for one the run caused.
int interleave_child_dying(pid_t pid);
/// Reaps an exited child; sets `code` (exit status) or `signal` (terminating
/// signal, else 0). Returns 0, or -1 on error.
int interleave_reap(pid_t pid, int *code, int *signal);
#endif
