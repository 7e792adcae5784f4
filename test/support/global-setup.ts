// Before any suite: build the pages once (dist/, and dist/vendor/ for plain pages), since browser
// tests load them as users would.
// Every temporary file of the run (the suites', and those of the servers and browsers they start)
// goes under one directory, made here and removed when the run ends, whatever the suites left.
// Each project of vite.config.ts inherits this setup; only the first to run it does the work.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';

const RUN_DIR = 'WEBNBD_TEST_RUN_DIR';

export default async function setup(): Promise<(() => void) | undefined> {
  if (process.env[RUN_DIR]) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'webnbd-test-run-'));
  // As /tmp is: servers that tests run as another user (nginx) must reach their own folders here.
  chmodSync(dir, 0o1777);
  process.env[RUN_DIR] = dir;
  process.env.TMPDIR = dir;
  await build({ configFile: 'vite.config.ts', logLevel: 'warn' });
  await build({ configFile: 'vite.vendor.config.ts' });
  return () => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}
