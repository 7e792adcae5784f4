/* What differs in the browser, as a C program sees it: connecting by a websockify bridge's URL
 * (in place of a Unix socket, host and port, or an NBD URI), ENOTSUP for what needs
 * processes or sockets, popen of anything but "hexdump -C", and main's status after sleeping.
 * Usage: browser URL HOST PORT   (a websockify bridge to nbdkit memory 1M, and its host and port)
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

static void
show (const char *what, int r)
{
  printf ("%s -> %d", what, r);
  if (r == -1)
    printf (", errno %s: %s", nbd_get_errno () == ENOTSUP ? "ENOTSUP" : "other", nbd_get_error ());
  printf ("\n");
}

static int64_t
size_via (const char *how, const char *a, const char *b)
{
  struct nbd_handle *nbd = nbd_create ();
  int r = strcmp (how, "unix") == 0 ? nbd_connect_unix (nbd, a)
    : strcmp (how, "tcp") == 0 ? nbd_connect_tcp (nbd, a, b)
    : nbd_connect_uri (nbd, a);
  int64_t size = r == -1 ? -1 : nbd_get_size (nbd);
  if (r == -1)
    printf ("%s: %s\n", how, nbd_get_error ());
  nbd_close (nbd);
  return size;
}

int
main (int argc, char *argv[])
{
  struct nbd_handle *nbd;
  char *args[] = { "nbdkit", "-s", "memory", "1M", NULL };
  char uri[256];
  FILE *fp;

  if (argc != 4) {
    fprintf (stderr, "%s URL HOST PORT\n", argv[0]);
    exit (EXIT_FAILURE);
  }
  nbd = nbd_create ();
  printf ("%s %s, uri %d, tls %d\n", nbd_get_package_name (nbd), nbd_get_version (nbd),
          nbd_supports_uri (nbd), nbd_supports_tls (nbd));
  show ("nbd_connect_command", nbd_connect_command (nbd, args));
  show ("nbd_connect_systemd_socket_activation", nbd_connect_systemd_socket_activation (nbd, args));
  show ("nbd_aio_connect_command", nbd_aio_connect_command (nbd, args));
  show ("nbd_connect_unix", nbd_connect_unix (nbd, "/tmp/socket"));
  show ("nbd_connect_uri", nbd_connect_uri (nbd, "nbd://localhost/"));
  show ("nbd_aio_get_fd", nbd_aio_get_fd (nbd));
  nbd_close (nbd);

  printf ("size by unix: %" PRIi64 "\n", size_via ("unix", argv[1], NULL));
  printf ("size by tcp: %" PRIi64 "\n", size_via ("tcp", argv[2], argv[3]));
  snprintf (uri, sizeof uri, "nbd+ws://%s:%s/", argv[2], argv[3]);
  printf ("size by uri: %" PRIi64 "\n", size_via ("uri", uri, NULL));
  printf ("size by the bridge's URL as a URI: %" PRIi64 "\n", size_via ("uri", argv[1], NULL));

  errno = 0;
  fp = popen ("ls /", "r");
  printf ("popen ls: %s, errno %s\n", fp ? "a stream" : "NULL", errno == ENOSYS ? "ENOSYS" : "other");
  fflush (stdout);

  /* What main returns after sleeping in blocking calls is the exit status. */
  return 3;
}
