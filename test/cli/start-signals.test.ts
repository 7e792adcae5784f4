// `npm start` (build/web/cli/start.js, as npm runs it with exec) stops everything it started, and
// removes the bridge's directory, on SIGTERM, SIGHUP and SIGINT, or when npm itself is gone; a busy
// port is an error that names it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';
import { descendants } from '../support/processes.js';

const root = resolve(import.meta.dirname, '../..');

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

function start(args: string[], via: 'node' | 'sh' = 'node') {
  const cmd = `node build/web/cli/start.js ${args.join(' ')}`;
  // As npm runs it: sh -c '… && exec node build/web/cli/start.js'.
  const child = via === 'sh' ? spawn('sh', ['-c', `true && exec ${cmd}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('node', ['build/web/cli/start.js', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b));
  child.stderr.on('data', (b: Buffer) => (out += b));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exit, out: () => out };
}

it.each(['SIGTERM', 'SIGHUP', 'SIGINT'] as const)('%s-stops-vite-the-bridge-and-nbdkit-and-removes-the-directory', async (signal) => {
  const s = start(['--port', '0', '--no-open'], 'sh');
  const deadline = Date.now() + 40_000;
  while (!/inspector at (http:\S+)/.test(s.out())) {
    if (Date.now() > deadline || s.child.exitCode !== null) throw new Error(`no URL printed:\n${s.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = /inspector at (http:\S+)/.exec(s.out())![1]!;
  expect((await fetch(url)).status).toBe(200);
  const procs = descendants(s.child.pid!);
  const nbdkit = procs.find((p) => p.cmd.startsWith('nbdkit -U '));
  expect(nbdkit, JSON.stringify(procs)).toBeDefined();
  const dir = nbdkit!.cmd.split(' ')[2]!.replace(/\/nbd\.sock$/, '');
  expect(existsSync(dir)).toBe(true);
  s.child.kill(signal);
  expect(await s.exit).toBe(0);
  expect(procs.filter((p) => alive(p.pid))).toEqual([]);
  expect(existsSync(dir)).toBe(false);
  await expect(fetch(url)).rejects.toThrow();
}, 60_000);

it('a-busy-port-is-an-error-naming-it', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as AddressInfo).port;
  try {
    const s = start(['--port', String(port), '--no-open']);
    expect(await s.exit).toBe(1);
    expect(s.out()).toBe(`webnbd: port ${port} is in use (another npm start?): stop it, or give --port N (0 picks a free one)\n`);
  } finally {
    busy.close();
  }
}, 30_000);
