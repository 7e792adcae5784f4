// The package as a user gets it: `npm pack`, installed offline (from npm's cache, which
// scripts/setup.js primes) into a new project, then used the ways the README shows, with the
// README's own import lines and HTML snippet: a Node script reading from nbdkit, type-checked
// against the shipped declarations; a Vite app and a plain page showing sector 0 in Chromium,
// isolated and not (and the modules unbundled, and the plain page's file from another origin);
// `npx webnbd info`, `inspect` and `run-wasm` (without its optional peer) from the project.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, serveDist, type Site } from '../support/browser.js';
import { ROOT, cliFixture, run } from '../support/cli.js';
import { hexdump, serve, type Served } from '../support/inspector-fixtures.js';
import { readThrough, startInspect } from '../support/inspect.js';
import { startNbdkit, type NbdServer } from '../support/servers.js';
import { random } from '../support/data.js';

const work = cliFixture('package');
const app = join(work, 'app');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const TSC = join(ROOT, 'node_modules/.bin/tsc');

/** The README's import statements of webnbd modules (commented-out ones too), by module. */
function readmeImports(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const m of README.matchAll(/^\s*(?:\/\/\s*)?(import\s+(?:[^;'`]*?\s+from\s+)?'(webnbd(?:\/[^']*)?)';)/gm)) {
    found.set(m[2]!, [...(found.get(m[2]!) ?? []), m[1]!]);
  }
  return found;
}

/** The README's HTML snippet for plain pages: the one that loads /vendor/nbd-hexdump.js. */
function readmeSnippet(): string {
  const blocks = [...README.matchAll(/^( *)```html\n([\s\S]*?)^\1```$/gm)].map((m) => m[2]!.replace(new RegExp(`^${m[1]}`, 'gm'), ''));
  const snippet = blocks.find((b) => b.includes('/vendor/nbd-hexdump.js'));
  if (!snippet) throw new Error('README.md has no ```html snippet loading /vendor/nbd-hexdump.js');
  return snippet;
}

/** The one statement importing `module` that names `what` (or the first, without `what`). */
function statement(imports: Map<string, string[]>, module: string, what?: string): string {
  const s = (imports.get(module) ?? []).find((i) => what === undefined || new RegExp(`\\b${what}\\b`).test(i));
  if (!s) throw new Error(`README.md shows no import of ${what ?? 'anything'} from '${module}'`);
  return s;
}

const disk = join(work, 'disk.img');
const bytes = random(1 << 20, 12);
bytes.set([0x55, 0xaa], 510);
writeFileSync(disk, bytes);
const sector0 = Buffer.from(bytes.subarray(0, 512)).toString('hex');

let tgz: string;
let files: string[] = [];
let nbd: NbdServer;

beforeAll(async () => {
  // What `npm pack` packs is what prepack builds; `npm test` has built it already (tsc -b, then
  // the pages in the global set-up), and rebuilding dist/ here would pull it from under the
  // browser suites running beside this one.
  execFileSync(TSC, ['-b'], { cwd: ROOT });
  for (const f of ['dist/index.html', 'dist/vendor/nbd-hexdump.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\``);
  }
  const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' })) as
    { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const p = packed[0]!;
  tgz = join(work, p.filename);
  files = p.files.map((f) => f.path);
  console.log(`webnbd package: ${p.filename}, ${files.length} files, ${(p.size / 1024).toFixed(0)} KiB packed, ${(p.unpackedSize / 1024).toFixed(0)} KiB unpacked`);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const install = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tgz], app);
  if (install.status !== 0) {
    const hint = /ENOTCACHED/.test(install.stderr) ? ' (npm\'s cache lacks a dependency: run `node scripts/setup.js` online, or `npm cache add ws@RANGE`)' : '';
    throw new Error(`npm install --offline of the tarball failed${hint}:\n${install.stderr}`);
  }
  nbd = await startNbdkit(['-r', 'file', disk]);
}, 120_000);

it('the tarball holds compiled modules, declarations, source maps, the manifest and the built pages, and no tests', () => {
  expect(files.filter((f) => f.startsWith('test/') || f.includes('/test/'))).toEqual([]);
  expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  expect(files.filter((f) => f.endsWith('.tsbuildinfo'))).toEqual([]);
  for (const f of ['build/web/node/index.js', 'build/web/node/index.d.ts', 'build/web/node/index.js.map',
    'build/web/browser/index.js', 'build/web/browser/index.d.ts', 'build/web/browser/worker.js',
    'build/web/components/nbd-hexdump-define.js', 'build/web/components/nbd-hexdump-define.d.ts',
    'build/web/cli/main.js', 'bin/webnbd.js', 'custom-elements.json', 'dist/index.html', 'dist/embed.html',
    'dist/vendor/nbd-hexdump.js', 'wasm/include/libnbd.h', 'build/wasm/runtime/run.js']) {
    expect(files).toContain(f);
  }
  const pkg = JSON.parse(readFileSync(join(app, 'node_modules/webnbd/package.json'), 'utf8')) as { scripts?: Record<string, string>; customElements?: string };
  expect(Object.keys(pkg.scripts ?? {}).filter((s) => /^(pre|post)?install$|^prepare$/.test(s))).toEqual([]);
  expect(existsSync(join(app, 'node_modules/webnbd', pkg.customElements!))).toBe(true);
});

it('every webnbd module the README imports resolves in the installed package', async () => {
  const imports = readmeImports();
  expect([...imports.keys()].sort()).toEqual(['webnbd', 'webnbd/browser', 'webnbd/nbd-hexdump', 'webnbd/nbd-hexdump-element']);
  const script = [...imports.keys()].map((m) => `console.log(import.meta.resolve(${JSON.stringify(m)}));`).join('\n');
  const r = await run('node', ['--input-type=module', '-e', script], app);
  expect(r.stderr).toBe('');
  for (const url of r.stdout.trim().split('\n')) {
    expect(url).toMatch(/^file:.*\/node_modules\/webnbd\/build\/web\/.*\.js$/);
    expect(existsSync(new URL(url))).toBe(true);
  }
});

it('a Node script with the README\'s import reads sector 0 from nbdkit, type-checked under strict against the shipped declarations', async () => {
  const dir = join(app, 'node-script');
  mkdirSync(dir);
  writeFileSync(join(dir, 'read.ts'), `${statement(readmeImports(), 'webnbd', 'create')}

const h = create();
await h.connectUri(process.argv[2]!);
const sector = new Uint8Array(512);
await h.pread(sector, 0);
const size: bigint = h.getSize();
console.log(JSON.stringify({ size: String(size), sector: Buffer.from(sector).toString('hex') }));
await h.shutdown();

// The declarations are real, not \`any\`: these must be type errors.
export function wrong(): void {
  // @ts-expect-error: pread takes a buffer
  void h.pread('not a buffer', 0);
  // @ts-expect-error: getSize() is a bigint
  const n: string = h.getSize();
  void n;
}
`);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out', skipLibCheck: false,
      noEmitOnError: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')],
    },
    files: ['read.ts'],
  }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  // Every other README import of 'webnbd' names what the declarations export.
  const others = (readmeImports().get('webnbd') ?? []).map((line, n) => {
    writeFileSync(join(dir, `readme-${n}.ts`), `${line}\nexport {};\n`);
    return `readme-${n}.ts`;
  });
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8')), files: ['read.ts', ...others] }));
  const tsc = await run(TSC, ['-p', dir], dir);
  expect(tsc.stdout + tsc.stderr).toBe('');
  const r = await run('node', [join(dir, 'out/read.js'), nbd.uri], dir);
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual({ size: String(bytes.length), sector: sector0 });
});

it('the shipped declarations type a page that imports webnbd/browser, webnbd/nbd-hexdump and the element class as the README does', async () => {
  const imports = readmeImports();
  const dir = join(app, 'page-types');
  mkdirSync(dir);
  writeFileSync(join(dir, 'page.ts'), `${statement(imports, 'webnbd/browser', 'allocBuffer')}
${statement(imports, 'webnbd/nbd-hexdump')}
${statement(imports, 'webnbd/nbd-hexdump-element', 'NbdHexdumpElement')}

const h = create();
const buffer: Uint8Array = allocBuffer(512);
export const read: Promise<void> = h.pread(buffer, 0);
// <nbd-hexdump> is in HTMLElementTagNameMap: querySelector gives the class.
const el = document.querySelector('nbd-hexdump');
export const offset: bigint | undefined = el?.offset;
export const defined: boolean = el instanceof NbdHexdumpElement;
// @ts-expect-error: offset is a bigint
export const wrong: string | undefined = el?.offset;
`);
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom', 'dom.iterable'],
      types: [], noEmit: true, skipLibCheck: false,
    },
    files: ['page.ts', ...(imports.get('webnbd/browser') ?? []).map((line, n) => {
      writeFileSync(join(dir, `readme-${n}.ts`), `${line}\nexport {};\n`);
      return `readme-${n}.ts`;
    })],
  }));
  const tsc = await run(TSC, ['-p', dir], dir);
  expect(tsc.stdout + tsc.stderr).toBe('');
});

