// `webnbd inspect` as a user runs it: in its own process group, as a terminal's foreground job is
// (so Ctrl-C is a SIGINT to the group), its URL read from what it prints; and a page of the same
// origin that reads through the bridge it started.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Page } from 'playwright-core';
import { afterAll } from 'vitest';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Inspecting {
  /** The inspector's URL, with the bridge's URI in ?src=. */
  url: string;
  /** The bridge's URI. */
  uri: string;
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Signal its process group (the terminal's way); resolves to how it ended. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const c of running) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
});

/** Run `command args…` in `cwd` and wait until it prints the inspector's URL (or exits). */
export function startInspect(command: string, args: string[], cwd: string): Promise<Inspecting> {
  const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISPLAY: '', WAYLAND_DISPLAY: '' } });
  running.add(child);
  let out = '';
  const exited = new Promise<Exit>((r) => child.on('exit', (code, signal) => { running.delete(child); r({ code, signal }); }));
  child.stdout!.on('data', (b: Buffer) => (out += b));
  child.stderr!.on('data', (b: Buffer) => (out += b));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed in 30 s:\n${out}`)), 30_000);
    const look = () => {
      const m = /inspector at (http:\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', look);
      resolve({
        url: m[1]!,
        uri: new URL(m[1]!).searchParams.get('src')!,
        child,
        output: () => out,
        stop: (signal = 'SIGINT') => {
          if (child.exitCode === null) process.kill(-child.pid!, signal);
          return exited;
        },
      });
    };
    child.stdout!.on('data', look);
    void exited.then((how) => { clearTimeout(timer); reject(new Error(`exited (${how.signal ?? how.code}) before printing a URL:\n${out}`)); });
  });
}

/** On lab.html of the inspector's origin: read `length` bytes at 0 through `uri`, and the export's flags. */
export async function readThrough(page: Page, url: string, uri: string, length = 512): Promise<{ hex: string; readOnly: boolean; isolated: boolean }> {
  await page.goto(new URL('/lab.html', url).href);
  await page.waitForFunction(() => 'webnbd' in window);
  return page.evaluate(async ([u, n]) => {
    const h = window.webnbd.create();
    await h.connectUri(u);
    const b = window.webnbd.allocBuffer(n);
    await h.pread(b, 0);
    const readOnly = h.isReadOnly();
    await h.shutdown();
    return { hex: Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(''), readOnly, isolated: crossOriginIsolated };
  }, [uri, length] as const);
}
