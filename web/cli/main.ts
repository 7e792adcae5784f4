// The `webnbd` command: one table of subcommands, global --help and --version, and one rule for
// failures: a single line "webnbd: ..." on stderr and exit status 1, never a stack trace.

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { NbdError, escapeControls } from '../core/errors.js';
import { UsageError } from './args.js';
import { DEFAULT_TIMEOUT } from './connect.js';
import type { Command, Io } from './io.js';
import { Output } from './output.js';

/** A subcommand in the table: its summary, and its module, loaded only when it runs. */
export interface Entry {
  summary: string;
  load(): Promise<Command>;
}

/** The subcommands. */
export const COMMANDS: Record<string, Entry> = {
  info: { summary: 'show information about an export (nbdinfo --no-content)', load: async () => (await import('./info.js')).info },
  list: { summary: 'list the exports of a server (nbdinfo --list)', load: async () => (await import('./info.js')).list },
  map: { summary: 'show the allocation map of an export (nbdinfo --map)', load: async () => (await import('./map.js')).map },
  dump: {
    summary: 'hexdump the content of an export (nbddump; hexdump -C with -C)',
    load: async () => (await import('./dump.js')).dump,
  },
  copy: { summary: 'copy between NBD exports, files, block devices and pipes (nbdcopy)', load: async () => (await import('./copy.js')).copy },
  filesystems: { summary: 'list the filesystems on an export (virt-filesystems)', load: async () => (await import('./fs.js')).filesystems },
  ls: { summary: 'list files in a filesystem on an export (virt-ls)', load: async () => (await import('./fs.js')).ls },
  cat: { summary: 'print files from a filesystem on an export (virt-cat)', load: async () => (await import('./fs.js')).cat },
  bridge: {
    summary: 'let browsers reach an NBD server (a WebSocket bridge with a secret token)',
    load: async () => {
      const { bridgeCommand } = await import('../../bridge/bridge.js');
      return { summary: '', run: (argv) => bridgeCommand(argv) };
    },
  },
  inspect: {
    summary: 'open the disk inspector on a disk image, a block device or an NBD server',
    load: async () => (await import('./inspect.js')).inspect,
  },
  cc: { summary: 'compile a libnbd C program to run in the browser', load: async () => (await import('./cc.js')).cc },
  'run-wasm': {
    summary: 'compile a libnbd C program and run it in a browser',
    load: async () => (await import('./run-wasm.js')).runWasmCommand,
  },
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`);
  return `Usage: webnbd COMMAND [OPTIONS] NBD-URI

libnbd's tools for the Network Block Device, in TypeScript. Commands:

${lines.join('\n')}

NBD-URI is nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH (nbds://, nbds+unix://
with TLS: ?tls-certificates=DIR or ?tls-psk-file=FILE), or nbd+ws://HOST[:PORT]/EXPORT
(nbds+wss://) through a websockify bridge.

Every command that connects takes --timeout=SECONDS (default: ${DEFAULT_TIMEOUT}): a server that does
not answer the handshake, an option or a request within it ends the command (exit status 1).

Run 'webnbd COMMAND --help' for a command's options; 'webnbd --version' for the version.
`;
}

/** The message a failure is reported with: its own words, never a stack, nor a raw control character. */
export function describe(e: unknown): string {
  if (e instanceof NbdError || e instanceof UsageError) return escapeControls(e.message);
  if (e instanceof Error) return `internal error: ${escapeControls(e.message)}`;
  return `internal error: ${escapeControls(String(e))}`;
}

/** Run the command line `argv` (without node and the script); resolve to the exit status. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const entry = name === 'help' && rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined;
    if (entry) return (await entry.load()).run(['--help'], io);
    await io.write(usage());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-V') {
    await io.write(`webnbd ${version()}\n`);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    throw new UsageError(name.startsWith('-')
      ? `unknown option '${name}' (see 'webnbd --help')`
      : `unknown command '${name}' (see 'webnbd --help')`);
  }
  return (await entry.load()).run(rest, io);
}

/** The process side: real stdout and stderr, exit status, no stack traces. */
export async function cli(argv: string[] = process.argv.slice(2)): Promise<never> {
  const out = new Output();
  const fail = (e: unknown): never => {
    process.stderr.write(`webnbd: ${describe(e)}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  const io: Io = {
    write: (chunk) => out.write(chunk),
    err: (line) => void process.stderr.write(`${escapeControls(line)}\n`),
    isTTY: process.stdout.isTTY === true,
    get closed() { return out.closed; },
  };
  let status: number;
  try {
    status = await main(argv, io);
  } catch (e) {
    return fail(e);
  }
  await out.flush();
  process.exit(status);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void cli();