it('npx webnbd info, run in the consumer project, prints what nbdinfo prints', async () => {
  const [got, want] = await Promise.all([run('npx', ['--offline', 'webnbd', 'info', nbd.uri], app), run('nbdinfo', ['--no-content', nbd.uri])]);
  expect(got.stderr).toBe('');
  expect(want.status).toBe(0);
  expect(got).toEqual({ stdout: want.stdout, stderr: '', status: 0 });
});

it('npx webnbd run-wasm says it needs playwright-core, an optional peer dependency the install left out', async () => {
  expect(existsSync(join(app, 'node_modules/playwright-core'))).toBe(false);
  const r = await run('npx', ['--offline', 'webnbd', 'run-wasm', 'prog.c'], app);
  expect(r).toEqual({ stdout: '', stderr: "webnbd: run-wasm: needs playwright-core to drive Chromium: run 'npm install playwright-core'\n", status: 1 });
});

it('npx webnbd inspect, run in the consumer project, shows the disk read-only from its built pages, also framed by other sites; Ctrl-C stops everything', async () => {
  copyFileSync(disk, join(app, 'disk.img'));
  const inspecting = await startInspect('npx', ['--offline', 'webnbd', 'inspect', 'disk.img'], app);
  const page = await (await launch()).newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(inspecting.url);
  await page.waitForFunction(() => document.querySelector('nbd-hexdump')?.dataset['state'] === 'loaded', null, { timeout: 20_000 });
  const shown = await page.evaluate(() => document.querySelector('nbd-hexdump')!.text);
  expect(shown).toMatch(/^000001f0  .*55 aa  \|.*\|$/m);
  const r = await readThrough(page, inspecting.url, inspecting.uri);
  expect(r).toEqual({ hex: sector0, readOnly: true, isolated: true });
  await page.close();
  // The third way to embed: another site's page, isolated or not, framing the pages it serves.
  for (const isolated of [true, false]) {
    const dir = join(work, `framing-${isolated}`);
    mkdirSync(dir);
    const embed = `${new URL(inspecting.url).origin}/embed.html?src=${encodeURIComponent(inspecting.uri)}&offset=446&length=66`;
    writeFileSync(join(dir, 'index.html'), `<!doctype html>\n<iframe src="${embed}" width="800" height="300"></iframe>\n`);
    const site = await serveDist(isolated, dir);
    const framing = await (await launch()).newPage();
    await framing.goto(`${site.origin}/index.html`);
    const frame = framing.frames().find((f) => f.url().includes('/embed.html'))!;
    await frame.waitForFunction(() => document.querySelector('nbd-hexdump')?.dataset['state'] === 'loaded', null, { timeout: 20_000 });
    expect(await frame.evaluate(() => document.querySelector('nbd-hexdump')!.text)).toBe(hexdump(join(app, 'disk.img'), 446, 66));
    await framing.close();
    await site.close();
  }
  const pgrep = (pattern: string) => { try { return execFileSync('pgrep', ['-f', '--', pattern]).toString(); } catch { return ''; } };
  // nbdkit serving the disk, and webnbd itself (whose bridge runs in the same process).
  const left = () => [`file ${join(app, 'disk.img')}`, 'webnbd inspect disk.img'].map(pgrep).join('');
  expect(pgrep(`file ${join(app, 'disk.img')}`)).not.toBe('');
  expect(pgrep('webnbd inspect disk.img')).not.toBe('');
  // npx (npm) ends by the signal, after webnbd has stopped what it started and exited.
  expect(await inspecting.stop('SIGINT')).toEqual({ code: null, signal: 'SIGINT' });
  expect(left()).toBe('');
});

