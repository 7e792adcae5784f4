/* libnbd's contracts as a C program sees them: the last error and errno, completion callbacks
 * (returning 1 retires), free callbacks (exactly once, also when the call fails or the handle
 * closes), chunk and extent callbacks and their verdicts, list and debug callbacks. Built
 * natively against libnbd and in the browser against webnbd, it must print the same.
 * Usage: contract SOCKET   (an nbdkit pattern size=1M; in the browser, a bridge's URL)
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

static int completions, frees, chunks, extents, listed, debugs;

/* The call's result, nbd_get_errno by name, and the message's first and last parts: the
 * call's name and strerror (as glibc words it, also in the browser: webnbd reports errors as
 * libnbd on Linux does).
 */
static void
check_error (const char *call, int r)
{
  const char *msg = nbd_get_error ();
  int e = nbd_get_errno ();
  size_t n = strlen (call);
  const char *last = msg ? strrchr (msg, ':') : NULL;
  printf ("%s -> %d, errno %s, message starts with \"%s: \": %s, ends with \"%s\"\n",
          call, r, e == EINVAL ? "EINVAL" : e == ENOTCONN ? "ENOTCONN" : e == EIO ? "EIO" : e == EPERM ? "EPERM" : "other",
          call, msg && strncmp (msg, call, n) == 0 && msg[n] == ':' ? "yes" : "no", last ? last + 2 : "");
}

static void count_free (void *ud) { (void) ud; frees++; }

static int
retire (void *ud, int *error)
{
  completions++;
  printf ("completion %d: error %d\n", *(int *) ud, *error);
  return 1;
}

static int
keep (void *ud, int *error)
{
  (void) ud; (void) error;
  completions++;
  return 0;
}

static int
fail_with_eio (void *ud, int *error)
{
  (void) ud;
  completions++;
  *error = EIO;
  return -1;
}

static int
chunk (void *ud, const void *subbuf, size_t count, uint64_t offset, unsigned status, int *error)
{
  const unsigned char *b = subbuf;
  (void) error;
  chunks++;
  /* nbdkit's pattern plugin: each 8-byte word is its big-endian offset. */
  printf ("chunk: %zu bytes at %" PRIu64 ", status %u, last byte %u\n", count, offset, status, b[count - 1]);
  if (ud) {
    *error = EPERM;
    return -1;
  }
  return 0;
}

static int
extent (void *ud, const char *metacontext, uint64_t offset, uint32_t *entries, size_t nr, int *error)
{
  (void) ud; (void) error;
  extents++;
  printf ("extent: %s at %" PRIu64 ":", metacontext, offset);
  for (size_t i = 0; i < nr; i += 2)
    printf (" (%" PRIu32 ", %" PRIu32 ")", entries[i], entries[i + 1]);
  printf ("\n");
  return 0;
}

static int
list (void *ud, const char *name, const char *description)
{
  (void) ud; (void) description;
  listed++;
  printf ("export: \"%s\"\n", name);
  return 0;
}

static int
debug (void *ud, const char *context, const char *msg)
{
  (void) ud; (void) context; (void) msg;
  debugs++;
  return 0;
}

