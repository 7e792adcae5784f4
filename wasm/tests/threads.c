/* Threads around libnbd, in the shape of libnbd's threaded-reads-and-writes example: several
 * threads, each with its own handle and many commands in flight (aio calls, its own poll()
 * loop on nbd_aio_get_fd), then several threads sharing one handle with blocking calls, each
 * checking its last error is its own, then a thread that waits for ever while main returns.
 * Built natively against libnbd and in the browser against webnbd (with -pthread), it must
 * print the same.
 * Usage: threads SOCKET   (an nbdkit memory 16M; in the browser, a bridge's URL)
 */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnbd.h>

#define NR_THREADS 4
#define MAX_IN_FLIGHT 32
#define NR_CYCLES 500
#define SIZE 4096

static const char *where;

struct job {
  int i;
  unsigned requests, most_in_flight, bad;
  struct nbd_handle *shared;
  char error[256];
};

static struct nbd_handle *
connect_to (void)
{
  struct nbd_handle *nbd = nbd_create ();
  if (nbd == NULL || (strstr (where, "://") ? nbd_connect_uri (nbd, where) : nbd_connect_unix (nbd, where)) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    exit (EXIT_FAILURE);
  }
  return nbd;
}

/* Own handle: write this thread's region with commands in flight, then read it back. */
static void *
own_handle (void *arg)
{
  struct job *job = arg;
  struct nbd_handle *nbd = connect_to ();
  static char bufs[NR_THREADS][NR_CYCLES][SIZE];   /* one block per command: none is reused in flight */
  char (*buf)[SIZE] = bufs[job->i];
  int64_t cookies[MAX_IN_FLIGHT];
  int slots[MAX_IN_FLIGHT];
  size_t in_flight = 0;
  unsigned issued = 0, pass;

  for (pass = 0; pass < 2; pass++) {
    issued = 0;
    while (issued < NR_CYCLES || in_flight > 0) {
      while (issued < NR_CYCLES && in_flight < MAX_IN_FLIGHT) {
        uint64_t offset = ((uint64_t) job->i * NR_CYCLES + issued) * SIZE;
        int slot = issued;
        int64_t c;
        if (pass == 0) {
          memset (buf[slot], 'a' + (issued + job->i) % 26, SIZE);
          c = nbd_aio_pwrite (nbd, buf[slot], SIZE, offset, NBD_NULL_COMPLETION, 0);
        }
        else
          c = nbd_aio_pread (nbd, buf[slot], SIZE, offset, NBD_NULL_COMPLETION, 0);
        if (c == -1) {
          fprintf (stderr, "%s\n", nbd_get_error ());
          exit (EXIT_FAILURE);
        }
        cookies[in_flight] = c;
        slots[in_flight] = issued;
        in_flight++;
        issued++;
        if (in_flight > job->most_in_flight)
          job->most_in_flight = in_flight;
      }
      struct pollfd fds[1] = { { .fd = nbd_aio_get_fd (nbd) } };
      unsigned dir = nbd_aio_get_direction (nbd);
      fds[0].events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) | (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0);
      if (poll (fds, 1, -1) == -1) {
        perror ("poll");
        exit (EXIT_FAILURE);
      }
      if (dir & LIBNBD_AIO_DIRECTION_READ && fds[0].revents & POLLIN)
        nbd_aio_notify_read (nbd);
      else if (dir & LIBNBD_AIO_DIRECTION_WRITE && fds[0].revents & POLLOUT)
        nbd_aio_notify_write (nbd);
      for (size_t j = 0; j < in_flight; j++) {
        int r = nbd_aio_command_completed (nbd, cookies[j]);
        if (r == -1) {
          fprintf (stderr, "%s\n", nbd_get_error ());
          exit (EXIT_FAILURE);
        }
        if (r == 1) {
          if (pass == 1) {
            char want = 'a' + (slots[j] + job->i) % 26;
            for (int k = 0; k < SIZE; k++)
              if (buf[slots[j]][k] != want) {
                job->bad++;
                break;
              }
          }
          memmove (&cookies[j], &cookies[j + 1], sizeof cookies[0] * (in_flight - j - 1));
          memmove (&slots[j], &slots[j + 1], sizeof slots[0] * (in_flight - j - 1));
          j--;
          in_flight--;
          job->requests++;
        }
      }
    }
  }
  nbd_shutdown (nbd, 0);
  nbd_close (nbd);
  return job;
}

