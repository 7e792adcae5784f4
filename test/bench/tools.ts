// Timing whole commands (libnbd's tools, util-linux, xxd and the `webnbd` command itself): wall
// time from spawn to exit, with standard output sent to /dev/null (so no reader competes for the
// two cores) or, untimed, through a SHA-256 to compare outputs.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';

/** `node bin/webnbd.js`: what `npx webnbd` runs, without npx's own start-up. */
export const WEBNBD = [process.execPath, resolve(import.meta.dirname, '../../bin/webnbd.js')];

export interface Ran {
  ms: number;
  /** SHA-256 of standard output, when asked for. */
  sha256?: string;
  outBytes?: number;
}

/** Run `cmd`; fail with its standard error if it exits non-zero. */
export function run(cmd: string[], opts: { hash?: boolean; timeoutMs?: number } = {}): Promise<Ran> {
  const devnull = opts.hash ? -1 : openSync('/dev/null', 'w');
  const t0 = performance.now();
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', opts.hash ? 'pipe' : devnull, 'pipe'] });
  if (devnull >= 0) closeSync(devnull);
  const hash = opts.hash ? createHash('sha256') : null;
  let outBytes = 0;
  child.stdout?.on('data', (d: Buffer) => {
    hash!.update(d);
    outBytes += d.length;
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${cmd.join(' ')}: exit ${code ?? signal}\n${err}`));
      resolvePromise(hash ? { ms, sha256: hash.digest('hex'), outBytes } : { ms });
    });
  });
}

/** The output of a short command (a version string). */
export function capture(cmd: string[]): Promise<string> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => resolvePromise('unknown'));
    child.on('close', () => resolvePromise(out.trim()));
  });
}

/** The median of `n` timed runs of `cmd` (n odd keeps it a real run). */
export async function medianMs(cmd: string[], n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push((await run(cmd)).ms);
  return median(times);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** MiB/s for `bytes` in `ms`. */
export const mibps = (bytes: number, ms: number): number => bytes / (1 << 20) / (ms / 1000);
