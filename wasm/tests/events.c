/* A program with its own event loop around libnbd, as programs that embed libnbd in a main loop
 * are written: nbd_aio_get_fd, poll() and select() with the events nbd_aio_get_direction asks
 * for, nbd_aio_notify_read; timeouts of poll(), select() and the sleeps; SIGALRM from alarm()
 * and setitimer() while polling, sleeping, pausing and inside a blocking libnbd call. Built
 * natively against libnbd and in the browser against webnbd, it must print the same.
 * Usage: events SOCKET MODE   (SOCKET: in the browser, a bridge's URL)
 *   fd       nbdkit pattern size=1M: the fd loop and timeouts (stdin: a line)
 *   signals  nbdkit --filter=delay memory 1M rdelay=2: alarms and itimers
 *   stuck    poll() for ever on nothing (the browser stops the program and says why)
 *   killed   SIGALRM with its default action
 */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#define NR_READS 64

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Whether a wait took at least `ms` (and not absurdly long). */
static const char *
took (double start, double ms)
{
  double t = now_ms () - start;
  return t >= ms - 1 && t < ms + 2000 ? "yes" : "no";
}

static struct nbd_handle *
connect_to (const char *where)
{
  struct nbd_handle *nbd = nbd_create ();
  if (nbd == NULL || (strstr (where, "://") ? nbd_connect_uri (nbd, where) : nbd_connect_unix (nbd, where)) == -1) {
    fprintf (stderr, "%s\n", nbd_get_error ());
    exit (EXIT_FAILURE);
  }
  return nbd;
}

static int completed;

static int
count_completion (void *ud, int *error)
{
  (void) ud;
  if (*error == 0)
    completed++;
  return 1;
}

/* Run the handle with poll() until nothing is in flight; how many polls woke up for reading. */
static int
run_with_poll (struct nbd_handle *nbd)
{
  int wakeups = 0;

  while (nbd_aio_in_flight (nbd) > 0) {
    struct pollfd fds[1];
    unsigned dir = nbd_aio_get_direction (nbd);
    fds[0].fd = nbd_aio_get_fd (nbd);
    fds[0].events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) | (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0);
    if (poll (fds, 1, -1) == -1) {
      perror ("poll");
      exit (EXIT_FAILURE);
    }
    if (dir & LIBNBD_AIO_DIRECTION_READ && fds[0].revents & POLLIN) {
      wakeups++;
      nbd_aio_notify_read (nbd);
    }
    else if (dir & LIBNBD_AIO_DIRECTION_WRITE && fds[0].revents & POLLOUT)
      nbd_aio_notify_write (nbd);
  }
  return wakeups;
}

static void
fd_loop (const char *where)
{
  struct nbd_handle *nbd = nbd_create ();
  static char bufs[NR_READS][512];
  struct pollfd pfd;
  fd_set rfds;
  struct timeval tv;
  double t;
  int r, bad = 0;

  r = nbd_aio_get_fd (nbd);
  printf ("created: nbd_aio_get_fd -> %d (%s), direction %u\n", r, r == -1 ? nbd_get_error () : "", nbd_aio_get_direction (nbd));
  nbd_close (nbd);

  nbd = connect_to (where);
  printf ("ready: fd >= 0: %s, direction %u, in flight %d\n", nbd_aio_get_fd (nbd) >= 0 ? "yes" : "no",
          nbd_aio_get_direction (nbd), nbd_aio_in_flight (nbd));

  for (int i = 0; i < NR_READS; i++) {
    if (nbd_aio_pread (nbd, bufs[i], 512, i * 4096, (nbd_completion_callback) { .callback = count_completion }, 0) == -1) {
      fprintf (stderr, "%s\n", nbd_get_error ());
      exit (EXIT_FAILURE);
    }
  }
  r = run_with_poll (nbd);
  for (int i = 0; i < NR_READS; i++) {
    for (int j = 0; j < 512; j += 8) {
      uint64_t v = 0;
      for (int k = 0; k < 8; k++)
        v = v << 8 | (unsigned char) bufs[i][j + k];
      if (v != (uint64_t) i * 4096 + j)
        bad++;
    }
  }
  printf ("poll loop: %d reads completed, %d bad words, woke up at least once: %s\n", completed, bad, r > 0 ? "yes" : "no");

  /* Nothing in flight: the descriptor does not become readable, poll() times out. */
  pfd = (struct pollfd) { .fd = nbd_aio_get_fd (nbd), .events = POLLIN };
  t = now_ms ();
  r = poll (&pfd, 1, 100);
  printf ("idle poll(fd, POLLIN, 100) -> %d, revents %d, waited 100 ms: %s\n", r, pfd.revents, took (t, 100));

  /* select() on it with a read in flight. */
  completed = 0;
  nbd_aio_pread (nbd, bufs[0], 512, 0, (nbd_completion_callback) { .callback = count_completion }, 0);
  while (nbd_aio_in_flight (nbd) > 0) {
    FD_ZERO (&rfds);
    FD_SET (nbd_aio_get_fd (nbd), &rfds);
    tv = (struct timeval) { .tv_sec = 5 };
    r = select (nbd_aio_get_fd (nbd) + 1, &rfds, NULL, NULL, &tv);
    if (r == -1) {
      perror ("select");
      exit (EXIT_FAILURE);
    }
    if (r == 1 && FD_ISSET (nbd_aio_get_fd (nbd), &rfds))
      nbd_aio_notify_read (nbd);
  }
  printf ("select loop: %d read completed\n", completed);

  /* Timeouts with no descriptors, and the sleeps. */
  t = now_ms ();
  r = poll (NULL, 0, 200);
  printf ("poll(NULL, 0, 200) -> %d, waited 200 ms: %s\n", r, took (t, 200));
  t = now_ms ();
  tv = (struct timeval) { .tv_usec = 150000 };
  r = select (0, NULL, NULL, NULL, &tv);
  printf ("select(0, …, 150 ms) -> %d, waited 150 ms: %s\n", r, took (t, 150));
  t = now_ms ();
  usleep (100000);
  printf ("usleep(100000) waited 100 ms: %s\n", took (t, 100));
  t = now_ms ();
  nanosleep (&(struct timespec) { .tv_nsec = 120000000 }, NULL);
  printf ("nanosleep(120 ms) waited 120 ms: %s\n", took (t, 120));
  t = now_ms ();
  r = sleep (1);
  printf ("sleep(1) -> %d, waited 1000 ms: %s\n", r, took (t, 1000));

  /* stdin (the test gives it a line): readable, then read. (Natively a pipe whose writer has
   * closed it is POLLHUP too; the browser knows of stdin's end only once it has asked for more.) */
  struct pollfd in = { .fd = 0, .events = POLLIN };
  char line[16] = "";
  r = poll (&in, 1, 5000);
  printf ("poll(stdin) -> %d, POLLIN %s, read \"%s\"\n", r, in.revents & POLLIN ? "yes" : "no",
          r == 1 && fgets (line, sizeof line, stdin) ? strtok (line, "\n") : "");

  /* stdout and stderr are writable, bad descriptors are POLLNVAL. */
  struct pollfd two[2] = { { .fd = 1, .events = POLLOUT }, { .fd = 77, .events = POLLIN } };
  r = poll (two, 2, 0);
  printf ("poll(stdout, 77) -> %d, revents %d %d\n", r, two[0].revents, two[1].revents);

  nbd_shutdown (nbd, 0);
  printf ("shut down: direction %u\n", nbd_aio_get_direction (nbd));
  nbd_close (nbd);
}

