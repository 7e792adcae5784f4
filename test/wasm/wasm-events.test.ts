// Programs with their own event loop, timers and signals, compiled unchanged natively and with
// emscripten, print the same: libnbd's batched-read-write example (nbd_aio_get_fd, poll(),
// nbd_aio_notify_read, an alarm() watchdog, nbd_connect_uri with the bridge's ws:// URL) and
// wasm/tests/events.c (select(), timeouts, sleeps, SIGALRM while polling, sleeping, pausing and
// inside a blocking call, setitimer). What cannot be compared natively (waiting for ever on
// nothing) ends with a clear reason.

import { beforeAll, describe, expect, it } from 'vitest';
import { buildNative, buildWasm, normalise, runNative, runWasm, serveUnix } from '../support/wasm.js';

const BATCHED = 'wasm/examples/batched-read-write.c';
const EVENTS = 'wasm/tests/events.c';
let built: Record<string, string>;

beforeAll(async () => {
  const [batchedNative, batched, eventsNative, events] = await Promise.all([
    buildNative(BATCHED), buildWasm(BATCHED), buildNative(EVENTS), buildWasm(EVENTS),
  ]);
  built = { batchedNative, batched, eventsNative, events };
}, 300_000);

describe('own event loop', () => {
  it('batched-read-write-example-prints-what-it-prints-natively', async () => {
    // As its comment says: one request at a time at the server, a large read and write batched.
    const { socket, url } = await serveUnix(['--filter=noparallel', 'memory', '2M']);
    const want = await runNative(built.batchedNative!, [socket]);
    const got = await runWasm(built.batched!, 'batched-read-write', [url]);
    expect(want).toEqual({ stdout: 'finished OK\n', stderr: '', status: 0 });
    expect(got).toEqual(want);
  });

  it('fd-loop-poll-select-and-timeouts-print-what-they-print-natively', async () => {
    const { socket, url } = await serveUnix(['pattern', 'size=1M']);
    const want = await runNative(built.eventsNative!, [socket, 'fd'], 'a line\n');
    const got = await runWasm(built.events!, 'events', [url, 'fd'], 'a line\n');
    expect(want.stdout).toContain('poll(stdin) -> 1, POLLIN yes, read "a line"\n');
    expect(want.stdout).toContain('poll loop: 64 reads completed, 0 bad words');
    expect(want.stdout).not.toMatch(/: no$/m);
    expect({ ...got, stdout: normalise(got.stdout, url) }).toEqual({ ...want, stdout: normalise(want.stdout, socket) });
  });
});

describe('alarm() and signals', () => {
  it('sigalrm-while-polling-sleeping-pausing-and-reading-as-natively', async () => {
    const { socket, url } = await serveUnix(['--filter=delay', 'memory', '1M', 'rdelay=2']);
    const want = await runNative(built.eventsNative!, [socket, 'signals']);
    const got = await runWasm(built.events!, 'events', [url, 'signals']);
    expect(want.stdout).toContain('nbd_pread with alarm(1) -> 0, alarms 3, waited 2 s: yes');
    expect(want.stdout).not.toMatch(/: no$/m);
    expect(got).toEqual(want);
  }, 30_000);

  it('sigalrm-default-action-ends-the-program-with-status-142', async () => {
    const want = await runNative(built.eventsNative!, ['unused', 'killed']);
    const got = await runWasm(built.events!, 'events', ['unused', 'killed']);
    expect(want).toEqual({ stdout: 'alarm(1), then pause()\n', stderr: '', status: 142 });
    expect(got).toEqual({ ...want, message: 'killed by signal 14 (SIGALRM, Alarm clock)' });
  });

  it('waiting-for-ever-on-nothing-stops-with-a-reason', async () => {
    const got = await runWasm(built.events!, 'events', ['unused', 'stuck']);
    expect(got).toEqual({
      stdout: 'polling for ever\n', stderr: '', status: 1,
      message: 'poll() would wait for ever: nothing it waits on can become ready and no alarm is set',
    });
  });
});
