#ifndef INTERLEAVE_CNET_H
#define INTERLEAVE_CNET_H
// C helpers for the socket experiments. Each exists because Swift cannot do it
// cleanly: control messages are built with the CMSG_* macros, fd_set with the FD_*
// macros, and RLIMIT_NOFILE / CLOCK_THREAD_CPUTIME_ID are awkward enum imports.
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
// Swift's Glibc module leaves these out; importing them here gives Swift epoll_event,
// EPOLLIN, eventfd and TCP_NODELAY.
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// Sends `len` bytes of `data` on the AF_UNIX socket `sock` with `fd` attached as
/// SCM_RIGHTS: the receiver gets its own descriptor for the same open socket — how
/// multiprocessing hands a connection to a pool worker. Returns bytes sent or -1.
ssize_t interleave_send_fd(int sock, int fd, const void *data, size_t len);
/// Receives up to `len` bytes and, if one came along, the passed descriptor
/// (close-on-exec) in `fd_out` (else -1). Returns bytes read, 0 at EOF, -1 on error.
ssize_t interleave_recv_fd(int sock, void *data, size_t len, int *fd_out);

/// FD_SETSIZE: select(2) cannot watch a descriptor numbered this or above.
int interleave_fd_setsize(void);
/// One select(2) for readability over `fds`: builds the fd_set (as Python's
/// select.select does on every call), waits up to `timeout_ms` (-1: forever).
/// Returns how many are ready and the index of the first in `first_ready`
/// (-1 if none); -1 with errno on error, errno EINVAL if an fd is >= FD_SETSIZE.
int interleave_select_read(const int *fds, int count, int timeout_ms, int *first_ready);

/// Raises the soft RLIMIT_NOFILE to the hard limit if it is below `needed`.
/// Reports both limits after the attempt; returns 0, or -1 with errno.
int interleave_raise_nofile(long needed, long *soft_out, long *hard_out);

/// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID), in ns.
uint64_t interleave_thread_cpu_ns(void);
#endif
