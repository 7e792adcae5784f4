#!/usr/bin/env node
// The `webnbd` command: runs the compiled CLI (build/ comes from `tsc -b`, which `npm install` runs).
import('../build/web/cli/main.js').then(
  (m) => m.cli(),
  (e) => {
    if (e && e.code === 'ERR_MODULE_NOT_FOUND' && /build[\\/]web[\\/]cli[\\/]main\.js/.test(String(e.message))) {
      process.stderr.write("webnbd: not built yet: run 'npm install' (or 'npx tsc -b') in the webnbd directory\n");
    } else {
      process.stderr.write(`webnbd: cannot start: ${e && e.message ? e.message : e}\n`);
    }
    process.exit(1);
  },
);