/* A shared handle: blocking reads from every thread, and a failure whose message is this thread's. */
static void *
shared_handle (void *arg)
{
  struct job *job = arg;
  char buf[512];

  for (int n = 0; n < 200; n++) {
    if (nbd_pread (job->shared, buf, sizeof buf, (uint64_t) (n * NR_THREADS + job->i) * 512, 0) == -1) {
      fprintf (stderr, "%s\n", nbd_get_error ());
      exit (EXIT_FAILURE);
    }
    job->requests++;
  }
  /* A different failure in each thread: the message and errno are this thread's. */
  int64_t end = nbd_get_size (job->shared);
  int r = job->i == 0 ? nbd_pread (job->shared, buf, sizeof buf, end, 0)
    : job->i == 1 ? nbd_pread (job->shared, buf, sizeof buf, 0, 0x10000)
    : job->i == 2 ? nbd_set_export_name (job->shared, "x")
    : nbd_set_request_structured_replies (job->shared, false);
  if (r == -1)
    snprintf (job->error, sizeof job->error, "%s (errno %s)", nbd_get_error (),
              nbd_get_errno () == EINVAL ? "EINVAL" : "other");
  else
    snprintf (job->error, sizeof job->error, "no error");
  return job;
}

static void *
wait_for_ever (void *arg)
{
  (void) arg;
  for (;;)
    pause ();
  return NULL;
}

static void
run (void *(*fn) (void *), struct job *jobs, const char *what)
{
  pthread_t threads[NR_THREADS];
  unsigned requests = 0, most = 0, bad = 0;

  for (int i = 0; i < NR_THREADS; i++) {
    int err = pthread_create (&threads[i], NULL, fn, &jobs[i]);
    if (err != 0) {
      errno = err;
      perror ("pthread_create");
      exit (EXIT_FAILURE);
    }
  }
  for (int i = 0; i < NR_THREADS; i++) {
    void *ret;
    pthread_join (threads[i], &ret);
    if (ret != &jobs[i])
      printf ("thread %d returned something else\n", i);
    requests += jobs[i].requests;
    bad += jobs[i].bad;
    if (jobs[i].most_in_flight > most)
      most = jobs[i].most_in_flight;
  }
  printf ("%s: %d threads, %u requests, most in flight %u, bad blocks %u\n", what, NR_THREADS, requests, most, bad);
}

int
main (int argc, char *argv[])
{
  struct job jobs[NR_THREADS];

  if (argc != 2) {
    fprintf (stderr, "%s SOCKET\n", argv[0]);
    exit (EXIT_FAILURE);
  }
  where = argv[1];

  memset (jobs, 0, sizeof jobs);
  for (int i = 0; i < NR_THREADS; i++)
    jobs[i].i = i;
  run (own_handle, jobs, "one handle per thread");

  memset (jobs, 0, sizeof jobs);
  struct nbd_handle *nbd = connect_to ();
  for (int i = 0; i < NR_THREADS; i++) {
    jobs[i].i = i;
    jobs[i].shared = nbd;
  }
  run (shared_handle, jobs, "one handle shared");
  for (int i = 0; i < NR_THREADS; i++)
    printf ("thread %d: %s\n", i, jobs[i].error);
  nbd_close (nbd);

  /* A thread that waits for ever does not keep the program from ending. */
  pthread_t waiter;
  pthread_create (&waiter, NULL, wait_for_ever, NULL);
  usleep (100000);
  printf ("main returns while a thread waits in pause()\n");
  return 0;
}
