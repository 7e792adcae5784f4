// `webnbd copy` against nbdcopy: the same export (nbdkit's pattern plugin, all data, nothing to
// skip), the same connection count (one), to null: and to a file, three times each taking turns (medians).
// The files are compared, untimed, so a fast wrong copy cannot pass.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNbdkit } from '../support/servers.js';
import { WEBNBD, median, mibps, run } from './tools.js';

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
    const theirs = join(dir, 'nbdcopy.img');
    const ours = join(dir, 'webnbd.img');
    // Three turns each, alternating who goes first; medians. Each file copy starts on a clean page
    // cache (the other's dirty pages written back, untimed), so neither pays for the other's writeback.
    const times: Record<'nbdcopyNull' | 'copyNull' | 'nbdcopyFile' | 'copyFile', number[]> = { nbdcopyNull: [], copyNull: [], nbdcopyFile: [], copyFile: [] };
    const toFile = async (cmd: string[], file: string) => {
      rmSync(file, { force: true });
      await run(['sync']);
      const ms = (await run([...cmd, file])).ms;
      await run(['sync']);
      return ms;
    };
    for (let turn = 0; turn < 3; turn++) {
      const theirsFirst = turn % 2 === 0;
      for (const who of theirsFirst ? ['nbdcopy', 'webnbd'] : ['webnbd', 'nbdcopy']) {
        if (who === 'nbdcopy') {
          times.nbdcopyNull.push((await run(['nbdcopy', '--connections=1', server.uri, 'null:'])).ms);
          times.nbdcopyFile.push(await toFile(['nbdcopy', '--connections=1', server.uri], theirs));
        } else {
          times.copyNull.push((await run([...WEBNBD, ...one, server.uri, 'null:'])).ms);
          times.copyFile.push(await toFile([...WEBNBD, ...one, server.uri], ours));
        }
      }
    }
    const [nbdcopyNull, copyNull, nbdcopyFile, copyFile] = [times.nbdcopyNull, times.copyNull, times.nbdcopyFile, times.copyFile].map(median) as [number, number, number, number];
    const identical = await run(['cmp', '-s', theirs, ours]).then(() => true, () => false);
    const all = (v: number[]) => v.map((ms) => ms.toFixed(0)).join(' ');
    log(`copy: nbdcopy ${all(times.nbdcopyNull)} ms, webnbd copy ${all(times.copyNull)} ms to null:; `
      + `nbdcopy ${all(times.nbdcopyFile)} ms, webnbd copy ${all(times.copyFile)} ms to a file${identical ? '' : ' (FILES DIFFER)'}`);
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
