// Running `webnbd` (the built command, as `npx webnbd` runs it) and the tools it is compared with.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export const ROOT = join(import.meta.dirname, '../..');

export interface Run {
  stdout: string;
  stderr: string;
  status: number;
}

export interface RawRun extends Omit<Run, 'stdout'> {
  stdout: Buffer;
}

const status = (e: { code?: unknown } | null): number => (e ? (typeof e.code === 'number' ? e.code : -1) : 0);

/** Run a command to its end from the project root: its output as text and its exit status. */
export const run = (cmd: string, args: string[], cwd = ROOT): Promise<Run> => new Promise((resolve) => {
  execFile(cmd, args, { encoding: 'utf8', cwd, maxBuffer: 1 << 30 }, (e, stdout, stderr) => resolve({ stdout, stderr, status: status(e) }));
});

/** The same, with stdout as bytes (dumps need not be UTF-8). */
export const runRaw = (cmd: string, args: string[]): Promise<RawRun> => new Promise((resolve) => {
  execFile(cmd, args, { encoding: 'buffer', cwd: ROOT, maxBuffer: 1 << 30 }, (e, stdout, stderr) => {
    resolve({ stdout, stderr: stderr.toString(), status: status(e) });
  });
});

export const webnbd = (...args: string[]): Promise<Run> => run('node', ['bin/webnbd.js', ...args]);
export const webnbdRaw = (...args: string[]): Promise<RawRun> => runRaw('node', ['bin/webnbd.js', ...args]);

/** A temporary directory for this test file, removed when it ends; and a check that build/ exists. */
export function cliFixture(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `webnbd-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'build/web/cli/main.js'))) throw new Error('build/ is missing: run `npx tsc -b` first');
  });
  return dir;
}
