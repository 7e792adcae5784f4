// `webnbd run-wasm` as a command: output streams while the program runs, stdin is read only when
// the program reads it, the exit status is the program's, and a compile error is emcc's.

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'webnbd-run-wasm-'));

function program(name: string, body: string): string {
  const file = join(dir, `${name}.c`);
  writeFileSync(file, `#include <stdio.h>\n#include <stdlib.h>\n#include <libnbd.h>\n${body}\n`);
  return file;
}

/** Start `webnbd run-wasm ARGS`; resolves with its exit status and all it printed. */
function start(args: string[]) {
  const child = spawn('node', ['bin/webnbd.js', 'run-wasm', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const seen: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const s of seen.splice(0)) (stdout.includes(s.text) ? s.resolve : () => seen.push(s))();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr })));
  const printed = (text: string) => new Promise<void>((resolve) => (stdout.includes(text) ? resolve() : seen.push({ text, resolve })));
  return { child, done, printed };
}

describe('webnbd run-wasm', () => {
  it('streams-output-and-reads-stdin-when-the-program-does', async () => {
    const src = program('echo', `int main (void) {
      char line[100];
      printf ("ready\\n");
      if (!fgets (line, sizeof line, stdin)) return 2;
      printf ("got %s", line);
      return 5;
    }`);
    const run = start([src]);
    // "ready" arrives while the program is still waiting for its input.
    await run.printed('ready\n');
    run.child.stdin.end('hello\n');
    const r = await run.done;
    expect(r).toEqual({ status: 5, stdout: 'ready\ngot hello\n', stderr: '' });
  }, 120_000);

  it('passes-arguments-and-exits-with-the-status', async () => {
    const src = program('args', 'int main (int argc, char **argv) { for (int i = 0; i < argc; i++) printf ("[%s]", argv[i]); printf ("\\n"); return argc; }');
    const run = start([src, 'a b', '-x', '']);
    run.child.stdin.end();
    expect(await run.done).toEqual({ status: 4, stdout: '[args][a b][-x][]\n', stderr: '' });
  }, 120_000);

  it('compile-errors-are-emccs', async () => {
    const src = program('broken', 'int main (void) { return nbd_no_such_call (); }');
    const run = start([src]);
    run.child.stdin.end();
    const r = await run.done;
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/nbd_no_such_call/);
    expect(r.stderr).toMatch(/webnbd: run-wasm: emcc failed on /);
  }, 120_000);
});
