// The table `npm run bench` prints and writes into docs/performance.md (between the markers below,
// nowhere else): every figure, then each target of issue #7 as a ratio within the run, met or missed.

import type { Results } from './harness.js';

interface Target {
  name: string;
  value: (r: Results) => number | null;
  goal: string;
  met: (v: number, r: Results) => boolean;
}

export const TARGETS: Target[] = [
  { name: 'browser_read / browser_ceiling', value: (r) => r.browser_read_mibps / r.browser_ceiling_mibps, goal: '≥ 0.95', met: (v) => v >= 0.95 },
  { name: 'node_tcp / native', value: (r) => r.node_tcp_mibps / r.native_mibps, goal: '≥ 0.8', met: (v) => v >= 0.8 },
  { name: 'dump / nbddump', value: (r) => r.dump_mibps / r.nbddump_mibps, goal: '≥ 20, same output', met: (v, r) => v >= 20 && r.dump_identical },
  { name: 'dump_C / xxd', value: (r) => r.dump_C_mibps / r.xxd_mibps, goal: '≥ 2', met: (v) => v >= 2 },
  { name: 'browser_p50 / echo_p50', value: (r) => r.browser_p50_us / r.echo_p50_us, goal: '≤ 1.2', met: (v) => v <= 1.2 },
  { name: 'browser_read / browser_ceiling_copy', value: (r) => r.browser_read_mibps / r.browser_ceiling_copy_mibps, goal: '≥ 0.97', met: (v) => v >= 0.97 },
  { name: 'heap_growth_mib', value: (r) => r.heap_growth_mib, goal: '≤ 16', met: (v) => v <= 16 },
  { name: 'browser_read_multiconn / browser_ceiling_4_sockets', value: (r) => (r.browser_read_multiconn_mibps === null || r.browser_ceiling_4_sockets_mibps === null ? null : r.browser_read_multiconn_mibps / r.browser_ceiling_4_sockets_mibps), goal: '≥ 0.9', met: (v) => v >= 0.9 },
  { name: 'wasm_pread / browser_seq_pread', value: (r) => r.wasm_pread_mibps / r.browser_seq_pread_mibps, goal: '≥ 0.8', met: (v) => v >= 0.8 },
  { name: 'first_sector_ms', value: (r) => r.first_sector_ms, goal: '≤ 100', met: (v) => v <= 100 },
  { name: 'copy / nbdcopy (null:)', value: (r) => r.copy_mibps / r.nbdcopy_mibps, goal: '≥ 0.9', met: (v) => v >= 0.9 },
  { name: 'copy_file / nbdcopy_file', value: (r) => r.copy_file_mibps / r.nbdcopy_file_mibps, goal: '≥ 0.9, same file', met: (v, r) => v >= 0.9 && r.copy_identical },
  {
    name: 'browser_download / browser_ceiling_4_sockets',
    value: (r) => (r.browser_ceiling_4_sockets_mibps ? r.browser_download_mibps / r.browser_ceiling_4_sockets_mibps : null),
    goal: '≥ 0.8', met: (v) => v >= 0.8,
  },
  { name: 'browser_download_memory_mib', value: (r) => r.browser_download_memory_mib, goal: '≤ 64', met: (v) => v <= 64 },
];

