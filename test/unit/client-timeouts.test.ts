// The client never waits for ever: connect and opt calls take { signal, timeout } as commands do,
// and a server that stalls in its greeting, an option reply or a command reply ends the wait with
// ETIMEDOUT (or ECANCELED) naming what was awaited, the handle DEAD (connect, opt) or still
// usable (a command). Also the URI rules checked before anything is sent, and control characters
// escaped in every error message.

import { describe, expect, it } from 'vitest';
import { NbdError, escapeControls } from '../../web/core/errors.js';
import { NbdHandle } from '../../web/core/handle.js';
import type { Transports } from '../../web/core/transport.js';
import { parseUri } from '../../web/core/uri.js';
import * as B from '../support/bytes.js';
import type { ConnHandler } from '../support/fake-conn.js';
import { serveDisk, type ServeDiskOptions } from '../support/fake-server.js';
import { memoryHandle } from '../support/memory.js';

const never = () => new Promise<never>(() => {});
/** A server that accepts the connection and never says a word. */
const silent: ConnHandler = () => never();

/** The error a promise rejects with, and how long that took. */
async function failure(p: Promise<unknown>): Promise<{ err: NbdError; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { err: err as NbdError, ms: Date.now() - t0 };
  }
  throw new Error('expected the call to fail');
}

const disk = (opts: ServeDiskOptions) => serveDisk({ size: 65536, ...opts }).handler;

describe('connect takes { signal, timeout }', () => {
  it('greeting-stall-times-out-and-the-handle-dies', async () => {
    const { h } = memoryHandle(silent, 'whole');
    const { err, ms } = await failure(h.connectUri('nbd://fake/', { timeout: 150 }));
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toBe("nbd_connect_uri: timed out after 150 ms waiting for the server's greeting: Connection timed out");
    expect(ms).toBeGreaterThanOrEqual(140);
    expect(ms).toBeLessThan(5000);
    expect(h.aioIsDead()).toBe(true);
    expect(() => h.aioPread(new Uint8Array(1), 0)).toThrow(/invalid state: DEAD/);
  });

  it('option-reply-stall-names-the-option', async () => {
    const { h } = memoryHandle(disk({ hooks: { onOption: (o) => (o.option === B.NBD_OPT_GO ? never() : undefined) } }), 'whole');
    const { err } = await failure(h.connectTcp('fake', 10809, { timeout: 200 }));
    expect(err.message).toBe("nbd_connect_tcp: timed out after 200 ms waiting for the server's reply to NBD_OPT_GO: Connection timed out");
    expect(h.aioIsDead()).toBe(true);
  });

  it('the-timer-stops-once-connected', async () => {
    const { h } = memoryHandle(disk({}), 'whole');
    await h.connectUnix('/fake', { timeout: 100 });
    await new Promise((r) => setTimeout(r, 250));
    expect(h.aioIsReady()).toBe(true);
    await h.pread(new Uint8Array(512), 0);
  });

  it('an-abort-names-its-reason-and-the-phase', async () => {
    const { h } = memoryHandle(silent, 'whole');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('user closed the tab')), 50);
    const { err } = await failure(h.connectWebsocket('ws://fake/', { signal: ac.signal }));
    expect(err.code).toBe('ECANCELED');
    expect(err.message).toBe("nbd_connect_websocket: cancelled waiting for the server's greeting (user closed the tab): Operation canceled");
    expect(h.aioIsDead()).toBe(true);
  });

  it('AbortSignal.timeout-means-ETIMEDOUT', async () => {
    const { h } = memoryHandle(silent, 'whole');
    const { err } = await failure(h.connectUri('nbd://fake/', { signal: AbortSignal.timeout(50) }));
    expect(err.code).toBe('ETIMEDOUT');
    expect(err.message).toMatch(/^nbd_connect_uri: timed out waiting for the server's greeting \(/);
  });

  it('a-websocket-that-never-speaks-NBD-is-probably-not-a-bridge', async () => {
    const { h } = memoryHandle(silent, 'whole');
    const { err } = await failure(h.connectUri('nbd+ws://127.0.0.1:5173/', { timeout: 100 }));
    expect(err.message).toBe("nbd_connect_uri: timed out after 100 ms waiting for the server's greeting (is it a webnbd bridge?): Connection timed out");
  });

  it('an-aborted-signal-refuses-before-connecting', async () => {
    let opened = 0;
    const h = new NbdHandle({ transports: { tcp: () => { opened++; throw new Error('unreachable'); } } });
    await expect(h.connectUri('nbd://fake/', { signal: AbortSignal.abort('no') })).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(opened).toBe(0);
    expect(h.aioIsCreated()).toBe(true);
  });

  it('aio-connect-with-a-timeout-dies-on-its-own', async () => {
    const { h } = memoryHandle(silent, 'whole');
    h.aioConnectUri('nbd://fake/', { timeout: 80 });
    await new Promise((r) => setTimeout(r, 200));
    expect(h.aioIsDead()).toBe(true);
    await expect(h.poll(-1)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('a-bad-timeout-is-EINVAL', () => {
    const h = new NbdHandle();
    expect(() => h.aioConnectUri('nbd://fake/', { timeout: -1 })).toThrow(/timeout: expected milliseconds/);
  });
});

describe('opt-mode calls take { signal, timeout }', () => {
  const optMode = async (opts: ServeDiskOptions) => {
    const { h } = memoryHandle(disk(opts), 'whole');
    h.setOptMode(true);
    await h.connectUri('nbd://fake/', { timeout: 1000 });
    expect(h.aioIsNegotiating()).toBe(true);
    return h;
  };

  it('opt-list-stall-times-out', async () => {
    const h = await optMode({ hooks: { onOption: (o) => (o.option === B.NBD_OPT_LIST ? never() : undefined) } });
    const { err } = await failure(h.optList(() => {}, { timeout: 100 }));
    expect(err.message).toBe("nbd_opt_list: timed out after 100 ms waiting for the server's reply to NBD_OPT_LIST: Connection timed out");
    expect(h.aioIsDead()).toBe(true);
  });

  it('opt-info-abort-kills-the-handle-and-completes-the-aio-form', async () => {
    const h = await optMode({ hooks: { onOption: (o) => (o.option === B.NBD_OPT_INFO ? never() : undefined) } });
    const ac = new AbortController();
    let completed = -1;
    h.aioOptInfo((e) => { completed = e.value; return 1; }, { signal: ac.signal });
    ac.abort('enough');
    await new Promise((r) => setTimeout(r, 20));
    expect(completed).toBe(125);
    expect(h.aioIsDead()).toBe(true);
  });

  it('opt-go-within-its-time-succeeds', async () => {
    const h = await optMode({});
    await h.optGo({ timeout: 1000 });
    expect(h.aioIsReady()).toBe(true);
  });
});

describe('a command reply that never comes', () => {
  it('times-out-with-a-plain-message-and-leaves-the-handle-usable', async () => {
    let stall = true;
    const { h } = memoryHandle(disk({ hooks: { onRequest: () => (stall ? ((stall = false), never()) : undefined) } }), 'whole');
    await h.connectUri('nbd://fake/');
    const { err } = await failure(h.pread(new Uint8Array(512), 0, 0, { timeout: 100 }));
    expect(err.message).toBe("nbd_pread: read: command failed (timed out after 100 ms waiting for the server's reply): Connection timed out");
    expect(h.aioIsReady()).toBe(true);
  });
});

describe('URI rules, before anything is sent', () => {
  const spy = (): { transports: Transports; opened: () => number } => {
    let n = 0;
    const open = () => { n++; throw new Error('unreachable'); };
    return { transports: { tcp: open, unix: open, websocket: open }, opened: () => n };
  };

  it('export-name-over-4096-bytes-is-ENAMETOOLONG', () => {
    const s = spy();
    const h = new NbdHandle({ transports: s.transports });
    expect(() => h.aioConnectUri(`nbd://fake/${'x'.repeat(4097)}`)).toThrow(expect.objectContaining({
      code: 'ENAMETOOLONG', message: 'nbd_aio_connect_uri: export name too long for NBD protocol: File name too long',
    }));
    expect(s.opened()).toBe(0);
    expect(h.aioIsCreated()).toBe(true);
    // 4096 bytes exactly is allowed (NBD_MAX_STRING), counted in UTF-8.
    expect(() => h.setExportName('é'.repeat(2048))).not.toThrow();
    expect(() => h.aioConnectUri(`nbd://fake/${'%C3%A9'.repeat(2049)}`)).toThrow(/too long/);
  });

  it('a-percent-encoded-host-cannot-change-where-it-connects', async () => {
    const s = spy();
    const h = new NbdHandle({ transports: s.transports });
    for (const uri of ['nbd+ws://evil.example%40127.0.0.1:8080/', 'nbd://evil%2F127.0.0.1/', 'nbds+wss://a%3A1/', 'nbd+ws://[::1%40x]/']) {
      await expect(h.connectUri(uri), uri).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/invalid host name in URI/) });
    }
    expect(s.opened()).toBe(0);
    // Harmless encodings of a name still work, as libnbd decodes them.
    expect(parseUri('nbd://%6cocalhost/').target).toEqual({ kind: 'tcp', host: 'localhost', port: 10809 });
    expect(parseUri('nbd+ws://[::1]:9/').target).toEqual({ kind: 'websocket', url: 'ws://[::1]:9/' });
  });
});

