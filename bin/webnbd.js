#!/usr/bin/env node
// The `webnbd` command: runs the compiled CLI. build/ comes from `tsc -b` in a checkout, and ships
// in the package (`npm pack` builds it).
import('../build/web/cli/main.js').then(
  (m) => m.cli(),
  (e) => {
    if (e && e.code === 'ERR_MODULE_NOT_FOUND' && /build[\\/]web[\\/]cli[\\/]main\.js/.test(String(e.message))) {
      process.stderr.write("webnbd: not built: run 'npx tsc -b' in the webnbd checkout (an installed copy ships built: reinstall it with 'npm install webnbd')\n");
    } else {
      process.stderr.write(`webnbd: cannot start: ${e && e.message ? e.message : e}\n`);
    }
    process.exit(1);
  },
);
