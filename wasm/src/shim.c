/* webnbd's emscripten port, by hand: handles, errors, running the callbacks the runtime
 * queued, the few calls only C has (private data, TLS and URI settings), popen("hexdump -C")
 * for libnbd's examples, and the entry point that runs main() and exits with its status.
 * Everything else is generated (calls.c) and done by the TypeScript core (wasm/runtime/runtime.ts).
 */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include "libnbd.h"
#include "webnbd.h"

_Static_assert (offsetof (struct webnbd_event, offset) == 32, "runtime.ts reads this layout");
_Static_assert (sizeof (struct webnbd_event) == 48, "runtime.ts reads this layout");

struct nbd_handle {
  int id;                       /* the runtime's handle */
  int dispatching;              /* the thread running its callbacks (+1): a nested call must not start again */
  uintptr_t private_data;
  uint32_t uri_allow_transports;
  int uri_allow_tls;
  bool uri_allow_local_file;
};

/* The core numbers errors as Linux does (as libnbd there, and the NBD protocol); emscripten's
 * libc numbers them as WASI does. Every errno that crosses between them goes through here.
 */
static const struct { int c, linux; } errnos[] = {
  { EPERM, 1 }, { ENOENT, 2 }, { ESRCH, 3 }, { EINTR, 4 }, { EIO, 5 }, { ENXIO, 6 }, { EBADF, 9 },
  { ECHILD, 10 }, { EAGAIN, 11 }, { ENOMEM, 12 }, { EACCES, 13 }, { EFAULT, 14 }, { EBUSY, 16 },
  { EEXIST, 17 }, { ENODEV, 19 }, { EINVAL, 22 }, { EFBIG, 27 }, { ENOSPC, 28 }, { EROFS, 30 },
  { EPIPE, 32 }, { ERANGE, 34 }, { ENAMETOOLONG, 36 }, { ENOSYS, 38 }, { EPROTO, 71 },
  { EOVERFLOW, 75 }, { ENOTSUP, 95 }, { EADDRINUSE, 98 }, { ENETUNREACH, 101 },
  { ECONNABORTED, 103 }, { ECONNRESET, 104 }, { ENOTCONN, 107 }, { ESHUTDOWN, 108 },
  { ETIMEDOUT, 110 }, { ECONNREFUSED, 111 }, { EHOSTUNREACH, 113 }, { EDQUOT, 122 },
  { ECANCELED, 125 },
};

static int
to_linux (int e)
{
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (errnos[i].c == e) return errnos[i].linux;
  return e;
}

static int
from_linux (int e)
{
  for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
    if (errnos[i].linux == e) return errnos[i].c;
  return e;
}

static void
set_error (const char *context, int errnum, const char *detail)
{
  webnbd_js_set_error (context, to_linux (errnum), detail, WEBNBD_THREAD);
  errno = errnum;
}

/* Run the handle's queued callbacks, in the order the core produced them. Asyncify cannot
 * enter C while C sleeps, so callbacks wait in the runtime until the call that slept returns:
 * they still run inside the libnbd call, before it returns, as in libnbd.
 */
static void
dispatch (struct nbd_handle *h)
{
  struct webnbd_event ev;

  if (h->dispatching == WEBNBD_THREAD + 1)
    return;
  h->dispatching = WEBNBD_THREAD + 1;
  while (webnbd_js_next_event (h->id, &ev)) {
    int r = 0;
    ev.error = from_linux (ev.error);
    switch (ev.kind) {
    case WEBNBD_EV_COMPLETION:
      r = ((int (*) (void *, int *)) ev.fn) (ev.user_data, &ev.error);
      break;
    case WEBNBD_EV_CHUNK:
      r = ((int (*) (void *, const void *, size_t, uint64_t, unsigned, int *)) ev.fn)
        (ev.user_data, ev.ptr, ev.count, ev.offset, ev.status, &ev.error);
      break;
    case WEBNBD_EV_EXTENT:
      r = ((int (*) (void *, const char *, uint64_t, uint32_t *, size_t, int *)) ev.fn)
        (ev.user_data, ev.s1, ev.offset, (uint32_t *) ev.ptr, ev.count, &ev.error);
      break;
    case WEBNBD_EV_EXTENT64:
      r = ((int (*) (void *, const char *, uint64_t, nbd_extent *, size_t, int *)) ev.fn)
        (ev.user_data, ev.s1, ev.offset, (nbd_extent *) ev.ptr, ev.count, &ev.error);
      break;
    case WEBNBD_EV_LIST:
      r = ((int (*) (void *, const char *, const char *)) ev.fn) (ev.user_data, ev.s1, ev.s2);
      break;
    case WEBNBD_EV_CONTEXT:
      r = ((int (*) (void *, const char *)) ev.fn) (ev.user_data, ev.s1);
      break;
    case WEBNBD_EV_DEBUG:
      r = ((int (*) (void *, const char *, const char *)) ev.fn) (ev.user_data, ev.s1, ev.s2);
      break;
    case WEBNBD_EV_FREE:
      ((void (*) (void *)) ev.fn) (ev.user_data);
      break;
    }
    webnbd_js_event_done (h->id, ev.token, r, to_linux (ev.error));
  }
  h->dispatching = 0;
}

