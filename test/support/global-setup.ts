// Before any suite: build the pages once (dist/), since browser tests load them as users would.
import { build } from 'vite';

export default async function setup(): Promise<void> {
  await build({ configFile: 'vite.config.ts', logLevel: 'warn' });
}
