// `npm start`: a read-only sample disk (nbdkit linuxdisk of examples/sample: GPT and ext2) behind
// `webnbd bridge`, and the pages served by Vite with COOP/COEP; prints the inspector's URL and
// stops everything it started on Ctrl-C (or SIGTERM, SIGHUP, or when npm, its parent, is gone).
// A busy port is an error that names it. `webnbd inspect` does the same for any disk, with the
// built pages.

import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BridgeError, startBridge, type Bridge } from '../../bridge/bridge.js';
import { openUrl, stopSignal } from './inspect.js';

const root = resolve(fileURLToPath(import.meta.url), '../../../..');

/** Settles when npm (or whoever started us) is gone without passing a signal on (npm forwards only SIGINT and SIGTERM). */
function orphaned(): Promise<void> {
  const parent = process.ppid;
  return new Promise((r) => {
    const timer = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(timer);
        r();
      }
    }, 500);
    timer.unref();
  });
}

async function main(): Promise<number> {
  // From the start: a signal during start-up stops what has started so far.
  const signal = stopSignal();
  let stopping = false;
  void Promise.race([signal.signalled, orphaned()]).then(() => (stopping = true));
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      port: { type: 'string', default: '5173' },
      'bridge-port': { type: 'string', default: '0' },
      disk: { type: 'string', default: resolve(root, 'examples/sample') },
      open: { type: 'boolean', default: true },
    },
  });
  // Vite is a development dependency; load it only here. It exits on SIGTERM (and at the end of
  // stdin) once it has closed itself, which would leave the bridge and nbdkit running: its
  // listeners go, and ours stop everything.
  const { createServer } = await import('vite');
  const theirs = () => [...process.listeners('SIGTERM').map((l) => ['SIGTERM', l] as const), ...process.stdin.listeners('end').map((l) => ['end', l] as const)];
  const before = new Set(theirs().map(([, l]) => l));
  const vite = await createServer({
    configFile: resolve(root, 'vite.config.ts'),
    server: { host: '127.0.0.1', port: Number(values.port), strictPort: true },
    logLevel: 'warn',
  });
  try {
    await vite.listen();
  } catch (e) {
    await vite.close();
    if (/already in use/i.test(String((e as Error).message))) throw new Error(`port ${values.port} is in use (another npm start?): stop it, or give --port N (0 picks a free one)`);
    throw e;
  }
  for (const [event, l] of theirs()) {
    if (before.has(l)) continue;
    if (event === 'SIGTERM') process.off('SIGTERM', l as () => void);
    else process.stdin.off('end', l as () => void);
  }
  const address = vite.httpServer?.address();
  const port = typeof address === 'object' && address ? address.port : Number(values.port);
  const origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  let bridge: Bridge;
  try {
    bridge = await startBridge({
      target: { command: ['nbdkit', '-r', 'linuxdisk', values.disk!, 'label=webnbd-sample'] },
      listen: { host: '127.0.0.1', port: Number(values['bridge-port']) },
      origins,
      // The server's output, and the bridge's lines on limits and restarts (not each admitted client).
      log: (from, text) => { if (from === 'server' || !/: admitted$/m.test(text)) process.stderr.write(text); },
    });
  } catch (e) {
    await vite.close();
    throw e;
  }
  if (stopping) {
    await Promise.allSettled([bridge.close(), vite.close()]);
    return 0;
  }
  const uri = bridge.uris[0]!;
  const url = `http://127.0.0.1:${port}/?src=${encodeURIComponent(uri)}`;
  process.stdout.write(`webnbd: sample disk ${values.disk} at ${uri}\nwebnbd: inspector at ${url}\nwebnbd: press Ctrl-C to stop\n`);
  if (values.open) openUrl(url);
  const stop = async (): Promise<void> => {
    await Promise.allSettled([bridge.close(), vite.close()]);
  };
  return new Promise<number>((done) => {
    void Promise.race([signal.signalled, orphaned()]).then(() => stop()).then(() => done(0));
    void bridge.exited.then((why) => {
      if (why === null) return;
      process.stderr.write(`webnbd: ${why}\n`);
      void stop().then(() => done(1));
    });
  });
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`webnbd: ${e instanceof BridgeError || e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