int
webnbd_invoke (struct nbd_handle *h, const char *name, const uint64_t *args, int async,
               int64_t *ret)
{
  int s;

  webnbd_signals ();            /* signals due run when the program calls libnbd */
  s = async ? webnbd_js_call_async (h->id, name, args, ret, WEBNBD_THREAD)
    : webnbd_js_call (h->id, name, args, ret, WEBNBD_THREAD);
  while (s == WEBNBD_INTERRUPTED) {
    webnbd_signals ();          /* as natively, inside the call's wait; then it goes on waiting */
    s = webnbd_js_resume (WEBNBD_THREAD);
  }
  dispatch (h);
  /* 1: a sync command with chunk or extent callbacks, whose verdict needed them to run. */
  if (s == 1) {
    s = webnbd_js_finish (h->id, name, (uint32_t) *ret, WEBNBD_THREAD);
    *ret = 0;
    dispatch (h);
  }
  if (s == -1)
    errno = from_linux (webnbd_js_get_errno (WEBNBD_THREAD));
  return s;
}

void
webnbd_unsupported (struct nbd_handle *h, const char *name, const char *why)
{
  (void) h;
  set_error (name, ENOTSUP, why);
}

/* ---- Handles and errors ---- */

struct nbd_handle *
nbd_create (void)
{
  struct nbd_handle *h = calloc (1, sizeof *h);
  const char *debug = getenv ("LIBNBD_DEBUG");

  if (h == NULL) {
    set_error ("nbd_create", errno, "calloc");
    return NULL;
  }
  h->id = webnbd_js_create ();
  h->uri_allow_transports = LIBNBD_ALLOW_TRANSPORT_MASK;
  h->uri_allow_tls = LIBNBD_TLS_ALLOW;
  if (debug && strcmp (debug, "1") == 0)
    nbd_set_debug (h, true);
  return h;
}

void
nbd_close (struct nbd_handle *h)
{
  if (h == NULL)
    return;
  /* The core abandons what is in flight; the free callbacks that queues run here. */
  webnbd_js_close (h->id);
  dispatch (h);
  free (h);
}

const char *
nbd_get_error (void)
{
  return webnbd_js_get_error (WEBNBD_THREAD);
}

int
nbd_get_errno (void)
{
  return from_linux (webnbd_js_get_errno (WEBNBD_THREAD));
}

/* ---- What only C has ---- */

uintptr_t
nbd_set_private_data (struct nbd_handle *h, uintptr_t private_data)
{
  uintptr_t old = h->private_data;
  h->private_data = private_data;
  return old;
}

uintptr_t
nbd_get_private_data (struct nbd_handle *h)
{
  return h->private_data;
}

/* Recorded, as libnbd checks them, though no webnbd URI reaches a local file or vsock. */
int
nbd_set_uri_allow_transports (struct nbd_handle *h, uint32_t mask)
{
  if (mask & ~LIBNBD_ALLOW_TRANSPORT_MASK) {
    set_error ("nbd_set_uri_allow_transports", EINVAL, "mask: invalid value for flag");
    return -1;
  }
  h->uri_allow_transports = mask;
  return 0;
}

int
nbd_set_uri_allow_tls (struct nbd_handle *h, int tls)
{
  if (tls < LIBNBD_TLS_DISABLE || tls > LIBNBD_TLS_REQUIRE) {
    set_error ("nbd_set_uri_allow_tls", EINVAL, "tls: invalid value");
    return -1;
  }
  h->uri_allow_tls = tls;
  return 0;
}

int
nbd_set_uri_allow_local_file (struct nbd_handle *h, bool allow)
{
  h->uri_allow_local_file = allow;
  return 0;
}

/* ---- The handle's descriptor, for the program's own poll() or select() (events.c) ----
 * Not a socket: poll() on it sleeps until the core has read more from the WebSocket (POLLIN)
 * since the last nbd_aio_notify_read; it is always writable, as the WebSocket queues what is sent.
 */

int
nbd_aio_get_fd (struct nbd_handle *h)
{
  if (nbd_aio_is_created (h) == 1 || nbd_aio_is_dead (h) == 1 || nbd_aio_is_closed (h) == 1) {
    set_error ("nbd_aio_get_fd", EINVAL, "connection is not in a connected state");
    return -1;
  }
  return WEBNBD_FD_BASE + h->id;
}

