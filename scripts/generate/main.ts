// `npm run generate`: writes every derived file from its source (outputs.ts lists them), as
// libnbd's generator.ml does. Files already current are left untouched.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KERNEL_OUTPUT, KERNEL_SOURCE, kernelInputs, readKernelModule } from './kernel.js';
import { OUTPUTS, repoRoot } from './outputs.js';

const root = repoRoot();
const current = (path: string) => { try { return readFileSync(join(root, path), 'utf8'); } catch { return null; } };
let failed = false;

for (const o of OUTPUTS) {
  let text: string;
  try {
    text = o.make(root);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // Without emcc the kernel may still be current: kernel-wasm.ts records what it was built from.
    if (o.emcc && err.code === 'ENOENT' && o.path === KERNEL_OUTPUT
      && readKernelModule(current(o.path) ?? '')?.inputs === kernelInputs(current(KERNEL_SOURCE) ?? '')) {
      console.error(`generate: ${o.path}: emcc not found; it is current with ${KERNEL_SOURCE}, left as it is`);
      continue;
    }
    console.error(`generate: ${o.path}: ${err.code === 'ENOENT' && o.emcc ? 'emcc not found (Debian\'s emscripten: node scripts/setup.js installs it)' : err.message}`);
    failed = true;
    continue;
  }
  if (current(o.path) === text) continue;
  mkdirSync(dirname(join(root, o.path)), { recursive: true });
  writeFileSync(join(root, o.path), text);
  console.error(`generate: wrote ${o.path} (from ${o.from})`);
}
process.exitCode = failed ? 1 : 0;