static volatile sig_atomic_t alarms;

static void
on_alarm (int sig)
{
  (void) sig;
  alarms++;
}

static void
signals (const char *where)
{
  struct nbd_handle *nbd = connect_to (where);
  struct itimerval it = { 0 };
  struct sigaction sa = { 0 };
  char buf[512];
  double t;
  int r, e;
  unsigned left;

  signal (SIGALRM, on_alarm);

  /* poll() for ever, woken by SIGALRM. */
  alarm (1);
  t = now_ms ();
  r = poll (NULL, 0, -1);
  e = errno;
  printf ("poll(NULL, 0, -1) with alarm(1) -> %d, %s, alarms %d, waited 1 s: %s\n", r, e == EINTR ? "EINTR" : "?", alarms, took (t, 1000));

  /* sleep() cut short. */
  alarm (1);
  r = sleep (5);
  printf ("sleep(5) with alarm(1) -> 3 or 4: %s, alarms %d\n", r == 3 || r == 4 ? "yes" : "no", alarms);

  /* Inside a blocking call (every read takes 2 s): the handler runs, the read goes on. */
  alarm (1);
  t = now_ms ();
  r = nbd_pread (nbd, buf, sizeof buf, 0, 0);
  printf ("nbd_pread with alarm(1) -> %d, alarms %d, waited 2 s: %s\n", r, alarms, took (t, 2000));

  /* alarm() says what was left of the last one; alarm(0) cancels it. */
  alarm (10);
  left = alarm (0);
  printf ("alarm(0) after alarm(10) -> %u\n", left);

  /* setitimer, every 300 ms, with sigaction; pause() until three ticks. */
  sa.sa_handler = on_alarm;
  sigaction (SIGALRM, &sa, NULL);
  alarms = 0;
  it.it_value.tv_usec = 300000;
  it.it_interval.tv_usec = 300000;
  setitimer (ITIMER_REAL, &it, NULL);
  t = now_ms ();
  while (alarms < 3) {
    r = pause ();
    e = errno;
  }
  printf ("pause() -> %d, %s, three ticks of 300 ms: %s\n", r, e == EINTR ? "EINTR" : "?", took (t, 900));
  getitimer (ITIMER_REAL, &it);
  printf ("getitimer: interval %ld us, armed %s\n", (long) it.it_interval.tv_usec,
          it.it_value.tv_sec || it.it_value.tv_usec ? "yes" : "no");
  memset (&it, 0, sizeof it);
  setitimer (ITIMER_REAL, &it, NULL);
  getitimer (ITIMER_REAL, &it);
  printf ("disarmed: armed %s\n", it.it_value.tv_sec || it.it_value.tv_usec ? "yes" : "no");

  /* SIG_IGN: the alarm comes and goes. */
  signal (SIGALRM, SIG_IGN);
  alarm (1);
  t = now_ms ();
  usleep (1200000);
  printf ("ignored alarm: usleep(1200000) slept through it: %s\n", took (t, 1200));

  nbd_close (nbd);
}

int
main (int argc, char *argv[])
{
  if (argc != 3) {
    fprintf (stderr, "%s SOCKET fd|signals|stuck|killed\n", argv[0]);
    exit (EXIT_FAILURE);
  }
  if (strcmp (argv[2], "fd") == 0)
    fd_loop (argv[1]);
  else if (strcmp (argv[2], "signals") == 0)
    signals (argv[1]);
  else if (strcmp (argv[2], "stuck") == 0) {
    printf ("polling for ever\n");
    poll (NULL, 0, -1);
  }
  else if (strcmp (argv[2], "killed") == 0) {
    printf ("alarm(1), then pause()\n");
    alarm (1);
    pause ();
  }
  printf ("done\n");
  return 0;
}
