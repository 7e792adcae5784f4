/* libnbd's calls after 1.14 (to 1.24) as a C program in the browser sees them: what this libnbd
 * is, the settings that 1.16 to 1.22 added, the opt-mode calls with explicit query lists (char **),
 * nbd_poll2, filtered block status, and TLS, which in a browser is the bridge's wss://.
 * Usage: newer URI   (an nbd+ws:// URI of a websockify bridge to nbdkit memory 1M)
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <libnbd.h>

static int
context (void *user_data, const char *name)
{
  printf ("  context %s\n", name);
  return 0;
}

static int
extent (void *user_data, const char *metacontext, uint64_t offset,
        nbd_extent *entries, size_t nr_entries, int *error)
{
  printf ("  extent %s\n", metacontext);
  return 0;
}

static void
show (const char *what, int64_t r)
{
  printf ("%s -> %lld", what, (long long) r);
  if (r == -1)
    printf (", errno %s: %s", nbd_get_errno () == ENOTSUP ? "ENOTSUP" : "other", nbd_get_error ());
  printf ("\n");
}

int
main (int argc, char *argv[])
{
  struct nbd_handle *nbd = nbd_create ();
  char *queries[] = { "base:", NULL };
  char *wanted[] = { "base:allocation", "nosuch:context", NULL };
  char *filter[] = { "base:allocation", NULL };
  char *s;

  if (argc != 2) {
    fprintf (stderr, "usage: newer URI\n");
    exit (EXIT_FAILURE);
  }
  printf ("%s %s, extra \"%s\", vsock %d, tls %d\n", nbd_get_package_name (nbd), nbd_get_version (nbd),
          nbd_get_version_extra (nbd), nbd_supports_vsock (nbd), nbd_supports_tls (nbd));
  printf ("is_uri %d %d\n", nbd_is_uri (nbd, "nbds://server/"), nbd_is_uri (nbd, "disk.img"));
  show ("nbd_set_socket_activation_name", nbd_set_socket_activation_name (nbd, "a-b"));
  nbd_set_socket_activation_name (nbd, "nbd0");
  s = nbd_get_socket_activation_name (nbd);
  printf ("socket activation name %s\n", s);
  free (s);
  nbd_set_tls_hostname (nbd, "server.example");
  s = nbd_get_tls_hostname (nbd);
  printf ("tls hostname %s\n", s);
  free (s);
  show ("nbd_set_tls", nbd_set_tls (nbd, LIBNBD_TLS_REQUIRE));
  show ("nbd_set_tls_psk_file", nbd_set_tls_psk_file (nbd, "keys.psk"));
  show ("nbd_get_subprocess_pid", nbd_get_subprocess_pid (nbd));
  printf ("handle size > 0: %d\n", nbd_get_handle_size (nbd) > 0);

  nbd_set_opt_mode (nbd, true);
  if (nbd_connect_uri (nbd, argv[1]) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    exit (EXIT_FAILURE);
  }
  show ("nbd_opt_list_meta_context_queries",
        nbd_opt_list_meta_context_queries (nbd, queries, (nbd_context_callback) { .callback = context }));
  show ("nbd_opt_set_meta_context_queries",
        nbd_opt_set_meta_context_queries (nbd, wanted, (nbd_context_callback) { .callback = context }));
  show ("nbd_opt_extended_headers", nbd_opt_extended_headers (nbd));
  show ("nbd_opt_starttls", nbd_opt_starttls (nbd));
  nbd_set_request_meta_context (nbd, false);
  show ("nbd_opt_go", nbd_opt_go (nbd));
  printf ("can base:allocation %d\n", nbd_can_meta_context (nbd, "base:allocation"));
  show ("nbd_poll2", nbd_poll2 (nbd, -1, 0));
  show ("nbd_poll2 (fd 0)", nbd_poll2 (nbd, 0, 0));
  show ("nbd_block_status_filter",
        nbd_block_status_filter (nbd, 4096, 0, filter, (nbd_extent64_callback) { .callback = extent }, 0));
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  return 0;
}