const FIGURES: [keyof Results, string][] = [
  ['browser_ceiling_mibps', 'bare WebSocket in a worker, flood through websockify'],
  ['browser_ceiling_copy_mibps', 'same, each message copied into a SharedArrayBuffer (not a target)'],
  ['browser_read_mibps', 'webnbd worker → SharedArrayBuffer, sequential'],
  ['browser_read_fallback_mibps', 'same, page not isolated (transferred buffers)'],
  ['browser_read_postmessage_mibps', 'isolated page, completions posted rather than through the ring'],
  ['browser_ceiling_4_sockets_mibps', 'four bare WebSockets at once (not a target)'],
  ['browser_ceiling_4_sockets_copy_mibps', 'same, each message copied into a SharedArrayBuffer (not a target)'],
  ['browser_read_multiconn_mibps', 'webnbd, four connections (can_multi_conn), the page\'s pool, a worker each'],
  ['native_mibps', 'nbdcopy --connections=1 URI null:'],
  ['node_tcp_mibps', 'webnbd in Node over TCP'],
  ['node_ws_mibps', 'webnbd in Node through websockify'],
  ['dump_mibps', 'webnbd dump'],
  ['nbddump_mibps', 'nbddump'],
  ['dump_C_mibps', 'webnbd dump -C'],
  ['hexdump_C_mibps', 'hexdump -C'],
  ['xxd_mibps', 'xxd'],
  ['copy_mibps', 'webnbd copy --connections=1 URI null: (whole command)'],
  ['nbdcopy_mibps', 'nbdcopy --connections=1 URI null:'],
  ['copy_file_mibps', 'webnbd copy --connections=1 URI FILE'],
  ['nbdcopy_file_mibps', 'nbdcopy --connections=1 URI FILE'],
  ['browser_p50_us', '512-byte pread from the page, median'],
  ['browser_p99_us', '512-byte pread from the page, 99th percentile'],
  ['echo_p50_us', 'bare WebSocket echo of 512 bytes, median'],
  ['browser_p50_postmessage_us', '512-byte pread, completions posted rather than through the ring, median'],
  ['echo_p50_postmessage_us', 'the echo taking turns with those, median'],
  ['first_sector_ms', 'inspector: connect to sector 0 on screen'],
  ['heap_growth_mib', 'worker JS heap growth over the browser passes'],
  ['wasm_pread_mibps', 'C program (wasm/bench/bench.c) in the browser: 64 KiB nbd_preads one at a time'],
  ['browser_seq_pread_mibps', 'the same loop in TypeScript through the page API'],
  ['wasm_asyncify_us', 'C: a failing nbd_pread (one Asyncify unwind and rewind, no I/O)'],
  ['wasm_call_us', 'C: nbd_get_size (one call into the runtime)'],
  ['browser_download_mibps', 'download() of a 1 GiB export to a file (OPFS), four connections'],
  ['browser_download_memory_mib', 'page and worker memory above their start during it'],
  ['browser_ceiling_4_sockets_file_mibps', 'four bare WebSockets written to an OPFS file as download() writes (not a target)'],
];

const fmt = (v: unknown): string =>
  typeof v !== 'number' ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);

/** Where the latest run's table goes in docs/performance.md; the bench replaces what lies between. */
export const SECTION_BEGIN = '<!-- bench: begin (written by npm run bench; edits here are overwritten) -->';
export const SECTION_END = '<!-- bench: end -->';

/** `doc` with the text between the markers replaced by `table`; throws when the markers are not there once each. */
export function replaceSection(doc: string, table: string, file = 'docs/performance.md'): string {
  const begin = doc.indexOf(SECTION_BEGIN);
  const end = doc.indexOf(SECTION_END);
  if (begin < 0 || end < begin || doc.indexOf(SECTION_BEGIN, begin + 1) >= 0 || doc.indexOf(SECTION_END, end + 1) >= 0) {
    throw new Error(`${file}: expected one "${SECTION_BEGIN}" line followed by one "${SECTION_END}" line`);
  }
  return `${doc.slice(0, begin + SECTION_BEGIN.length)}\n\n${table}\n\n${doc.slice(end)}`;
}

/** The results and targets as Markdown tables. */
export function report(r: Results): string {
  const lines = ['| figure | value | what |', '| --- | ---: | --- |'];
  for (const [k, what] of FIGURES) lines.push(`| ${k} | ${fmt(r[k])} | ${what} |`);
  if (r.first_sector_breakdown_ms) {
    const parts = Object.entries(r.first_sector_breakdown_ms).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
    lines.push(`| first_sector_breakdown_ms | | ${parts} |`);
  }
  lines.push(`| dump output identical | ${r.dump_identical ? 'yes' : 'NO'} | SHA-256 of nbddump's and webnbd dump's whole output |`);
  lines.push(`| copy output identical | ${r.copy_identical ? 'yes' : 'NO'} | cmp of nbdcopy's and webnbd copy's files |`);
  lines.push(`| dump -C output identical | ${r.dump_C_identical ? 'yes' : 'NO'} | hexdump -C and webnbd dump -C, first MiB |`);
  lines.push('', '| target | value | goal | |', '| --- | ---: | --- | --- |');
  for (const t of TARGETS) {
    const v = t.value(r);
    const ok = v !== null && Number.isFinite(v) && t.met(v, r);
    lines.push(`| ${t.name} | ${fmt(v)} | ${t.goal} | ${ok ? 'met' : 'missed'} |`);
  }
  lines.push('', `Machine: ${Object.entries(r.machine).map(([k, v]) => `${k} ${v}`).join('; ')}. Load average ${r.load[0].toFixed(2)} before, ${r.load[1].toFixed(2)} after.`);
  // The run itself keeps about two cores busy, so only the load before it says who else was there.
  if (r.load[0] > Number(r.machine.cores)) lines.push('WARNING: other work was running (load above the core count): these figures are not representative.');
  return lines.join('\n');
}
