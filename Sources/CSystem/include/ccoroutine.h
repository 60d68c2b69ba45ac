#ifndef INTERLEAVE_CCOROUTINE_H
#define INTERLEAVE_CCOROUTINE_H
// Stackful coroutines on one OS thread: each has its own stack, and switching
// saves one CPU context and restores another (makecontext/swapcontext), which is
// what greenlet does for CPython. This is the only place Interleave switches
// stacks; Swift sees an opaque handle and three calls.
#include <stddef.h>

typedef struct interleave_coro interleave_coro;
typedef void (*interleave_coro_fn)(void *arg);

/// A context for the calling thread itself (the one that will run the others);
/// it owns no stack. Switch back to it to leave the coroutines.
interleave_coro *interleave_coro_current_thread(void);

/// A new coroutine that will run `fn(arg)` on its own `stack_size`-byte stack
/// (mmap'd, with a guard page below it) the first time it is switched to. When
/// `fn` returns, the coroutine is finished and control goes to `parent`.
/// NULL if memory or the context could not be had.
interleave_coro *interleave_coro_create(size_t stack_size, interleave_coro_fn fn, void *arg,
                                        interleave_coro *parent);

/// Sets the argument `fn` receives (for callers that only have it after creation).
void interleave_coro_set_arg(interleave_coro *coro, void *arg);

/// Saves the running context into `from` and resumes `to` (which must not be
/// finished). Returns when something switches back to `from`. 0, or -1 with errno.
int interleave_coro_switch(interleave_coro *from, interleave_coro *to);

/// 1 once the coroutine's function has returned.
int interleave_coro_finished(const interleave_coro *coro);

/// Frees the coroutine and its stack. Never call it on the running coroutine,
/// nor on one suspended in the middle of its function (its stack would leak
/// whatever it holds): resume it until it finishes first.
void interleave_coro_destroy(interleave_coro *coro);
#endif