int
main (int argc, char *argv[])
{
  struct nbd_handle *nbd;
  char buf[512];
  int ids[4] = { 0, 1, 2, 3 };
  int64_t cookie;
  int r;

  if (argc != 2) {
    fprintf (stderr, "%s socket\n", argv[0]);
    exit (EXIT_FAILURE);
  }
  nbd = nbd_create ();
  if (nbd == NULL) exit (EXIT_FAILURE);

  printf ("no error yet: %s, errno %d\n", nbd_get_error () ? "a message" : "NULL", nbd_get_errno ());
  check_error ("nbd_pread", nbd_pread (nbd, buf, sizeof buf, 0, 0));

  /* Freed once when the call fails before it starts. */
  cookie = nbd_aio_pread (nbd, buf, sizeof buf, 0,
                          (nbd_completion_callback) { .callback = retire, .user_data = &ids[0], .free = count_free }, 0);
  check_error ("nbd_aio_pread", (int) cookie);
  printf ("frees after a failed call: %d, completions: %d\n", frees, completions);
  frees = completions = 0;

  nbd_set_debug (nbd, true);
  nbd_set_debug_callback (nbd, (nbd_debug_callback) { .callback = debug, .free = count_free });
  nbd_set_opt_mode (nbd, true);
  nbd_add_meta_context (nbd, LIBNBD_CONTEXT_BASE_ALLOCATION);
  if (nbd_connect_unix (nbd, argv[1]) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    exit (EXIT_FAILURE);
  }
  printf ("debug messages while connecting: %s\n", debugs > 0 ? "some" : "none");
  nbd_clear_debug_callback (nbd);
  printf ("debug callback freed when cleared: %d\n", frees);
  nbd_set_debug (nbd, false);
  frees = 0;

  r = nbd_opt_list (nbd, (nbd_list_callback) { .callback = list, .free = count_free });
  printf ("opt_list -> %d, listed %d, frees %d\n", r, listed, frees);
  frees = 0;
  if (nbd_opt_go (nbd) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    exit (EXIT_FAILURE);
  }
  printf ("error after successes is still the last one: %s\n",
          nbd_get_errno () == ENOTCONN ? "yes" : "no");

  /* Completion returning 1 retires: each is called and freed once, none is left to retire. */
  for (int i = 0; i < 4; i++)
    nbd_aio_pread (nbd, buf, sizeof buf, 512 * i,
                   (nbd_completion_callback) { .callback = retire, .user_data = &ids[i], .free = count_free }, 0);
  while (nbd_aio_in_flight (nbd) > 0)
    nbd_poll (nbd, -1);
  printf ("auto-retired: completions %d, frees %d\n", completions, frees);
  check_error ("nbd_aio_peek_command_completed", (int) nbd_aio_peek_command_completed (nbd));
  completions = frees = 0;

  /* Completion returning 0: kept until nbd_aio_command_completed, which frees it. */
  cookie = nbd_aio_pread (nbd, buf, sizeof buf, 0,
                          (nbd_completion_callback) { .callback = keep, .free = count_free }, 0);
  while (nbd_aio_in_flight (nbd) > 0)
    nbd_poll (nbd, -1);
  printf ("kept: completions %d, frees %d, peek is the cookie: %s\n", completions, frees,
          nbd_aio_peek_command_completed (nbd) == cookie ? "yes" : "no");
  r = nbd_aio_command_completed (nbd, cookie);
  printf ("command_completed -> %d, frees %d\n", r, frees);
  completions = frees = 0;

  /* Completion returning -1 with *error set fails a command that succeeded. */
  cookie = nbd_aio_pread (nbd, buf, sizeof buf, 0,
                          (nbd_completion_callback) { .callback = fail_with_eio, .free = count_free }, 0);
  while (nbd_aio_in_flight (nbd) > 0)
    nbd_poll (nbd, -1);
  check_error ("nbd_aio_command_completed", nbd_aio_command_completed (nbd, cookie));
  printf ("frees %d\n", frees);
  frees = 0;

  /* Out of bounds: fails at once, with libnbd's errno; the callbacks are freed. */
  cookie = nbd_aio_pread (nbd, buf, sizeof buf, 1 << 20,
                          (nbd_completion_callback) { .callback = retire, .user_data = &ids[0], .free = count_free }, 0);
  check_error ("nbd_aio_pread", (int) cookie);
  printf ("frees %d, completions %d\n", frees, completions);
  frees = 0;

  /* A NULL callback is no callback, but its free hook still runs. */
  cookie = nbd_aio_pread (nbd, buf, sizeof buf, 0, (nbd_completion_callback) { .callback = NULL, .free = count_free }, 0);
  printf ("NULL completion: frees when issued %d\n", frees);
  while (nbd_aio_in_flight (nbd) > 0)
    nbd_poll (nbd, -1);
  r = nbd_aio_command_completed (nbd, cookie);
  printf ("NULL completion: command_completed -> %d, frees %d\n", r, frees);
  frees = 0;

  /* Chunks: data where the pattern says; a chunk callback's -1 fails the read with its error. */
  r = nbd_pread_structured (nbd, buf, sizeof buf, 4096,
                            (nbd_chunk_callback) { .callback = chunk, .free = count_free }, 0);
  printf ("pread_structured -> %d, chunks %d, frees %d\n", r, chunks, frees);
  frees = 0;
  check_error ("nbd_pread_structured",
               nbd_pread_structured (nbd, buf, sizeof buf, 0,
                                     (nbd_chunk_callback) { .callback = chunk, .user_data = buf, .free = count_free }, 0));
  printf ("frees %d\n", frees);
  frees = 0;

  r = nbd_block_status (nbd, 65536, 0, (nbd_extent_callback) { .callback = extent, .free = count_free }, 0);
  printf ("block_status -> %d, extents %d, frees %d\n", r, extents, frees);
  frees = 0;

  /* Closing with a command in flight: its completion never runs, its free does. */
  completions = 0;
  nbd_aio_pread (nbd, buf, sizeof buf, 0,
                 (nbd_completion_callback) { .callback = retire, .user_data = &ids[0], .free = count_free }, 0);
  nbd_close (nbd);
  printf ("closed in flight: completions %d, frees %d\n", completions, frees);
  return 0;
}
