// For the emscripten port's tests: the same C source built natively (gcc and Debian's libnbd)
// and for the browser (webnbd's cc, cached), both run against one nbdkit on a Unix socket, the
// browser through websockify --unix-target, so their outputs can be compared byte for byte.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { compile } from '../../web/cli/cc.js';
import { runInBrowser } from '../../web/cli/run-wasm.js';
import { launch } from './browser.js';
import { startNbdkit, startWebsockify } from './servers.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'webnbd-wasm-test-'));

export interface Ran {
  stdout: string;
  stderr: string;
  status: number;
  message?: string;
}

/** gcc -O2 [EXTRA] SOURCE $(pkg-config --cflags --libs libnbd) */
export async function buildNative(source: string, extra: string[] = []): Promise<string> {
  const out = join(dir, basename(source).replace(/\.c$/, ''));
  const flags = (await exec('pkg-config', ['--cflags', '--libs', 'libnbd'])).stdout.trim().split(/\s+/);
  await exec('gcc', ['-O2', ...extra, '-o', out, source, ...flags]);
  return out;
}

/** The program for the browser: its .js (compiled once per content, then cached). */
export async function buildWasm(source: string, extra: string[] = []): Promise<string> {
  return (await compile(source, extra)).js;
}

/** Run natively with line-buffered stdout (`stdbuf -oL`), as the comparison assumes. */
export function runNative(bin: string, args: string[], stdin = ''): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('stdbuf', ['-oL', bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    child.on('error', reject);
    // Killed by a signal: 128 + its number, as a shell shows it (SIGABRT 134, SIGALRM 142).
    child.on('close', (code, signal) => resolve({ stdout, stderr, status: code ?? 128 + (signal ? constants.signals[signal] : 0) }));
    child.stdin.end(stdin);
  });
}

/** Run in a Web Worker in the test file's Chromium. */
export async function runWasm(js: string, name: string, args: string[], stdin = '', env: Record<string, string> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  let fed = false;
  const exit = await runInBrowser(js, name, {
    args, env,
    stdout: (b) => void (stdout += b.toString('latin1')),
    stderr: (b) => void (stderr += b.toString('latin1')),
    stdin: async () => {
      if (fed) return null;
      fed = true;
      return stdin;
    },
  }, await launch());
  return { stdout, stderr, status: exit.status, ...(exit.message ? { message: exit.message } : {}) };
}

/** nbdkit on a Unix socket, and a websockify bridge to it: the native and the browser address. */
export async function serveUnix(args: string[]): Promise<{ socket: string; url: string }> {
  const nbd = await startNbdkit(args, { unix: true });
  const ws = await startWebsockify({ socket: nbd.socket! });
  return { socket: nbd.socket!, url: ws.url };
}

/** Lines that print the socket (natively) or the bridge's URL (in the browser) may differ in that only. */
export const normalise = (text: string, address: string): string => text.split(address).join('SOCKET');
