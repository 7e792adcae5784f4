/* webnbd's emscripten port: what a libnbd program waits on besides libnbd's own blocking calls.
 * poll() and select() on nbd_aio_get_fd's descriptors (and stdin, stdout, stderr), the sleeps,
 * pause(), and SIGALRM from alarm() and setitimer(), delivered when the program next blocks or
 * calls libnbd. Waiting is an Asyncify sleep (webnbd_js_wait), during which the core goes on
 * reading the WebSocket; emscripten's own poll() and select() return at once and its sleeps
 * spin without letting the core run. See wasm/runtime/events.ts and wasm/README.md.
 */

#include <errno.h>
#include <limits.h>
#include <math.h>
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

#include <emscripten.h>

#include "libnbd.h"
#include "webnbd.h"

/* emscripten's libc: sigaction()'s table and sigprocmask()'s mask. */
extern struct sigaction __sig_actions[_NSIG];
extern bool __sig_is_blocked (int sig);

/* Run the handlers of the signals that came due; 1 when one ran. A signal whose action is the
 * default ends the program, as SIGALRM's does natively (exit status 128 + 14, as a shell shows it).
 */
int
webnbd_signals (void)
{
  int sig, ran = 0;

  while ((sig = webnbd_js_take_signal ()) != 0) {
    const struct sigaction *sa = &__sig_actions[sig];
    if (!__sig_is_blocked (sig) && !(sa->sa_flags & SA_SIGINFO)) {
      if (sa->sa_handler == SIG_IGN)
        continue;
      if (sa->sa_handler == SIG_DFL) {
        webnbd_js_killed (sig);
        _Exit (128 + sig);
      }
    }
    raise (sig);                /* emscripten's: runs the handler, or keeps it pending if blocked */
    ran = 1;
  }
  return ran;
}

static bool
timer_armed (void)
{
  double cur[2];
  webnbd_js_get_timer (cur);
  return cur[0] > 0;
}

/* Waiting for ever on what cannot happen: stop the program with a reason, never spin. With
 * threads, another thread may still end the program (exit) or set an alarm: wait, as natively.
 */
static void
stuck (const char *what)
{
#ifdef __EMSCRIPTEN_PTHREADS__
  (void) what;
  return;
#endif
  char why[256];
  snprintf (why, sizeof why,
            "%s would wait for ever: nothing it waits on can become ready and no alarm is set", what);
  webnbd_js_stuck (why);
  _Exit (1);
}

/* poll() and select(): check, and sleep until something changes, the timeout, or a signal. */
static int
wait_fds (struct pollfd *fds, nfds_t n, int timeout, const char *what)
{
  double deadline = timeout >= 0 ? emscripten_get_now () + timeout : -1;

  for (;;) {
    int count = 0, live = 0, stdin_wanted = 0;
    if (webnbd_signals ()) {
      errno = EINTR;
      return -1;
    }
    for (nfds_t i = 0; i < n; i++) {
      int r;
      fds[i].revents = 0;
      if (fds[i].fd < 0)
        continue;
      r = webnbd_js_ready (fds[i].fd, fds[i].events);
      if (r & WEBNBD_LIVE) {
        live = 1;
        if (fds[i].fd == 0)
          stdin_wanted = 1;
      }
      fds[i].revents = r & ~WEBNBD_LIVE;
      if (fds[i].revents)
        count++;
    }
    if (count || timeout == 0)
      return count;
    double left = deadline < 0 ? -1 : deadline - emscripten_get_now ();
    if (deadline >= 0 && left <= 0)
      return 0;
    if (deadline < 0 && !live && !timer_armed ())
      stuck (what);
    webnbd_js_wait (left < 0 ? -1 : ceil (left), WEBNBD_WAIT_HANDLES | (stdin_wanted ? WEBNBD_WAIT_STDIN : 0));
  }
}

int
poll (struct pollfd *fds, nfds_t n, int timeout)
{
  return wait_fds (fds, n, timeout, "poll()");
}

int
select (int n, fd_set *restrict rfds, fd_set *restrict wfds, fd_set *restrict efds,
        struct timeval *restrict tv)
{
  struct pollfd fds[FD_SETSIZE];
  nfds_t k = 0;
  int timeout = -1, count = 0, r;
  double start = emscripten_get_now ();

