// webnbd's emscripten port: the imports of shim.c (an emscripten --js-library). Each forwards to
// the runtime (wasm/runtime/runtime.ts), which the host passes in as Module.webnbd; the blocking
// ones sleep through Asyncify. stdout and stderr go to the host byte for byte, stdin comes from
// it, and reading stdin sleeps too when nothing has arrived yet.

mergeInto(LibraryManager.library, {
  webnbd_js_create__deps: ['malloc', 'free'],
  webnbd_js_create: function () {
#if ALLOW_MEMORY_GROWTH
    var growable = true;
#else
    var growable = false;
#endif
    return Module.webnbd.create(Module, growable);
  },
  webnbd_js_close: function (id) { Module.webnbd.close(id); },
  webnbd_js_call: function (id, name, args, ret) { return Module.webnbd.call(id, name, args, ret); },
  webnbd_js_call_async__deps: ['$Asyncify'],
  // 2: a signal came due first; C runs its handler, then goes on waiting with webnbd_js_resume.
  webnbd_js_call_async: function (id, name, args, ret) {
    return Asyncify.handleAsync(function () { return Module.webnbd.events.interruptible(Module.webnbd.callAsync(id, name, args, ret)); });
  },
  webnbd_js_resume__deps: ['$Asyncify'],
  webnbd_js_resume: function () {
    return Asyncify.handleAsync(function () { return Module.webnbd.events.resume(); });
  },
  webnbd_js_finish: function (id, name, cookie) { return Module.webnbd.finish(id, name, cookie); },
  webnbd_js_next_event: function (id, ev) { return Module.webnbd.nextEvent(id, ev); },
  webnbd_js_event_done: function (id, token, r, error) { Module.webnbd.eventDone(id, token, r, error); },
  webnbd_js_set_error: function (context, errnum, detail) { Module.webnbd.setError(context, errnum, detail); },
  webnbd_js_get_error: function () { return Module.webnbd.getError(); },
  webnbd_js_get_errno: function () { return Module.webnbd.getErrno(); },
  webnbd_js_hexdump: function (buf, len) { return Module.webnbd.hexdump(buf, len); },

  // Descriptors, timeouts and signals (events.c, wasm/runtime/events.ts).
  webnbd_js_direction: function (id) { return Module.webnbd.events.direction(id); },
  webnbd_js_notify: function (id) { Module.webnbd.events.notify(id); },
  webnbd_js_ready: function (fd, events) { return Module.webnbd.events.ready(fd, events); },
  webnbd_js_wait__deps: ['$Asyncify'],
  webnbd_js_wait: function (ms, stdin) {
    return Asyncify.handleAsync(function () { return Module.webnbd.events.wait(ms, stdin !== 0); });
  },
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

  fd_read__deps: ['$SYSCALLS', '$Asyncify'],
  fd_read: function (fd, iov, iovcnt, pnum) {
    if (fd === 0 && Module.webnbd) {
      var read = function () {
        var num = 0;
        for (var i = 0; i < iovcnt; i++) {
          var ptr = HEAPU32[(iov >> 2) + 2 * i];
          var len = HEAPU32[(iov >> 2) + 2 * i + 1];
          var got = Module.webnbd.readStdin(HEAPU8.subarray(ptr, ptr + len));
          num += got;
          if (got < len) break;
        }
        HEAPU32[pnum >> 2] = num;
        return 0;
      };
      // When rewinding, handleAsync hands back the value of the read that woke us.
      if (Asyncify.state === Asyncify.State.Normal && Module.webnbd.stdinReady()) return read();
      return Asyncify.handleAsync(function () { return Module.webnbd.waitStdin().then(read); });
    }
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
});