describe('control characters are escaped in error messages', () => {
  it('escape-is-idempotent-and-leaves-text-alone', () => {
    expect(escapeControls('a\x1b[31mred\x00\x7f\x9b\n')).toBe('a\\x1b[31mred\\x00\\x7f\\x9b\\x0a');
    expect(escapeControls(escapeControls('\x1b'))).toBe('\\x1b');
    expect(escapeControls('é ✓ plain')).toBe('é ✓ plain');
  });

  it('from-a-URI', async () => {
    const h = new NbdHandle();
    const { err } = await failure(h.connectUri('nbd://host\x1b]0;pwned\x07/'));
    expect(err.message).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(err.message).toContain('\\x1b]0;pwned\\x07');
  });

  it('from-a-server-error-message', async () => {
    const msg = 'no\x1b[2J\x00export\nwebnbd: fake line';
    const replies = (o: { option: number }) => (o.option === B.NBD_OPT_GO
      ? B.optReply(B.NBD_OPT_GO, B.NBD_REP_ERR_UNKNOWN, new TextEncoder().encode(msg)) : undefined);
    const { h } = memoryHandle(disk({ hooks: { onOption: replies } }), 'whole');
    const { err } = await failure(h.connectUri('nbd://fake/'));
    expect(err.message).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(err.message).toContain('no\\x1b[2J\\x00export\\x0awebnbd: fake line');
    // Rebuilt on the other side of a worker, it reads the same (not escaped twice).
    expect(NbdError.fromData(err.toData()).message).toBe(err.message);
  });
});