unsigned
nbd_aio_get_direction (struct nbd_handle *h)
{
  return webnbd_js_direction (h->id);
}

int
nbd_aio_notify_read (struct nbd_handle *h)
{
  webnbd_signals ();
  webnbd_js_notify (h->id);
  dispatch (h);                 /* completion callbacks run here, as in libnbd */
  return 0;
}

int
nbd_aio_notify_write (struct nbd_handle *h)
{
  webnbd_signals ();
  dispatch (h);
  return 0;
}

int
nbd_kill_subprocess (struct nbd_handle *h, int signum)
{
  (void) h;
  if (signum < 0) {
    set_error ("nbd_kill_subprocess", EINVAL, "invalid signal number");
    return -1;
  }
  set_error ("nbd_kill_subprocess", ESRCH, "no subprocess exists");
  return -1;
}

/* ---- popen ("hexdump -C", "w") ----
 * libnbd's examples pipe sectors into hexdump. In the browser webnbd's own formatter serves
 * that one command; the dump goes to stdout at pclose, after what the program printed before
 * (as a native run with line-buffered stdout shows it). Any other command fails.
 */

struct pipe {
  FILE *fp;
  char *buf;
  size_t len;
  struct pipe *next;
};
static struct pipe *pipes;

static int
is_hexdump_C (const char *command)
{
  char words[3][32];
  int n = sscanf (command, " %31s %31s %31s", words[0], words[1], words[2]);
  return n == 2 && (strcmp (words[0], "hexdump") == 0 || strcmp (words[0], "/usr/bin/hexdump") == 0)
    && strcmp (words[1], "-C") == 0;
}

FILE *
popen (const char *command, const char *mode)
{
  struct pipe *p;

  if (!is_hexdump_C (command) || strcmp (mode, "w") != 0) {
    fprintf (stderr, "webnbd: popen: only \"hexdump -C\" for writing can run in the browser, not \"%s\" (\"%s\")\n",
             command, mode);
    errno = ENOSYS;
    return NULL;
  }
  p = calloc (1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->fp = open_memstream (&p->buf, &p->len);
  if (p->fp == NULL) {
    free (p);
    return NULL;
  }
  p->next = pipes;
  pipes = p;
  return p->fp;
}

int
pclose (FILE *fp)
{
  struct pipe **pp, *p;
  char *dump;

  for (pp = &pipes; *pp && (*pp)->fp != fp; pp = &(*pp)->next)
    ;
  if ((p = *pp) == NULL) {
    errno = ECHILD;
    return -1;
  }
  *pp = p->next;
  fclose (fp);
  fflush (stdout);
  dump = webnbd_js_hexdump (p->buf, p->len);
  if (dump) {
    size_t n = strlen (dump), done = 0;
    while (done < n) {
      ssize_t w = write (STDOUT_FILENO, dump + done, n - done);
      if (w <= 0)
        break;
      done += w;
    }
    free (dump);
  }
  free (p->buf);
  free (p);
  return 0;                     /* hexdump's exit status */
}

/* ---- The entry point: main's status goes to exit(), also when main slept on the way. ---- */

extern int main (int argc, char *argv[]);

#ifdef __EMSCRIPTEN_PTHREADS__
/* With -pthread, main runs in a thread of its own, so that the worker's thread stays free to
 * host the runtime (library.js): C blocks there with Atomics.wait, never on the worker's thread.
 */
static int main_argc;
static char **main_argv;

static void *
main_thread (void *arg)
{
  (void) arg;
  exit (main (main_argc, main_argv));
}

void
webnbd_start (int argc, char *argv[])
{
  pthread_t t;
  pthread_attr_t attr;
  int err;

  main_argc = argc;
  main_argv = argv;
  pthread_attr_init (&attr);
  pthread_attr_setstacksize (&attr, 8 * 1024 * 1024);  /* glibc's default main stack */
  err = pthread_create (&t, &attr, main_thread, NULL);
  if (err) {
    fprintf (stderr, "webnbd: cannot start main's thread: %s\n", strerror (err));
    exit (EXIT_FAILURE);
  }
}
#else
void
webnbd_start (int argc, char *argv[])
{
  exit (main (argc, argv));
}

/* Without -pthread there are no threads: say how to get them rather than only EAGAIN. */
int
pthread_create (pthread_t *restrict t, const pthread_attr_t *restrict attr,
                void *(*start) (void *), void *restrict arg)
{
  (void) t; (void) attr; (void) start; (void) arg;
  fprintf (stderr, "webnbd: pthread_create: this program was compiled without threads: compile it "
           "with -pthread (webnbd cc FILE.c -pthread, or webnbd run-wasm --emcc=-pthread FILE.c) "
           "and run it on a cross-origin isolated page\n");
  return EAGAIN;
}
#endif
