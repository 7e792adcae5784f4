// libnbd's man page examples (aio-connect-read, from nbd_aio_pread(3), is where webnbd began),
// compiled unchanged with emscripten against
// webnbd's port and run in a Web Worker in Chromium, print what they print built natively with
// gcc against Debian's libnbd: the same server, reached through a websockify bridge.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildNative, buildWasm, normalise, runNative, runWasm, serveUnix } from '../support/wasm.js';

const EXAMPLES = [
  { name: 'get-size', page: 'nbd_get_size', server: ['memory', '1M'] },
  { name: 'fetch-first-sector', page: 'nbd_pread', server: ['pattern', 'size=1M'] },
  { name: 'server-flags', page: 'nbd_is_read_only', server: ['memory', '1M'] },
  { name: 'reads-and-writes', page: 'nbd_pwrite', server: ['memory', '1M'] },
  {
    name: 'list-exports', page: 'nbd_opt_list', stdin: '1\n',
    server: ['--filter=exportname', 'memory', '1M', 'exportname-list=explicit', 'exportname=foo', 'exportname=foobar', 'exportdesc=fixed:a RAM disk'],
  },
] as const;

const source = (name: string) => `wasm/examples/${name}.c`;

/** nbd_aio_pread(3)'s example: many reads in flight, each sector piped into `hexdump -C`. */
const SEED = source('aio-connect-read');

/** The EXAMPLE section of an installed man page, as the C file it shows. */
function manExample(page: string): string {
  const text = execFileSync('man', [page], { env: { ...process.env, LC_ALL: 'C', MANWIDTH: '1000', MAN_KEEP_FORMATTING: '' }, encoding: 'utf8' });
  const section = text.split(/^EXAMPLE\n/m)[1]!.split(/^SEE ALSO\n/m)[0]!;
  const code = section.split('\n\n').slice(1).join('\n\n'); // after "This example is also available as …"
  return `${code.split('\n').map((l) => l.replace(/^ {8}/, '')).join('\n').replace(/\n+$/, '')}\n`;
}

const builds = new Map<string, Promise<[string, string]>>();
const build = (src: string) => {
  if (!builds.has(src)) builds.set(src, Promise.all([buildNative(src), buildWasm(src)]));
  return builds.get(src)!;
};

beforeAll(async () => {
  // Every example once per run, all at once: emcc is most of this file's time.
  await Promise.all([...EXAMPLES.map((e) => build(source(e.name))), build(SEED)]);
}, 300_000);

describe('man page examples', () => {
  for (const e of EXAMPLES) {
    it(`${e.name}-equals-man-${e.page}`, () => {
      expect(readFileSync(source(e.name), 'utf8')).toBe(manExample(e.page));
    });

    it(`${e.name}-prints-what-it-prints-natively`, async () => {
      const [native, js] = await build(source(e.name));
      const { socket, url } = await serveUnix([...e.server]);
      const stdin = 'stdin' in e ? e.stdin : '';
      const want = await runNative(native, [socket], stdin);
      const got = await runWasm(js, e.name, [url], stdin);
      expect(want.status, want.stderr).toBe(0);
      expect({ status: got.status, stderr: got.stderr, message: got.message }).toEqual({ status: 0, stderr: '', message: undefined });
      expect(normalise(got.stdout, url)).toBe(normalise(want.stdout, socket));
    });
  }
});

describe('nbd_aio_pread(3) example', () => {
  it('aio-connect-read-equals-man-nbd_aio_pread', () => {
    expect(readFileSync(SEED, 'utf8')).toBe(manExample('nbd_aio_pread'));
  });

  for (const plugin of [['pattern', 'size=1M'], ['sparse-random', 'size=1M', 'seed=3', 'percent=50']]) {
    it(`aio-connect-read-${plugin[0]}-byte-for-byte`, async () => {
      const [native, js] = await build(SEED);
      const { socket, url } = await serveUnix(['-t', '1', ...plugin]);
      const want = await runNative(native, [socket]);
      const got = await runWasm(js, 'aio-connect-read', [url]);
      expect(got.status).toBe(0);
      expect(got.stdout).toBe(want.stdout);
    });
  }
});
