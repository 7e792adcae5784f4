// webnbd's emscripten port: the imports of shim.c and events.c (an emscripten --js-library). Each
// forwards to the runtime (wasm/runtime/runtime.ts), which the host passes in as Module.webnbd;
// the blocking ones sleep through Asyncify. stdout and stderr go to the host byte for byte, stdin
// comes from it, and reading stdin sleeps too when nothing has arrived yet.
//
// Built with -pthread (USE_PTHREADS), C runs only in pthreads (shim.c starts main in one) and the
// runtime stays on the worker's own thread, whose event loop is always free: every import is
// proxied to it synchronously, and the blocking ones start there and wait in the calling thread
// with Atomics.wait instead of Asyncify (see wasm/README.md, "Threads").

var webnbdLibrary = {
  webnbd_js_create__deps: ['malloc', 'free'],
  webnbd_js_create: function () {
#if ALLOW_MEMORY_GROWTH || USE_PTHREADS
    // Growing memory detaches views of it, and shared memory cannot go to WebSocket.send or
    // TextDecoder: either way the runtime copies what crosses.
    var growable = true;
#else
    var growable = false;
#endif
    return Module.webnbd.create(Module, growable);
  },
  webnbd_js_close: function (id) { Module.webnbd.close(id); },
  webnbd_js_call: function (id, name, args, ret, thread) { return Module.webnbd.call(id, name, args, ret, thread); },
  // 2: a signal came due first; C runs its handler, then goes on waiting with webnbd_js_resume.
#if USE_PTHREADS
  webnbd_js_call_async__deps: ['$webnbdBlock'],
  webnbd_js_call_async: function (id, name, args, ret, thread) { return webnbdBlock(0, id, name, args, ret, thread); },
  webnbd_js_resume__deps: ['$webnbdBlock'],
  webnbd_js_resume: function (thread) { return webnbdBlock(1, thread, 0, 0, 0, 0); },
#else
  webnbd_js_call_async__deps: ['$Asyncify'],
  webnbd_js_call_async: function (id, name, args, ret, thread) {
    return Asyncify.handleAsync(function () { return Module.webnbd.events.interruptible(Module.webnbd.callAsync(id, name, args, ret, thread), thread); });
  },
  webnbd_js_resume__deps: ['$Asyncify'],
  webnbd_js_resume: function (thread) {
    return Asyncify.handleAsync(function () { return Module.webnbd.events.resume(thread); });
  },
#endif
  webnbd_js_finish: function (id, name, cookie, thread) { return Module.webnbd.finish(id, name, cookie, thread); },
  webnbd_js_next_event: function (id, ev) { return Module.webnbd.nextEvent(id, ev); },
  webnbd_js_event_done: function (id, token, r, error) { Module.webnbd.eventDone(id, token, r, error); },
  webnbd_js_set_error: function (context, errnum, detail, thread) { Module.webnbd.setError(context, errnum, detail, thread); },
  webnbd_js_get_error: function (thread) { return Module.webnbd.getError(thread); },
  webnbd_js_get_errno: function (thread) { return Module.webnbd.getErrno(thread); },
  webnbd_js_hexdump: function (buf, len) { return Module.webnbd.hexdump(buf, len); },

  // Descriptors, timeouts and signals (events.c, wasm/runtime/events.ts).
  webnbd_js_direction: function (id) { return Module.webnbd.events.direction(id); },
  webnbd_js_notify: function (id) { Module.webnbd.events.notify(id); },
  webnbd_js_ready: function (fd, events) { return Module.webnbd.events.ready(fd, events); },
#if USE_PTHREADS
  webnbd_js_wait__deps: ['$webnbdBlock'],
  webnbd_js_wait: function (ms, flags) { return webnbdBlock(2, ms, flags, 0, 0, 0); },
#else
  webnbd_js_wait__deps: ['$Asyncify'],
  webnbd_js_wait: function (ms, flags) {
    return Asyncify.handleAsync(function () { return Module.webnbd.events.wait(ms, flags); });
  },
#endif
  webnbd_js_set_timer: function (ms, interval, old) {
    var o = Module.webnbd.events.setTimer(ms, interval);
    if (old) { HEAPF64[old >> 3] = o[0]; HEAPF64[(old >> 3) + 1] = o[1]; }
  },
  webnbd_js_get_timer: function (cur) {
    var o = Module.webnbd.events.getTimer();
    HEAPF64[cur >> 3] = o[0]; HEAPF64[(cur >> 3) + 1] = o[1];
  },
  webnbd_js_take_signal: function () { return Module.webnbd.events.take(); },
  webnbd_js_killed: function (sig) { Module.webnbd.events.killedBy = sig; },
  webnbd_js_stuck: function (what) { Module.webnbd.events.stuck = UTF8ToString(what); },

#if USE_PTHREADS
  // A blocking import in a pthread: start it on the runtime's thread, wait here for its value.
  $webnbdBlock__deps: ['webnbd_js_start', 'malloc', 'free'],
  $webnbdBlock: function (what, a, b, c, d, e) {
    var cell = _malloc(8);
    Atomics.store(HEAP32, cell >> 2, 0);
    _webnbd_js_start(what, a, b, c, d, e, cell);
    while (Atomics.load(HEAP32, cell >> 2) === 0) Atomics.wait(HEAP32, cell >> 2, 0);
    var v = HEAP32[(cell >> 2) + 1];
    _free(cell);
    return v;
  },
  webnbd_js_start: function (what, a, b, c, d, e, cell) {
    var w = Module.webnbd;
    var p = what === 0 ? w.events.interruptible(w.callAsync(a, b, c, d, e), e)
      : what === 1 ? w.events.resume(a)
      : what === 2 ? w.events.wait(a, b)
      : w.events.waitStdin().then(function () { return 0; });
    var done = function (v) {
      HEAP32[(cell >> 2) + 1] = v;
      Atomics.store(HEAP32, cell >> 2, 1);
      Atomics.notify(HEAP32, cell >> 2);
    };
    // A failure of the runtime itself must not leave the thread waiting for ever: say so, fail the call.
    p.then(done, function (err) {
      w.write(2, new TextEncoder().encode('webnbd: internal error in a blocking call: ' + (err && err.message ? err.message : err) + '\n'));
      done(-1);
    });
  },
  // stdin as fd_read wants it: -1 while nothing has arrived (then the thread waits and asks again).
  webnbd_js_read_stdin: function (iov, iovcnt, pnum) {
    if (!Module.webnbd.events.stdinReady()) return -1;
    return webnbdReadStdin(iov, iovcnt, pnum);
  },
  webnbd_js_read_stdin__deps: ['$webnbdReadStdin'],
#endif

  $webnbdReadStdin: function (iov, iovcnt, pnum) {
    var num = 0;
    for (var i = 0; i < iovcnt; i++) {
      var ptr = HEAPU32[(iov >> 2) + 2 * i];
      var len = HEAPU32[(iov >> 2) + 2 * i + 1];
      var chunk = new Uint8Array(len);
      var got = Module.webnbd.events.readStdin(chunk);
      HEAPU8.set(chunk.subarray(0, got), ptr);
      num += got;
      if (got < len) break;
    }
    HEAPU32[pnum >> 2] = num;
    return 0;
  },

  // The standard streams, byte for byte (emscripten's TTY drops NULs and decodes UTF-8). stdout
  // stays a TTY for musl, so it is line buffered, as a native run under `stdbuf -oL` is.
#if SYSCALLS_REQUIRE_FILESYSTEM
  fd_write__deps: ['$SYSCALLS'],
#else
  // Its postset flushes stdio at exit (___stdio_exit) in builds without a filesystem.
  fd_write__deps: ['$SYSCALLS', '$flush_NO_FILESYSTEM'],
#endif
  fd_write: function (fd, iov, iovcnt, pnum) {
    if ((fd === 1 || fd === 2) && Module.webnbd) {
      var num = 0;
      for (var i = 0; i < iovcnt; i++) {
        var ptr = HEAPU32[(iov >> 2) + 2 * i];
        var len = HEAPU32[(iov >> 2) + 2 * i + 1];
        if (len) Module.webnbd.write(fd, HEAPU8.slice(ptr, ptr + len));
        num += len;
      }
      HEAPU32[pnum >> 2] = num;
      return 0;
    }
#if SYSCALLS_REQUIRE_FILESYSTEM
    try {
      var stream = SYSCALLS.getStreamFromFD(fd);
      HEAPU32[pnum >> 2] = SYSCALLS.doWritev(stream, iov, iovcnt);
      return 0;
    } catch (e) {
      if (typeof FS == 'undefined' || !(e instanceof FS.ErrnoError)) throw e;
      return e.errno;
    }
#else
    return {{{ cDefine('EBADF') }}};
#endif
  },

#if USE_PTHREADS
  fd_read__deps: ['$SYSCALLS', '$webnbdBlock', 'webnbd_js_read_stdin', 'webnbd_js_fd_read'],
  fd_read: function (fd, iov, iovcnt, pnum) {
    if (fd !== 0) return _webnbd_js_fd_read(fd, iov, iovcnt, pnum);
    for (;;) {
      var r = _webnbd_js_read_stdin(iov, iovcnt, pnum);
      if (r !== -1) return r;
      webnbdBlock(3, 0, 0, 0, 0, 0);
    }
  },
  webnbd_js_fd_read__deps: ['$SYSCALLS'],
  webnbd_js_fd_read: function (fd, iov, iovcnt, pnum) {
#else
  fd_read__deps: ['$SYSCALLS', '$Asyncify', '$webnbdReadStdin'],
  fd_read: function (fd, iov, iovcnt, pnum) {
    if (fd === 0 && Module.webnbd) {
      var read = function () { return webnbdReadStdin(iov, iovcnt, pnum); };
      // When rewinding, handleAsync hands back the value of the read that woke us.
      if (Asyncify.state === Asyncify.State.Normal && Module.webnbd.events.stdinReady()) return read();
      return Asyncify.handleAsync(function () { return Module.webnbd.events.waitStdin().then(read); });
    }
#endif
#if SYSCALLS_REQUIRE_FILESYSTEM
    try {
      var stream = SYSCALLS.getStreamFromFD(fd);
      HEAPU32[pnum >> 2] = SYSCALLS.doReadv(stream, iov, iovcnt);
      return 0;
    } catch (e) {
      if (typeof FS == 'undefined' || !(e instanceof FS.ErrnoError)) throw e;
      return e.errno;
    }
#else
    return {{{ cDefine('EBADF') }}};
#endif
  },
};

#if USE_PTHREADS
// Everything that touches the runtime runs on its thread; the caller waits (emscripten's proxying).
Object.keys(webnbdLibrary).forEach(function (name) {
  if (/^(webnbd_js_|fd_write$)/.test(name) && !/__deps$/.test(name)
      && !/^webnbd_js_(call_async|resume|wait)$/.test(name)) {
    webnbdLibrary[name + '__proxy'] = 'sync';
  }
});
#endif

mergeInto(LibraryManager.library, webnbdLibrary);
