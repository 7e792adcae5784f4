/* How fast the port's blocking calls are: the latency of a 512-byte nbd_pread, one at a time,
 * and the throughput of 64 KiB nbd_preads, one at a time. test/wasm-bench.test.ts runs it
 * natively, compiled for the browser, and beside the same loops in TypeScript.
 * Usage: bench SOCKET [N512 [N64K]]
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libnbd.h>

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char buf[65536];

int
main (int argc, char *argv[])
{
  struct nbd_handle *nbd = nbd_create ();
  int n512 = argc > 2 ? atoi (argv[2]) : 2000;
  int n64k = argc > 3 ? atoi (argv[3]) : 1000;
  int64_t size;
  double t;

  if (argc < 2 || nbd == NULL || nbd_connect_unix (nbd, argv[1]) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    exit (EXIT_FAILURE);
  }
  size = nbd_get_size (nbd);
  for (int i = 0; i < 50; i++)
    nbd_pread (nbd, buf, 512, 0, 0);

  t = now ();
  for (int i = 0; i < n512; i++)
    if (nbd_pread (nbd, buf, 512, (512 * (int64_t) i) % size, 0) == -1) goto fail;
  printf ("pread 512 B: %.1f us/call\n", (now () - t) / n512 * 1e6);

  t = now ();
  for (int i = 0; i < n64k; i++)
    if (nbd_pread (nbd, buf, 65536, (65536 * (int64_t) i) % size, 0) == -1) goto fail;
  printf ("pread 64 KiB: %.1f MiB/s\n", n64k / 16.0 / (now () - t));

  /* A blocking call that fails at once (on a handle never connected): in the browser, one
   * Asyncify unwind and rewind with no I/O, the port's own cost per blocking call.
   */
  {
    struct nbd_handle *idle = nbd_create ();
    int n = n512 * 4;
    t = now ();
    for (int i = 0; i < n; i++)
      nbd_pread (idle, buf, 512, 0, 0);
    printf ("failing nbd_pread: %.2f us/call\n", (now () - t) / n * 1e6);
    nbd_close (idle);
    /* A call that does not block: one call into the runtime and back. */
    t = now ();
    for (int i = 0; i < n; i++)
      nbd_get_size (nbd);
    printf ("nbd_get_size: %.2f us/call\n", (now () - t) / n * 1e6);
  }

  nbd_close (nbd);
  return 0;
 fail:
  fprintf (stderr, "%s\n", nbd_get_error ());
  return 1;
}