  if (n < 0 || n > FD_SETSIZE || (tv && (tv->tv_sec < 0 || tv->tv_usec < 0))) {
    errno = EINVAL;
    return -1;
  }
  for (int fd = 0; fd < n; fd++) {
    short ev = (rfds && FD_ISSET (fd, rfds) ? POLLIN : 0) | (wfds && FD_ISSET (fd, wfds) ? POLLOUT : 0)
      | (efds && FD_ISSET (fd, efds) ? POLLPRI : 0);
    if (ev)
      fds[k++] = (struct pollfd) { .fd = fd, .events = ev };
  }
  if (tv) {
    double ms = tv->tv_sec * 1000.0 + ceil (tv->tv_usec / 1000.0);
    timeout = ms > INT_MAX ? INT_MAX : (int) ms;
  }
  r = wait_fds (fds, k, timeout, "select()");
  if (r == -1)
    return -1;
  for (nfds_t i = 0; i < k; i++) {
    if (fds[i].revents & POLLNVAL) {
      errno = EBADF;
      return -1;
    }
  }
  if (rfds) FD_ZERO (rfds);
  if (wfds) FD_ZERO (wfds);
  if (efds) FD_ZERO (efds);
  for (nfds_t i = 0; i < k; i++) {
    short re = fds[i].revents, ev = fds[i].events;
    if (ev & POLLIN && re & (POLLIN | POLLHUP | POLLERR)) { FD_SET (fds[i].fd, rfds); count++; }
    if (ev & POLLOUT && re & (POLLOUT | POLLERR)) { FD_SET (fds[i].fd, wfds); count++; }
    if (ev & POLLPRI && re & POLLPRI) { FD_SET (fds[i].fd, efds); count++; }
  }
  if (tv) {                     /* Linux leaves the time not slept in *tv */
    double left = timeout - (emscripten_get_now () - start);
    if (left < 0)
      left = 0;
    tv->tv_sec = (time_t) (left / 1000);
    tv->tv_usec = (suseconds_t) fmod (left * 1000, 1000000);
  }
  return count;
}

/* nanosleep(), and through it sleep() and usleep(): an Asyncify sleep, cut short by a signal. */
int
clock_nanosleep (clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
  double ms, deadline;

  if (clk == CLOCK_THREAD_CPUTIME_ID || !req || req->tv_nsec < 0 || req->tv_nsec > 999999999L
      || req->tv_sec < 0)
    return EINVAL;
  ms = req->tv_sec * 1000.0 + req->tv_nsec / 1e6;
  if (flags & TIMER_ABSTIME) {
    struct timespec now;
    clock_gettime (clk, &now);
    ms -= now.tv_sec * 1000.0 + now.tv_nsec / 1e6;
  }
  deadline = emscripten_get_now () + ms;
  for (;;) {
    double left = deadline - emscripten_get_now ();
    if (webnbd_signals ()) {
      if (rem && !(flags & TIMER_ABSTIME)) {
        if (left < 0)
          left = 0;
        rem->tv_sec = (time_t) (left / 1000);
        rem->tv_nsec = (long) fmod (left * 1e6, 1e9);
      }
      return EINTR;
    }
    if (left <= 0)
      return 0;
    webnbd_js_wait (ceil (left), 0);
  }
}

int
nanosleep (const struct timespec *req, struct timespec *rem)
{
  int r = clock_nanosleep (CLOCK_REALTIME, 0, req, rem);
  if (r) {
    errno = r;
    return -1;
  }
  return 0;
}

int
pause (void)
{
  for (;;) {
    if (webnbd_signals ()) {
      errno = EINTR;
      return -1;
    }
    if (!timer_armed ())
      stuck ("pause()");
    webnbd_js_wait (-1, 0);
  }
}

/* ---- alarm() and setitimer(ITIMER_REAL): one timer, as in the kernel ---- */

static double
ms_of (const struct timeval *tv)
{
  return tv->tv_sec * 1000.0 + tv->tv_usec / 1000.0;
}

static void
timeval_of (double ms, struct timeval *tv)
{
  tv->tv_sec = (time_t) (ms / 1000);
  tv->tv_usec = (suseconds_t) fmod (ms * 1000, 1000000);
}

unsigned
alarm (unsigned seconds)
{
  double old[2];
  webnbd_js_set_timer (seconds * 1000.0, 0, old);
  /* Linux rounds what was left to the nearest second, and says 1 rather than 0. */
  return old[0] <= 0 ? 0 : old[0] < 1500 ? 1 : (unsigned) lround (old[0] / 1000);
}

int
setitimer (int which, const struct itimerval *restrict value, struct itimerval *restrict old)
{
  double o[2];

  if (which != ITIMER_REAL || !value || value->it_value.tv_usec < 0
      || value->it_value.tv_usec > 999999 || value->it_interval.tv_usec < 0
      || value->it_interval.tv_usec > 999999) {
    errno = EINVAL;             /* ITIMER_VIRTUAL and ITIMER_PROF: no CPU time to count here */
    return -1;
  }
  webnbd_js_set_timer (ms_of (&value->it_value), ms_of (&value->it_interval), o);
  if (old) {
    timeval_of (o[0], &old->it_value);
    timeval_of (o[1], &old->it_interval);
  }
  return 0;
}

int
getitimer (int which, struct itimerval *value)
{
  double cur[2];

  if (which != ITIMER_REAL) {
    errno = EINVAL;
    return -1;
  }
  webnbd_js_get_timer (cur);
  timeval_of (cur[0], &value->it_value);
  timeval_of (cur[1], &value->it_interval);
  return 0;
}
