// `webnbd bridge` with the real nbdkit: reads through it with webnbd's Node client, its secret
// token, its Origin allowlist, token files, wss://, and its process lifecycle. The command itself runs from
// build/ (`npm test` runs `tsc -b` first), in a child process that the tests signal.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BridgeError, parseBridgeArgs, readTokens, startBridge, type Bridge } from '../../bridge/bridge.js';
import { NbdError, create } from '../../web/node/index.js';
import { isAlive, startNbdkit } from '../support/servers.js';
import { descendants } from '../support/processes.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'webnbd-bridge-test-'));
const bridges: Bridge[] = [];
const clis = new Set<Cli>();
afterAll(async () => {
  await Promise.all(bridges.map((b) => b.close()));
  // A test that failed half-way leaves its command running: stop it as a user would, then for sure.
  const left = [...clis];
  for (const c of left) c.proc.kill('SIGTERM');
  for (const c of left) if ((await exitWithin(c)) === 'still running') c.proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function bridge(...args: Parameters<typeof startBridge>): Promise<Bridge> {
  const b = await startBridge(...args);
  bridges.push(b);
  return b;
}

/** nbdkit's pattern plugin: each 8-byte big-endian word holds its own offset. */
function expectPattern(buf: Uint8Array, offset: number): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < buf.length; i += 8) expect(view.getBigUint64(i)).toBe(BigInt(offset + i));
}

/** Connects with webnbd's Node client, reads 64 KiB at 1 MiB - 64 KiB and checks the pattern. */
async function readThrough(uri: string): Promise<bigint> {
  const h = create();
  try {
    await h.connectUri(uri);
    const buf = new Uint8Array(65536);
    await h.pread(buf, 1048576 - 65536);
    expectPattern(buf, 1048576 - 65536);
    const size = h.getSize();
    await h.shutdown();
    return size;
  } finally {
    h.close();
  }
}

