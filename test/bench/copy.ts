// `webnbd copy` against nbdcopy: the same export (nbdkit's pattern plugin, all data, nothing to
// skip), the same connection count (one), to null: and to a file, each run once and taking turns.
// The files are compared, untimed, so a fast wrong copy cannot pass.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNbdkit } from '../support/servers.js';
import { WEBNBD, mibps, run } from './tools.js';

export interface CopyResults {
  /** webnbd copy --connections=1 URI null: */
  copy_mibps: number;
  /** nbdcopy --connections=1 URI null: */
  nbdcopy_mibps: number;
  /** webnbd copy --connections=1 URI FILE */
  copy_file_mibps: number;
  /** nbdcopy --connections=1 URI FILE */
  nbdcopy_file_mibps: number;
  /** The two files are the same (cmp). */
  copy_identical: boolean;
}

export async function copyPhase(bytes: number, log: (line: string) => void): Promise<CopyResults> {
  const server = await startNbdkit(['pattern', String(bytes)]);
  const dir = mkdtempSync(join(tmpdir(), 'webnbd-bench-copy-'));
  try {
    const one = ['copy', '--connections=1'];
    const nbdcopyNull = (await run(['nbdcopy', '--connections=1', server.uri, 'null:'])).ms;
    const copyNull = (await run([...WEBNBD, ...one, server.uri, 'null:'])).ms;
    const theirs = join(dir, 'nbdcopy.img');
    const ours = join(dir, 'webnbd.img');
    const nbdcopyFile = (await run(['nbdcopy', '--connections=1', server.uri, theirs])).ms;
    const copyFile = (await run([...WEBNBD, ...one, server.uri, ours])).ms;
    const identical = await run(['cmp', '-s', theirs, ours]).then(() => true, () => false);
    log(`copy: nbdcopy ${nbdcopyNull.toFixed(0)} ms, webnbd copy ${copyNull.toFixed(0)} ms to null:; `
      + `nbdcopy ${nbdcopyFile.toFixed(0)} ms, webnbd copy ${copyFile.toFixed(0)} ms to a file${identical ? '' : ' (FILES DIFFER)'}`);
    return {
      copy_mibps: mibps(bytes, copyNull),
      nbdcopy_mibps: mibps(bytes, nbdcopyNull),
      copy_file_mibps: mibps(bytes, copyFile),
      nbdcopy_file_mibps: mibps(bytes, nbdcopyFile),
      copy_identical: identical,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  }
}
