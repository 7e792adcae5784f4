// libnbd's contracts through the emscripten port: wasm/tests/contract.c prints the same natively
// and in the browser (last error, errno, completion, free, chunk, extent, list and debug
// callbacks); wasm/tests/browser.c shows what the browser does differently, and exit statuses.

import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startNbdkit, startWebsockify } from '../support/servers.js';
import { buildNative, buildWasm, runNative, runWasm, serveUnix } from '../support/wasm.js';

const CONTRACT = 'wasm/tests/contract.c';
const BROWSER = 'wasm/tests/browser.c';
let built: Record<string, string>;

beforeAll(async () => {
  const [native, contract, growable, browser] = await Promise.all([
    buildNative(CONTRACT), buildWasm(CONTRACT), buildWasm(CONTRACT, ['-sALLOW_MEMORY_GROWTH']), buildWasm(BROWSER),
  ]);
  built = { native, contract, growable, browser };
}, 300_000);

describe('libnbd contracts', () => {
  it('contract-program-prints-what-it-prints-natively', async () => {
    // One server thread: replies in request order, so completions print in one order.
    const { socket, url } = await serveUnix(['-t', '1', 'pattern', 'size=1M']);
    const want = await runNative(built.native!, [socket]);
    expect(want.status).toBe(0);
    expect(want.stdout).toContain('closed in flight: completions 0, frees 1');
    // Also where memory can grow, and reads are staged and copied (see wasm/README.md).
    for (const build of [built.contract!, built.growable!]) {
      const got = await runWasm(build, 'contract', [url]);
      expect(got.status).toBe(0);
      expect(got.stdout).toBe(want.stdout);
    }
  });
});

describe('in the browser', () => {
  it('browser-program-connects-by-bridge-and-fails-clearly-otherwise', async () => {
    const nbd = await startNbdkit(['memory', '1M']);
    const ws = await startWebsockify({ port: nbd.port! });
    const got = await runWasm(built.browser!, 'browser', [ws.url, '127.0.0.1', String(ws.port)]);
    const lines = got.stdout.split('\n');
    expect(lines[0]).toBe('webnbd 1.24.0, uri 1, tls 0');
    expect(lines).toContain('nbd_connect_command -> -1, errno ENOTSUP: nbd_connect_command: a browser cannot run a server as a subprocess: run it elsewhere and connect through a websockify bridge: Operation not supported');
    expect(got.stdout).toMatch(/^nbd_connect_systemd_socket_activation -> -1, errno ENOTSUP: /m);
    expect(got.stdout).toMatch(/^nbd_aio_connect_command -> -1, errno ENOTSUP: /m);
    expect(got.stdout).toMatch(/^nbd_connect_unix -> -1, errno ENOTSUP: nbd_connect_unix: \/tmp\/socket: a browser has no Unix sockets: .*websockify --unix-target=SOCKET.*: Operation not supported$/m);
    expect(got.stdout).toMatch(/^nbd_connect_uri -> -1, errno ENOTSUP: nbd_connect_uri: .*nbd\+ws:\/\/.*$/m);
    expect(lines).toContain('nbd_aio_get_fd -> -1, errno other: nbd_aio_get_fd: connection is not in a connected state: Invalid argument');
    expect(lines).toContain('size by unix: 1048576');
    expect(lines).toContain('size by tcp: 1048576');
    expect(lines).toContain('size by uri: 1048576');
    expect(lines).toContain("size by the bridge's URL as a URI: 1048576");
    expect(lines).toContain('popen ls: NULL, errno ENOSYS');
    expect(got.stderr).toContain('webnbd: popen: only "hexdump -C"');
    expect(got.status).toBe(3);
  });

  it('exit-status-of-exit-abort-and-a-crash', async () => {
    const dir = tmpdir();
    const program = (name: string, body: string) => {
      const file = join(dir, `webnbd-${name}.c`);
      writeFileSync(file, `#include <assert.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <libnbd.h>\nint main (int argc, char **argv) {\n${body}\n}\n`);
      return buildWasm(file);
    };
    const [exits, aborts, plain] = await Promise.all([
      program('exit', 'struct nbd_handle *h = nbd_create (); nbd_poll (h, 10); printf ("bye\\n"); exit (7);'),
      program('abort', 'printf ("before\\n"); fflush (stdout); assert (argc == 42); return 0;'),
      program('plain', 'printf ("no newline"); return argc;'),
    ]);
    const e = await runWasm(exits, 'exit', []);
    expect([e.status, e.stdout]).toEqual([7, 'bye\n']);
    const a = await runWasm(aborts, 'abort', []);
    expect([a.status, a.stdout]).toEqual([134, 'before\n']);
    expect(a.stderr).toContain('Assertion failed');
    const p = await runWasm(plain, 'plain', ['x', 'y']);
    expect([p.status, p.stdout]).toEqual([3, 'no newline']);
  });
});
