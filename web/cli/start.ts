// `npm start`: a read-only sample disk (nbdkit linuxdisk of examples/sample: GPT and ext2) behind
// `webnbd bridge`, and the pages served by Vite with COOP/COEP; prints the inspector's URL and
// stops everything it started on Ctrl-C (or SIGTERM, SIGHUP). `webnbd inspect` does the same for
// any disk, with the built pages.

import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BridgeError, startBridge, type Bridge } from '../../bridge/bridge.js';
import { openUrl, stopSignal } from './inspect.js';

const root = resolve(fileURLToPath(import.meta.url), '../../../..');

async function main(): Promise<number> {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      port: { type: 'string', default: '5173' },
      'bridge-port': { type: 'string', default: '0' },
      disk: { type: 'string', default: resolve(root, 'examples/sample') },
      open: { type: 'boolean', default: true },
    },
  });
  // Vite is a development dependency; load it only here.
  const { createServer } = await import('vite');
  const vite = await createServer({
    configFile: resolve(root, 'vite.config.ts'),
    server: { host: '127.0.0.1', port: Number(values.port), strictPort: false },
    logLevel: 'warn',
  });
  await vite.listen();
  const address = vite.httpServer?.address();
  const port = typeof address === 'object' && address ? address.port : Number(values.port);
  const origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  let bridge: Bridge;
  try {
    bridge = await startBridge({
      target: { command: ['nbdkit', '-r', 'linuxdisk', values.disk!, 'label=webnbd-sample'] },
      listen: { host: '127.0.0.1', port: Number(values['bridge-port']) },
      origins,
      log: (from, text) => { if (from === 'server') process.stderr.write(text); },
    });
  } catch (e) {
    await vite.close();
    throw e;
  }
  const uri = bridge.uris[0]!;
  const url = `http://127.0.0.1:${port}/?src=${encodeURIComponent(uri)}`;
  process.stdout.write(`webnbd: sample disk ${values.disk} at ${uri}\nwebnbd: inspector at ${url}\nwebnbd: press Ctrl-C to stop\n`);
  if (values.open) openUrl(url);
  const stop = async (): Promise<void> => {
    await Promise.allSettled([bridge.close(), vite.close()]);
  };
  return new Promise<number>((done) => {
    void stopSignal().signalled.then(() => stop()).then(() => done(0));
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
