// Makes this machine ready for webnbd: the Debian packages its servers and tests use, then
// node_modules. `npm start` and `npm test` run it first, before node_modules may exist, so it
// uses Node's own modules only, and it must stay fast when there is nothing to do.
// `--npm-only` (npm run test:unit) installs node_modules alone.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const arch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch] ?? 'x86_64-linux-gnu';
const nbdkitDir = `/usr/lib/${arch}/nbdkit`;
const nbdkitPlugins = ['pattern', 'memory', 'data', 'sparse-random', 'null', 'file', 'linuxdisk', 'nbd',
  'floppy', 'partitioning'];
const nbdkitFilters = ['blocksize-policy', 'error', 'delay', 'noextents', 'nozero', 'nocache',
  'rate', 'cow', 'pause', 'log'];

// Each Debian 12 package and the files that prove it is installed. Probing files is much
// faster than asking dpkg, and checks what we actually use.
const packages = {
  nbdkit: ['/usr/bin/nbdkit', '/usr/share/man/man1/nbdkit.1.gz',
    ...nbdkitPlugins.map((p) => `${nbdkitDir}/plugins/nbdkit-${p}-plugin.so`),
    ...nbdkitFilters.map((f) => `${nbdkitDir}/filters/nbdkit-${f}-filter.so`)],
  'libnbd-bin': ['/usr/bin/nbdinfo', '/usr/bin/nbddump', '/usr/bin/nbdcopy'],
  'libnbd-dev': ['/usr/include/libnbd.h', `/usr/lib/${arch}/pkgconfig/libnbd.pc`,
    '/usr/share/man/man3/libnbd.3.gz'],
  'qemu-utils': ['/usr/bin/qemu-nbd', '/usr/bin/qemu-img'],
  'nbd-server': ['/usr/bin/nbd-server'],
  websockify: ['/usr/bin/websockify'], // the command itself ships in python3-websockify
  chromium: ['/usr/bin/chromium'],
  emscripten: ['/usr/bin/emcc'],
  bsdextrautils: ['/usr/bin/hexdump'],
  xxd: ['/usr/bin/xxd'],
  gcc: ['/usr/bin/gcc'],
  pkgconf: ['/usr/bin/pkg-config'], // Debian 12's pkg-config is a transitional package for it
  python3: ['/usr/bin/python3'], // websockify's interpreter, whatever python3 is first on PATH
  openssl: ['/usr/bin/openssl'],
  nginx: ['/usr/sbin/nginx'],
  e2fsprogs: ['/sbin/mke2fs'], // nbdkit-linuxdisk-plugin runs /sbin/mke2fs
  'man-db': ['/usr/bin/man'], // nbdkit and libnbd document themselves in man pages
  // The filesystem tests build images with these and read them back as the truth.
  dosfstools: ['/sbin/mkfs.vfat'],
  mtools: ['/usr/bin/mcopy', '/usr/bin/mdir'],
  genisoimage: ['/usr/bin/genisoimage', '/usr/bin/isoinfo'],
  xorriso: ['/usr/bin/xorriso'],
};

function fail(message) {
  console.error(`webnbd setup: ${message}`);
  process.exit(1);
}

function run(command, args, env) {
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.error) fail(`cannot run ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`\`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})`);
}

function missingPackages() {
  return Object.entries(packages).filter(([, files]) => !files.every((f) => existsSync(f))).map(([p]) => p);
}

function installPackages() {
  const missing = missingPackages();
  if (missing.length === 0) return;
  const line = `apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) fail(`missing Debian packages; run: sudo apt-get update && sudo ${line}`);
  console.error(`webnbd setup: installing ${missing.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], env);
  run('apt-get', ['install', '-y', ...missing], env);
  const still = missingPackages();
  if (still.length > 0) fail(`still missing after apt-get install: ${still.join(' ')}`);
}

// `npm ci` again whenever package-lock.json differs from the one last installed.
function installNodeModules() {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.webnbd-lock-hash');
  if (!existsSync(lock)) fail('package-lock.json is missing');
  const hash = createHash('sha256').update(readFileSync(lock)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) return;
  console.error('webnbd setup: npm ci');
  // No install scripts: no dependency needs one, and `prepare` (tsc -b) is run by the caller
  // next, where a type error reads as a type error rather than as a failed install.
  run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], {});
  writeFileSync(stamp, `${hash}\n`);
}

// Installing webnbd's packed tarball offline into another project (the package test, and anyone
// trying the package here) resolves its dependencies from npm's cache, which then needs their
// registry metadata: `npm ci` caches tarballs only. Fetch it once, with the newest matching
// tarballs, while the registry is reachable.
function primeNpmCache() {
  const { dependencies = {} } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const specs = Object.entries(dependencies).map(([name, range]) => `${name}@${range}`);
  const stamp = join(root, 'node_modules', '.webnbd-npm-cache');
  const want = `${specs.join('\n')}\n`;
  if (specs.length === 0 || (existsSync(stamp) && readFileSync(stamp, 'utf8') === want)) return;
  console.error(`webnbd setup: npm cache add ${specs.join(' ')}`);
  run('npm', ['cache', 'add', ...specs], {});
  writeFileSync(stamp, want);
}

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) fail(`Node ${process.versions.node} is too old; webnbd needs 20.19 or newer`);
const npmOnly = process.argv.includes('--npm-only');
if (!npmOnly && process.platform !== 'linux') fail('the test servers need Debian packages: run on Debian 12');
process.chdir(root);
if (!npmOnly) installPackages();
installNodeModules();
if (!npmOnly) primeNpmCache();
