#ifndef INTERLEAVE_CLOOP_H
#define INTERLEAVE_CLOOP_H
// The kernel interfaces an event loop waits on. Swift's Glibc module leaves these
// headers out, so CSystem exposes them as they are: the loop calls epoll_wait,
// timerfd_settime and eventfd itself.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#endif
