// A server that stops answering ends every connecting command within --timeout, exit status 1,
// with one plain line naming what was awaited; the URI's host is taken as written; control
// characters from URIs and servers never reach the terminal raw.

import { afterAll, describe, expect, it } from 'vitest';
import * as B from '../support/bytes.js';
import { webnbd, cliFixture, type Run } from '../support/cli.js';
import { FakeServer, type FakeServerHandle } from '../support/fake-conn.js';
import { stall, stallingServer, startDiskServer } from '../support/fake-server.js';

cliFixture('cli-timeouts');

const servers: FakeServerHandle[] = [];
afterAll(async () => { await Promise.all(servers.map((s) => s.close())); });
const keep = <S extends FakeServerHandle>(s: S): S => (servers.push(s), s);

/** Run and time it. */
async function timed(...args: string[]): Promise<Run & { seconds: number }> {
  const t0 = performance.now();
  const r = await webnbd(...args);
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

/** Exit status 1, nothing on stdout, exactly one line on stderr, equal to `line`. */
function oneLine(r: Run, line: string | RegExp): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^webnbd: [^\n]*\n$/);
  if (typeof line === 'string') expect(r.stderr).toBe(`webnbd: ${line}\n`);
  else expect(r.stderr).toMatch(line);
}

describe('cli-timeout-ends-a-stalled-server', () => {
  it('greeting: info, dump, ls, map give up after --timeout', async () => {
    const s = keep(await FakeServer.start(stallingServer));
    const want = "nbd_connect_uri: timed out after 1 s waiting for the server's greeting: Connection timed out";
    const runs = await Promise.all([
      timed('info', '--timeout', '1', s.uri),
      timed('dump', '--timeout=1', s.uri),
      timed('ls', '--timeout', '1', s.uri, '/'),
      timed('map', '--timeout', '1', s.uri),
    ]);
    for (const r of runs) {
      oneLine(r, want);
      expect(r.seconds).toBeGreaterThanOrEqual(1);
      expect(r.seconds).toBeLessThan(15); // far below the default 30 s, with room for Node's start on a busy machine
    }
  });

  it('an option reply: list and info name the option', async () => {
    const s = keep(await startDiskServer({ size: 1 << 20, hooks: { onOption: (o, sess) => (o.option === B.NBD_OPT_LIST ? stall(sess.conn) : undefined) } }));
    oneLine(await timed('list', '--timeout', '1', s.uri),
      "nbd_opt_list: timed out after 1 s waiting for the server's reply to NBD_OPT_LIST: Connection timed out");
    const g = keep(await startDiskServer({ size: 1 << 20, hooks: { onOption: (o, sess) => (o.option === B.NBD_OPT_GO ? stall(sess.conn) : undefined) } }));
    oneLine(await timed('dump', '--timeout', '1.5', g.uri),
      "nbd_connect_uri: timed out after 1.5 s waiting for the server's reply to NBD_OPT_GO: Connection timed out");
  });

  it('a read reply: dump stops within its timeout with exit 1', async () => {
    const data = new Uint8Array(4 << 20).fill(0x61);
    const s = keep(await startDiskServer({ data, hooks: { onRequest: (r, sess) => (r.type === B.NBD_CMD_READ ? stall(sess.conn) : undefined) } }));
    const r = await timed('dump', '--timeout', '2', s.uri);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("webnbd: nbd_pread: read: command failed (timed out after 2 s waiting for the server's reply): Connection timed out\n");
    expect(r.seconds).toBeGreaterThanOrEqual(2);
    expect(r.seconds).toBeLessThan(15);
    const c = await timed('cat', '--timeout', '1', s.uri, '/x');
    oneLine(c, /^webnbd: nbd_pread: read: command failed \(timed out after 1 s waiting for the server's reply\)/);
  });

  it('--timeout 0 waits, a bad value is a usage error, the default is in --help', async () => {
    oneLine(await webnbd('info', '--timeout', 'soon', 'nbd://x/'), "info: --timeout must be a number of seconds: soon (see 'webnbd info --help')");
    oneLine(await webnbd('dump', '--timeout=-1', 'nbd://x/'), /--timeout must be a number of seconds: -1/);
    const help = await webnbd('--help');
    expect(help.stdout).toMatch(/--timeout=SECONDS \(default: 30\)/);
    const cmds = ['info', 'list', 'map', 'dump', 'filesystems', 'ls', 'cat', 'inspect'];
    const helps = await Promise.all(cmds.map((cmd) => webnbd(cmd, '--help')));
    cmds.forEach((cmd, i) => expect(helps[i]!.stdout, cmd).toMatch(/--timeout=SECONDS[\s\S]*default: 30; 0: wait for ever/));
    // With 0 the command waits past where a limit would have ended it: still running at 1.5 s.
    const s = keep(await FakeServer.start(stallingServer));
    const waiting = timed('info', '--timeout', '0', s.uri);
    const early = await Promise.race([waiting.then(() => 'ended'), new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
    expect(early).toBe('waiting');
    await s.close();
    const r = await waiting;
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/timed out/);
  });
});

describe('cli-uri-rules', () => {
  it('a percent-encoded host does not reach 127.0.0.1', async () => {
    const s = keep(await startDiskServer({ size: 4096 }));
    for (const uri of [`nbd+ws://evil.example%40127.0.0.1:${s.port}/`, `nbd://evil.example%40127.0.0.1:${s.port}/`]) {
      oneLine(await webnbd('info', uri), `nbd_connect_uri: invalid host name in URI: ${uri}: Invalid argument`);
    }
    expect(s.connections.length).toBe(0);
  });

  it('an export name over 4096 bytes is refused before connecting', async () => {
    const s = keep(await startDiskServer({ size: 4096 }));
    oneLine(await webnbd('info', `${s.uri}${'x'.repeat(5000)}`), 'nbd_connect_uri: export name too long for NBD protocol: File name too long');
    expect(s.connections.length).toBe(0);
  });

  it('control characters from the URI and the server are escaped', async () => {
    const r = await webnbd('info', 'nbd://bad\x1b[2Jhost\x07/');
    oneLine(r, 'nbd_connect_uri: invalid host name in URI: nbd://bad\\x1b[2Jhost\\x07/: Invalid argument');
    const msg = new TextEncoder().encode('gone\x1b]0;owned\x07\nwebnbd: all is well');
    const s = keep(await startDiskServer({
      size: 4096,
      hooks: { onOption: (o) => (o.option === B.NBD_OPT_INFO || o.option === B.NBD_OPT_GO ? B.optReply(o.option, B.NBD_REP_ERR_UNKNOWN, msg) : undefined) },
    }));
    const i = await webnbd('info', s.uri);
    expect(i.status).toBe(1);
    expect(i.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(i.stderr).toContain('gone\\x1b]0;owned\\x07\\x0awebnbd: all is well');
    expect(i.stderr.split('\n').filter((l) => l.includes('all is well'))).toHaveLength(1);
  });
});