/** How a raw WebSocket upgrade with this Origin ends: 'open' with the NBD greeting, an HTTP status, or 'dropped'. */
function upgrade(url: string, origin?: string, options: WebSocket.ClientOptions = {}): Promise<string> {
  return new Promise((done) => {
    const ws = new WebSocket(url, ['binary'], { ...options, ...(origin ? { origin } : {}) });
    ws.on('message', (d: Buffer) => {
      done(d.subarray(0, 8).toString() === 'NBDMAGIC' ? 'open' : 'open, but no NBD greeting');
      ws.terminate();
    });
    ws.on('unexpected-response', (_req, res) => {
      done(`HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on('error', () => done('dropped'));
    ws.on('close', () => done('dropped'));
  });
}

// ---- The command in a child process ----

interface Cli {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number | string>;
}

/** The command's exit status, or 'still running' after `ms`. */
async function exitWithin(c: Cli, ms = 10_000): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => (timer = setTimeout(() => r('still running'), ms)));
  return Promise.race([c.exit, late]).finally(() => clearTimeout(timer));
}

function cli(args: string[]): Cli {
  const runner = 'const { bridgeCommand } = await import(process.argv[1]); process.exitCode = await bridgeCommand(process.argv.slice(2));';
  const proc = spawn(process.execPath, ['--input-type=module', '-e', runner, join(root, 'build/bridge/bridge.js'), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Cli = { proc, stdout: '', stderr: '', exit: new Promise((r) => proc.once('exit', (code, sig) => r(code ?? sig!))) };
  proc.stdout!.on('data', (d: Buffer) => (c.stdout += d));
  proc.stderr!.on('data', (d: Buffer) => (c.stderr += d));
  clis.add(c);
  void c.exit.then(() => clis.delete(c));
  return c;
}

async function firstLine(c: Cli): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (!c.stdout.includes('\n')) {
    if (c.proc.exitCode !== null || Date.now() > deadline) throw new Error(`no URI; stderr: ${c.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return c.stdout.split('\n')[0]!;
}


async function startupError(args: string[]): Promise<string> {
  const c = cli(args);
  expect(await exitWithin(c)).toBe(1);
  expect(c.stdout).toBe('');
  expect(c.stderr).toMatch(/^webnbd bridge: [^\n]+\n$/);
  return c.stderr;
}

// ---- Tests ----

describe('bridge targets', () => {
  it('reads-through-unix-socket-target', async () => {
    const nbd = await startNbdkit(['pattern', '1M'], { unix: true });
    const b = await bridge({ target: { unix: nbd.socket! } });
    expect(b.uris).toEqual([`nbd+ws://127.0.0.1:${b.port}/?token=${b.token}`]);
    expect(b.token).toMatch(/^[\w-]{32}$/); // 192 random bits, base64url
    expect(await readThrough(b.uris[0]!)).toBe(1048576n);
  });

  it('reads-through-tcp-target', async () => {
    const nbd = await startNbdkit(['pattern', '1M']);
    const b = await bridge({ target: { host: '127.0.0.1', port: nbd.port! } });
    expect(await readThrough(b.uris[0]!)).toBe(1048576n);
  });

  it('reads-through-token-file-targets-unix-and-tcp', async () => {
    const unix = await startNbdkit(['pattern', '1M'], { unix: true });
    const tcp = await startNbdkit(['pattern', '2M']);
    const tokens = join(dir, 'tokens');
    writeFileSync(tokens, `# one line per target\nsock: unix_socket:${unix.socket}\ntcp one: 127.0.0.1:${tcp.port}\n`);
    const b = await bridge({ target: { tokenFile: tokens } });
    expect(b.uris).toEqual([`nbd+ws://127.0.0.1:${b.port}/?token=sock`, `nbd+ws://127.0.0.1:${b.port}/?token=tcp%20one`]);
    expect(await readThrough(b.uris[0]!)).toBe(1048576n);
    expect(await readThrough(b.uris[1]!)).toBe(2097152n);
  });

  it('wrong-or-missing-token-refused', async () => {
    const nbd = await startNbdkit(['pattern', '1M'], { unix: true });
    const tokens = join(dir, 'tokens-1');
    writeFileSync(tokens, `good: unix_socket:${nbd.socket}\n`);
    const b = await bridge({ target: { tokenFile: tokens } });
    const own = `http://127.0.0.1:${b.port}`;
    expect(await upgrade(`${b.url}?token=good`, own)).toBe('open');
    // The same answer for a wrong and a missing token.
    expect(await upgrade(`${b.url}?token=bad`, own)).toBe('HTTP 401');
    expect(await upgrade(b.url, own)).toBe('HTTP 401');
    const err = await create().connectUri(`nbd+ws://127.0.0.1:${b.port}/?token=bad`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NbdError);
    expect((err as NbdError).errno).toBeGreaterThan(0);
  });

  it('token-file-rejects-what-websockify-cannot-use', () => {
    const bad = join(dir, 'tokens-bad');
    writeFileSync(bad, 'x: unix_socket:/tmp/a:b.sock\n');
    expect(() => readTokens(bad)).toThrow(/cannot contain ':'/);
    writeFileSync(bad, 'x 127.0.0.1:10809\n');
    expect(() => readTokens(bad)).toThrow(/expected "token: host:port"/);
    writeFileSync(bad, '# nothing\n');
    expect(() => readTokens(bad)).toThrow(/no tokens/);
  });
});

describe('bridge origin allowlist', () => {
  it('foreign-or-missing-origin-refused-own-origin-admitted', async () => {
    const nbd = await startNbdkit(['pattern', '1M'], { unix: true });
    const b = await bridge({ target: { unix: nbd.socket! } });
    expect(b.origins).toContain(`http://127.0.0.1:${b.port}`);
    expect(await upgrade(`${b.url}?token=${b.token}`, `http://127.0.0.1:${b.port}`)).toBe('open');
    expect(await upgrade(`${b.url}?token=${b.token}`, `http://localhost:${b.port}`)).toBe('open');
    expect(await upgrade(`${b.url}?token=${b.token}`, 'http://evil.example')).toBe('HTTP 403');
    expect(await upgrade(`${b.url}?token=${b.token}`, `http://127.0.0.1:${b.port + 1}`)).toBe('HTTP 403');
    // A request without Origin is refused too, so webnbd's Node client sends the bridge's own.
    expect(await upgrade(`${b.url}?token=${b.token}`)).toBe('HTTP 403');
    // Without the token, the Origin is not even looked at.
    expect(await upgrade(b.url, `http://127.0.0.1:${b.port}`)).toBe('HTTP 401');
  });

  it('explicit-origins-replace-the-default', async () => {
    const nbd = await startNbdkit(['pattern', '1M'], { unix: true });
    const b = await bridge({ target: { unix: nbd.socket! }, origins: ['https://app.example/some/page', 'http://localhost:5173'] });
    expect(b.origins).toEqual(['https://app.example', 'http://localhost:5173']);
    expect(await upgrade(`${b.url}?token=${b.token}`, 'https://app.example')).toBe('open');
    expect(await upgrade(`${b.url}?token=${b.token}`, 'http://localhost:5173')).toBe('open');
    expect(await upgrade(`${b.url}?token=${b.token}`, `http://127.0.0.1:${b.port}`)).toBe('HTTP 403');
  });

  it('serves-a-web-directory', async () => {
    const nbd = await startNbdkit(['pattern', '1M'], { unix: true });
    const web = join(dir, 'web');
    mkdirSync(web);
    writeFileSync(join(web, 'index.html'), '<title>webnbd</title>');
    const b = await bridge({ target: { unix: nbd.socket! }, web });
    const res = await fetch(`http://127.0.0.1:${b.port}/index.html`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('<title>webnbd</title>');
    expect(await upgrade(`${b.url}?token=${b.token}`, `http://127.0.0.1:${b.port}`)).toBe('open');
  });
});

describe('bridge over TLS', () => {
  it('wss-works-and-plain-ws-is-refused', async () => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const nbd = await startNbdkit(['pattern', '1M'], { unix: true });
    const b = await bridge({ target: { unix: nbd.socket! }, cert, key });
    expect(b.uris).toEqual([`nbds+wss://127.0.0.1:${b.port}/?token=${b.token}`]);
    expect(b.origins).toContain(`https://127.0.0.1:${b.port}`);
    expect(await upgrade(`ws://127.0.0.1:${b.port}/`, `http://127.0.0.1:${b.port}`)).toBe('dropped');
    expect(await upgrade(`${b.url}?token=${b.token}`, `https://127.0.0.1:${b.port}`, { ca: readFileSync(cert) })).toBe('open');
    // Without trusting the certificate, the client refuses the bridge.
    await expect(create().connectUri(b.uris[0]!)).rejects.toBeInstanceOf(NbdError);
    // The Node client trusts it through NODE_EXTRA_CA_CERTS, read at startup: so in a child process.
    const script = `const { create } = await import(process.argv[1]); const h = create(); await h.connectUri(process.argv[2]);
      const buf = new Uint8Array(16); await h.pread(buf, 4096); await h.shutdown();
      console.log(String(h.getSize()), Buffer.from(buf).toString('hex'));`;
    // Asynchronously: the bridge runs in this process.
    const { stdout: out } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, join(root, 'build/web/node/index.js'), b.uris[0]!],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, encoding: 'utf8' });
    expect(out.trim()).toBe('1048576 00000000000010000000000000001008');
  });
});

describe('bridge with client certificates', () => {
  it('client-ca-admits-only-clients-with-a-certificate-it-signed', async () => {
    const f = (n: string) => join(dir, n);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=webnbd test CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/CN=client');
    ssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '1');
    // A certificate of the same name that the CA did not sign.
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('other.key'), '-out', f('other.pem'), '-days', '1', '-subj', '/CN=client');
    const nbd = await startNbdkit(['pattern', '1M'], { unix: true });
    const b = await bridge({ target: { unix: nbd.socket! }, cert: f('srv.pem'), key: f('srv.key'), clientCa: f('ca.pem') });
    const url = `${b.url}?token=${b.token}`;
    const origin = `https://127.0.0.1:${b.port}`;
    const ca = readFileSync(f('srv.pem'));
    expect(await upgrade(url, origin, { ca, cert: readFileSync(f('client.pem')), key: readFileSync(f('client.key')) })).toBe('open');
    expect(await upgrade(url, origin, { ca })).toBe('dropped');
    expect(await upgrade(url, origin, { ca, cert: readFileSync(f('other.pem')), key: readFileSync(f('other.key')) })).toBe('dropped');
  });
});

describe('bridge command lifecycle', () => {
  it('starts-its-server-and-sigint-leaves-no-processes', async () => {
    const c = cli(['--', 'nbdkit', 'pattern', '1M']);
    const uri = await firstLine(c);
    expect(uri).toMatch(/^nbd\+ws:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
    // A client stays connected across SIGINT.
    const h = create();
    await h.connectUri(uri);
    const buf = new Uint8Array(4096);
    await h.pread(buf, 8192);
    expectPattern(buf, 8192);
    const procs = descendants(c.proc.pid!);
    const nbdkit = procs.find((p) => p.cmd.startsWith('nbdkit -U '));
    expect(nbdkit, JSON.stringify(procs)).toBeDefined();
    const sockDir = nbdkit!.cmd.split(' ')[2]!.replace(/\/nbd\.sock$/, '');
    expect(existsSync(sockDir)).toBe(true);

    c.proc.kill('SIGINT');
    expect(await exitWithin(c)).toBe(0);
    h.close();
    expect(procs.filter((p) => isAlive(p.pid))).toEqual([]);
    expect(existsSync(sockDir)).toBe(false);
  });

  it.each(['SIGTERM', 'SIGHUP'] as const)('%s-stops-it-too', async (signal) => {
    const c = cli(['--', 'nbdkit', '-r', 'pattern', '1M']);
    await firstLine(c);
    const procs = descendants(c.proc.pid!);
    const nbdkit = procs.find((p) => p.cmd.startsWith('nbdkit -U '));
    expect(nbdkit, JSON.stringify(procs)).toBeDefined();
    const sockDir = nbdkit!.cmd.split(' ')[2]!.replace(/\/nbd\.sock$/, '');
    c.proc.kill(signal);
    expect(await exitWithin(c)).toBe(0);
    expect(procs.filter((p) => isAlive(p.pid))).toEqual([]);
    expect(existsSync(sockDir)).toBe(false);
  });

  it('socket-placeholder-for-other-servers', async () => {
    const disk = join(dir, 'disk.img');
    writeFileSync(disk, Buffer.alloc(65536, 0xab));
    const c = cli(['--', 'qemu-nbd', '-t', '-f', 'raw', '--socket={socket}', disk]);
    const uri = await firstLine(c);
    const h = create();
    await h.connectUri(uri);
    const buf = new Uint8Array(512);
    await h.pread(buf, 0);
    expect(buf.every((x) => x === 0xab)).toBe(true);
    await h.shutdown();
    c.proc.kill('SIGINT');
    expect(await exitWithin(c)).toBe(0);
  });

  it('restarts-its-server-when-it-dies-and-says-so', async () => {
    const c = cli(['--', 'nbdkit', 'pattern', '1M']);
    const uri = await firstLine(c);
    const nbdkit = descendants(c.proc.pid!).find((p) => p.cmd.startsWith('nbdkit'))!;
    process.kill(nbdkit.pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (!/restarted/.test(c.stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(c.stderr).toMatch(/webnbd bridge: nbdkit stopped \(killed by SIGKILL\); restarting it in 0\.5 s\nwebnbd bridge: nbdkit restarted \(pid \d+\)\n/);
    expect(await readThrough(uri)).toBe(1048576n);
    c.proc.kill('SIGTERM');
    expect(await exitWithin(c)).toBe(0);
  });

  it('startup-errors-are-one-line-and-exit-1', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    try {
      expect(await startupError(['--listen', `127.0.0.1:${port}`, '--unix-target', '/nonexistent'])).toMatch(/Address already in use/);
    } finally {
      busy.close();
    }
    expect(await startupError(['--unix-target', 'x', '--cert', join(dir, 'missing.pem')])).toMatch(/--cert .*missing\.pem: no such file/);
    // 192.0.2.1 is TEST-NET-1, never a local address.
    expect(await startupError(['--listen', '192.0.2.1:8080', '--origin', 'http://a', '--unix-target', 'x'])).toMatch(/Cannot assign requested address/);
    expect(await startupError([])).toMatch(/exactly one of/);
    expect(await startupError(['--unix-target', 'x', '--target', '127.0.0.1:10809'])).toMatch(/exactly one of/);
    expect(await startupError(['--bogus'])).toMatch(/Unknown option '--bogus'/);
    expect(await startupError(['--', 'nbdkit', 'no-such-plugin'])).toMatch(/nbdkit did not start/);
    expect(await startupError(['--', 'qemu-nbd', 'disk.img'])).toMatch(/put \{socket\} where qemu-nbd takes/);
    // A wildcard however it is spelled: decided by the address bound.
    for (const listen of ['0.0.0.0:0', '0:0', '0.0.0.00:0', '[::]:0', '[::0]:0', '[0:0::0]:0']) {
      expect(await startupError(['--listen', listen, '--unix-target', 'x']), listen).toMatch(/every address\).*give --origin/);
    }
  });
});

describe('bridge arguments', () => {
  it('parses-options', () => {
    expect(parseBridgeArgs(['--help'])).toBeNull();
    expect(parseBridgeArgs(['--target', '[::1]:10809', '--listen', '8080', '--origin', 'http://a', '--origin', 'http://b'])).toEqual({
      target: { host: '::1', port: 10809 }, listen: { port: 8080 }, origins: ['http://a', 'http://b'], verbose: false,
    });
    expect(parseBridgeArgs(['-v', '--listen', 'localhost:0', '--', 'nbdkit', '-r', 'memory', '1G'])).toEqual({
      target: { command: ['nbdkit', '-r', 'memory', '1G'] }, listen: { host: 'localhost', port: 0 }, verbose: true,
    });
    expect(parseBridgeArgs(['--unix-target', 's', '--token-file', 'f', '--idle-timeout', '60', '--max-unread', '4M', '--max-frame', '1M+32'],
      { WEBNBD_TOKEN: 'from-env' })).toEqual({
      target: { unix: 's' }, verbose: false, token: 'from-env', secretFile: 'f',
      limits: { idleMs: 60_000, unreadBytes: 4 << 20, maxPayload: (1 << 20) + 32 },
    });
    expect(parseBridgeArgs(['--token-file', 'f'])).toEqual({ target: { tokenFile: 'f' }, verbose: false });
    expect(() => parseBridgeArgs(['--unix-target', 's', '--max-connections', 'lots'])).toThrow(/--max-connections lots: not a number/);
    expect(() => parseBridgeArgs(['--target', '10809'])).toThrow(/expected HOST:PORT/);
    expect(() => parseBridgeArgs(['--unix-target', 's', '--listen', 'h:99999'])).toThrow(BridgeError);
  });
});
