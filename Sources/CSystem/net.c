#define _GNU_SOURCE
#include "cnet.h"
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

ssize_t interleave_send_fd(int sock, int fd, const void *data, size_t len) {
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t sent;
    do { sent = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t interleave_recv_fd(int sock, void *data, size_t len, int *fd_out) {
    *fd_out = -1;
    struct iovec iov = {.iov_base = data, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t got;
    do { got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (got < 0 && errno == EINTR);
    if (got < 0) return got;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd_out, CMSG_DATA(c), sizeof(int));
    }
    return got;
}

int interleave_fd_setsize(void) { return FD_SETSIZE; }

int interleave_select_read(const int *fds, int count, int timeout_ms, int *first_ready) {
    *first_ready = -1;
    fd_set set;
    FD_ZERO(&set);
    int highest = -1;
    for (int i = 0; i < count; i++) {
        // FD_SET past FD_SETSIZE writes outside the set: glibc's fortify aborts.
        if (fds[i] < 0 || fds[i] >= FD_SETSIZE) { errno = EINVAL; return -1; }
        FD_SET(fds[i], &set);
        if (fds[i] > highest) highest = fds[i];
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int ready = select(highest + 1, &set, NULL, NULL, timeout_ms < 0 ? NULL : &tv);
    if (ready > 0) {
        for (int i = 0; i < count; i++) {
            if (FD_ISSET(fds[i], &set)) { *first_ready = i; break; }
        }
    }
    return ready;
}

int interleave_raise_nofile(long needed, long *soft_out, long *hard_out) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    if ((long)limit.rlim_cur < needed && limit.rlim_cur != RLIM_INFINITY) {
        struct rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;  // soft up to hard: all an unprivileged process may do
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    *soft_out = limit.rlim_cur == RLIM_INFINITY ? -1 : (long)limit.rlim_cur;
    *hard_out = limit.rlim_max == RLIM_INFINITY ? -1 : (long)limit.rlim_max;
    return 0;
}

uint64_t interleave_thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