describe('in Chromium', () => {
  const sites: Record<string, Site> = {};
  let bridge: Served;
  const viteApp = join(app, 'vite-app');
  const plain = join(work, 'plain-site');

  beforeAll(async () => {
    // A Vite app built with the project's own Vite (no network), from the installed package.
    mkdirSync(viteApp);
    writeFileSync(join(viteApp, 'index.html'), `<!doctype html>
<meta charset="utf-8">
<title>consumer</title>
<script type="module" src="./main.js"></script>
<nbd-hexdump></nbd-hexdump>
`);
    writeFileSync(join(viteApp, 'main.js'), `${statement(readmeImports(), 'webnbd/nbd-hexdump')}

document.querySelector('nbd-hexdump').src = new URLSearchParams(location.search).get('src');
`);
    const { build } = await import('vite');
    await build({ root: viteApp, configFile: false, logLevel: 'warn', build: { outDir: join(viteApp, 'dist') } });

    // A plain site: the README's snippet, and the one file it loads, copied as the README says.
    mkdirSync(join(plain, 'vendor'), { recursive: true });
    copyFileSync(join(app, 'node_modules/webnbd/dist/vendor/nbd-hexdump.js'), join(plain, 'vendor/nbd-hexdump.js'));

    for (const isolated of [true, false]) {
      sites[`vite-${isolated}`] = await serveDist(isolated, join(viteApp, 'dist'));
      sites[`plain-${isolated}`] = await serveDist(isolated, plain);
    }
    // The installed package's modules served as they are, no bundler.
    mkdirSync(join(work, 'unbundled'));
    symlinkSync(join(app, 'node_modules/webnbd'), join(work, 'unbundled/webnbd'));
    sites['unbundled'] = await serveDist(true, join(work, 'unbundled'));
    // A CDN: another origin, answering CORS requests (module scripts are fetched with CORS).
    sites['cdn'] = await serveDist(false, plain, { 'Access-Control-Allow-Origin': '*' });
    bridge = await serve(['-r', 'file', disk], Object.values(sites).map((s) => s.origin));
  }, 60_000);
  afterAll(async () => {
    await (await launch()).close();
    await Promise.all(Object.values(sites).map((s) => s.close()));
  });

  /** Open `url`, wait for its <nbd-hexdump> to load; what it shows, and what the page fetched. */
  async function show(url: string): Promise<{ text: string; isolated: boolean; requests: string[]; errors: string[] }> {
    const page = await (await launch()).newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('requestfailed', (r) => errors.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.url()}: HTTP ${r.status()}`); });
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
    await page.waitForFunction(() => ['loaded', 'error'].includes(document.querySelector('nbd-hexdump')?.dataset['state'] ?? ''), null, { timeout: 20_000 });
    const [text, isolated] = await page.evaluate(() => [document.querySelector('nbd-hexdump')!.text, crossOriginIsolated] as const);
    await page.close();
    return { text, isolated, requests, errors };
  }

  describe.each([true, false])('isolated page: %s', (isolated) => {
    it('a Vite app importing webnbd/nbd-hexdump builds and shows sector 0', async () => {
      const site = sites[`vite-${isolated}`]!;
      const r = await show(`${site.origin}/index.html?src=${encodeURIComponent(bridge.uri)}`);
      expect(r.errors).toEqual([]);
      expect(r.isolated).toBe(isolated);
      expect(r.text).toBe(hexdump(disk, 0, 512));
      // The worker is the app's own built asset.
      expect(r.requests.some((u) => /\/assets\/worker-[\w-]+\.js$/.test(u))).toBe(true);
    });

    it('a plain page with the README\'s snippet and only the self-contained module shows sector 0', async () => {
      const site = sites[`plain-${isolated}`]!;
      const snippet = readmeSnippet();
      const html = snippet.replace(/src="nbd\+ws:[^"]*"/, `src="${bridge.uri}"`);
      expect(html).not.toBe(snippet);
      writeFileSync(join(plain, `readme-${isolated}.html`), `<!doctype html>\n<meta charset="utf-8">\n${html}`);
      const r = await show(`${site.origin}/readme-${isolated}.html`);
      expect(r.errors).toEqual([]);
      expect(r.isolated).toBe(isolated);
      expect(r.text).toBe(hexdump(disk, 0, 512));
      // One module, nothing else fetched: the worker is inside it.
      expect(r.requests.filter((u) => u.startsWith('http')).map((u) => new URL(u).pathname)).toEqual([`/readme-${isolated}.html`, '/vendor/nbd-hexdump.js']);
    });
  });

  it('the installed modules work unbundled: the worker loads from beside the client', async () => {
    writeFileSync(join(work, 'unbundled/page.html'), `<!doctype html>
<meta charset="utf-8">
<script type="module" src="/webnbd/build/web/components/nbd-hexdump-define.js"></script>
<nbd-hexdump src="${bridge.uri}"></nbd-hexdump>
`);
    const r = await show(`${sites['unbundled']!.origin}/page.html`);
    expect(r.errors).toEqual([]);
    expect(r.text).toBe(hexdump(disk, 0, 512));
    expect(r.requests).toContain(`${sites['unbundled']!.origin}/webnbd/build/web/browser/worker.js`);
  });

  it('the self-contained module works from another origin, as from a CDN', async () => {
    const cdn = sites['cdn']!.origin;
    const html = readmeSnippet()
      .replace('src="/vendor/nbd-hexdump.js"', `src="${cdn}/vendor/nbd-hexdump.js"`)
      .replace(/src="nbd\+ws:[^"]*"/, `src="${bridge.uri}"`);
    writeFileSync(join(plain, 'from-cdn.html'), `<!doctype html>\n<meta charset="utf-8">\n${html}`);
    const r = await show(`${sites['plain-true']!.origin}/from-cdn.html`);
    expect(r.errors).toEqual([]);
    expect(r.text).toBe(hexdump(disk, 0, 512));
  });
});
