/* webnbd's emscripten port, internal: what calls.c and shim.c share, and the imports that
 * library.js forwards to the runtime (wasm/runtime/runtime.ts). Not for programs to include.
 */

#ifndef WEBNBD_H
#define WEBNBD_H

#include <stddef.h>
#include <stdint.h>

#include "libnbd.h"

/* Call the runtime for `name` with its arguments packed in 64-bit slots; `async` calls sleep
 * through Asyncify until the core's Promise settles. Then run the handle's queued callbacks.
 * Returns 0 (result in *ret) or -1 (error recorded for nbd_get_error, errno set).
 */
extern int webnbd_invoke (struct nbd_handle *h, const char *name, const uint64_t *args,
                          int async, int64_t *ret);

/* Fail `name` with ENOTSUP and a reason. */
extern void webnbd_unsupported (struct nbd_handle *h, const char *name, const char *why);

/* A callback the runtime queued for C to run; the layout is read and written by runtime.ts. */
struct webnbd_event {
  int32_t kind;                 /* WEBNBD_EV_*, 0 when the queue is empty */
  int32_t token;                /* the runtime's id for it, handed back by event_done */
  void *fn;                     /* the C callback (or free function) */
  void *user_data;
  int32_t error;                /* in and out: the callbacks' int *error */
  uint32_t status;              /* chunk: LIBNBD_READ_* */
  const void *ptr;              /* chunk: subbuf; extent: entries */
  uint32_t count;               /* chunk: bytes; extent: nr_entries */
  uint64_t offset;
  const char *s1;               /* metacontext, name, context */
  const char *s2;               /* description, msg */
};

enum {
  WEBNBD_EV_COMPLETION = 1, WEBNBD_EV_CHUNK, WEBNBD_EV_EXTENT, WEBNBD_EV_EXTENT64,
  WEBNBD_EV_LIST, WEBNBD_EV_CONTEXT, WEBNBD_EV_DEBUG, WEBNBD_EV_FREE,
};

/* Imports, defined in library.js. */
extern int webnbd_js_create (void);
extern void webnbd_js_close (int id);
extern int webnbd_js_call (int id, const char *name, const uint64_t *args, int64_t *ret, int thread);
extern int webnbd_js_call_async (int id, const char *name, const uint64_t *args, int64_t *ret, int thread);
extern int webnbd_js_finish (int id, const char *name, uint32_t cookie, int thread);
extern int webnbd_js_next_event (int id, struct webnbd_event *ev);
extern void webnbd_js_event_done (int id, int token, int r, int error);
extern void webnbd_js_set_error (const char *context, int errnum, const char *detail, int thread);
extern const char *webnbd_js_get_error (int thread);
extern int webnbd_js_get_errno (int thread);
extern char *webnbd_js_hexdump (const void *buf, size_t len);
extern int webnbd_js_resume (int thread);
extern unsigned webnbd_js_direction (int id);
extern void webnbd_js_notify (int id);
extern int webnbd_js_ready (int fd, int events);
extern int webnbd_js_wait (double ms, int flags);   /* WEBNBD_WAIT_* */
extern void webnbd_js_set_timer (double ms, double interval, double old[2]);
extern void webnbd_js_get_timer (double cur[2]);
extern int webnbd_js_take_signal (void);
extern void webnbd_js_killed (int sig);
extern void webnbd_js_stuck (const char *why);

/* Events (events.c, wasm/runtime/events.ts). nbd_aio_get_fd's descriptors are WEBNBD_FD_BASE
 * plus the handle's id; webnbd_js_ready adds WEBNBD_LIVE to revents when waiting may still
 * make the descriptor ready; webnbd_js_call_async returns WEBNBD_INTERRUPTED when a signal
 * came due while it slept.
 */
#define WEBNBD_FD_BASE 512
#define WEBNBD_LIVE 0x10000
#define WEBNBD_INTERRUPTED 2
#define WEBNBD_WAIT_STDIN 1     /* webnbd_js_wait also ends when stdin arrives */
#define WEBNBD_WAIT_HANDLES 2   /* … or when a handle makes progress */

/* The thread whose last error a call sets or reads (libnbd's errors are per thread). */
#ifdef __EMSCRIPTEN_PTHREADS__
#include <pthread.h>
#define WEBNBD_THREAD ((int) pthread_self ())
#else
#define WEBNBD_THREAD 0
#endif
extern int webnbd_signals (void);

#endif /* WEBNBD_H */
