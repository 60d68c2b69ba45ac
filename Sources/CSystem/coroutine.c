// Stack switching, the one unsafe corner of the coroutine experiments.
//
// Why makecontext/swapcontext: they are POSIX (deprecated there but kept by glibc)
// and save everything a C or Swift caller relies on — callee-saved registers, the
// stack pointer, the signal mask — so a Swift function can run on a stack we
// allocated and be suspended at any call depth. greenlet does the same with a few
// lines of assembly per architecture; swapcontext costs one extra syscall
// (sigprocmask) per switch, which is fine for a teaching tool.
#define _GNU_SOURCE
#include "ccoroutine.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

struct interleave_coro {
    ucontext_t context;
    void *stack;          // mmap'd region including the guard page; NULL for a thread's own context
    size_t stack_bytes;
    interleave_coro_fn fn;
    void *arg;
    interleave_coro *parent;
    int finished;
};

// makecontext passes only int arguments, so the pointer travels as two halves.
static void trampoline(unsigned int high, unsigned int low) {
    interleave_coro *coro = (interleave_coro *)(((uintptr_t)high << 32) | (uintptr_t)low);
    coro->fn(coro->arg);
    coro->finished = 1;
    // Never return from here (uc_link is NULL): go to the parent for good.
    setcontext(&coro->parent->context);
    abort();
}

interleave_coro *interleave_coro_current_thread(void) {
    interleave_coro *coro = calloc(1, sizeof *coro);
    return coro;
}

interleave_coro *interleave_coro_create(size_t stack_size, interleave_coro_fn fn, void *arg,
                                        interleave_coro *parent) {
    long page = sysconf(_SC_PAGESIZE);
    size_t usable = (stack_size + (size_t)page - 1) / (size_t)page * (size_t)page;
    size_t total = usable + (size_t)page;
    interleave_coro *coro = calloc(1, sizeof *coro);
    if (!coro) return NULL;
    void *stack = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) { free(coro); return NULL; }
    // The lowest page traps a stack overflow instead of silently corrupting memory.
    mprotect(stack, (size_t)page, PROT_NONE);
    if (getcontext(&coro->context) != 0) { munmap(stack, total); free(coro); return NULL; }
    coro->stack = stack;
    coro->stack_bytes = total;
    coro->fn = fn;
    coro->arg = arg;
    coro->parent = parent;
    coro->context.uc_stack.ss_sp = (char *)stack + page;
    coro->context.uc_stack.ss_size = usable;
    coro->context.uc_link = NULL;
    uintptr_t bits = (uintptr_t)coro;
    makecontext(&coro->context, (void (*)(void))trampoline, 2, (unsigned int)(bits >> 32),
                (unsigned int)(bits & 0xffffffffu));
    return coro;
}

void interleave_coro_set_arg(interleave_coro *coro, void *arg) { coro->arg = arg; }

int interleave_coro_switch(interleave_coro *from, interleave_coro *to) {
    if (to->finished) { errno = EINVAL; return -1; }
    return swapcontext(&from->context, &to->context);
}

int interleave_coro_finished(const interleave_coro *coro) { return coro->finished; }

void interleave_coro_destroy(interleave_coro *coro) {
    if (!coro) return;
    if (coro->stack) munmap(coro->stack, coro->stack_bytes);
    free(coro);
}
