// The NBD server a bridge runs itself, on a private Unix socket: started, watched, restarted with
// back-off when it dies, stopped with the bridge.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

export const PLACEHOLDER = '{socket}';
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
// With a parent-death signal, children die with us even on SIGKILL. util-linux has it on Debian.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** A startup failure, with a one-line message meant for the user. */
export class BridgeError extends Error {}
export const fail = (message: string): never => {
  throw new BridgeError(message);
};
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const within = (p: Promise<unknown>, ms: number): Promise<boolean> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))])
    .finally(() => clearTimeout(timer));
};

/** A process in its own process group (so a terminal's Ctrl-C reaches only us), output collected. */
export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<string>;
  output = '';
  log?: (text: string) => void;

  constructor(readonly name: string, argv: string[]) {
    const [file, args] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', ...argv]] : [argv[0]!, argv.slice(1)];
    this.proc = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (b: Buffer) => {
      if (this.log) this.log(b.toString('utf8'));
      else this.output = (this.output + b.toString('utf8')).slice(-65536);
    };
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
    this.exited = new Promise((res) => {
      this.proc.once('error', (e) => res(e.message));
      this.proc.once('exit', (code, signal) => res(signal ? `killed by ${signal}` : `exit status ${code}`));
    });
  }

  get gone(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null || this.proc.pid === undefined;
  }

  /** The last line it printed, without setpriv's prefix. */
  lastLine(): string {
    return (this.output.trim().split('\n').pop()?.trim() ?? '').replace(/^setpriv: /, '');
  }

  async stop(): Promise<void> {
    if (!this.gone) {
      this.proc.kill('SIGTERM');
      if (!(await within(this.exited, STOP_TIMEOUT_MS))) this.killGroup();
      await this.exited;
    }
    this.killGroup(); // whatever a server command forked
  }

  killGroup(): void {
    try {
      if (this.proc.pid) process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // Nobody left in the group.
    }
  }
}

/** The command line for `command` on socket `sock`: `{socket}` is replaced; nbdkit needs none. */
export function serverArgv(command: string[], sock: string): string[] {
  if (command.length === 0) fail('no NBD server command after --');
  if (command.some((a) => a.includes(PLACEHOLDER))) return command.map((a) => a.replaceAll(PLACEHOLDER, sock));
  if (basename(command[0]!) === 'nbdkit') return [command[0]!, '-U', sock, '-f', ...command.slice(1)];
  return fail(`put ${PLACEHOLDER} where ${command[0]} takes its Unix socket path`);
}

/** Runs the server and waits for its socket (without connecting: qemu-nbd without -t would exit after a probe). */
async function startOnce(argv: string[], sock: string): Promise<Child> {
  rmSync(sock, { force: true }); // a socket left by a server that died
  const server = new Child(basename(argv[0]!), argv);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(sock) || !statSync(sock).isSocket()) {
    if (server.gone || Date.now() > deadline) {
      const why = server.gone ? await server.exited : 'no socket after 15 s';
      await server.stop();
      fail(`${server.name} did not start (${why})${server.lastLine() ? `: ${server.lastLine()}` : ''}`);
    }
    await sleep(20);
  }
  return server;
}

/** Restarts after a death: 0.5 s, doubling to 30 s; the back-off resets after a minute up. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
const STEADY_MS = 60_000;
/** More deaths than this in a row, each within STEADY_MS of its start: the bridge gives up. */
const MAX_QUICK_DEATHS = 5;

export interface Supervised {
  readonly socket: string;
  readonly name: string;
  /** The PID of the running server (changes on restart). */
  pid(): number | undefined;
  /** Settles with why the bridge gave up on the server (never after stop()). */
  readonly gaveUp: Promise<string>;
  stop(): Promise<void>;
}

/** Starts the server (throws BridgeError if it cannot) and keeps it running. */
export async function superviseServer(command: string[], dir: string, log: (line: string) => void, output: (text: string) => void,
  firstBackoffMs = FIRST_BACKOFF_MS): Promise<Supervised> {
  const sock = join(dir, 'nbd.sock');
  const argv = serverArgv(command, sock);
  let current = await startOnce(argv, sock);
  const name = current.name;
  let stopped = false;
  let giveUp!: (why: string) => void;
  const gaveUp = new Promise<string>((r) => (giveUp = r));
  const watch = (child: Child) => {
    output(child.output);
    child.log = output;
    const started = Date.now();
    void child.exited.then(async (how) => {
      if (stopped) return;
      quick = Date.now() - started < STEADY_MS ? quick + 1 : 0;
      if (quick > MAX_QUICK_DEATHS) return giveUp(`${name} stopped (${how}), ${quick} times within a minute of starting; not restarting`);
      const wait = Math.min(MAX_BACKOFF_MS, firstBackoffMs * 2 ** Math.max(0, quick - 1));
      log(`${name} stopped (${how}); restarting it in ${wait / 1000} s`);
      await sleep(wait);
      if (stopped) return;
      try {
        current = await startOnce(argv, sock);
        log(`${name} restarted (pid ${current.proc.pid})`);
        watch(current);
      } catch (e) {
        giveUp(`${(e as Error).message}; not restarting`);
      }
    });
  };
  let quick = 0;
  watch(current);
  return {
    socket: sock,
    name,
    pid: () => (current.gone ? undefined : current.proc.pid),
    gaveUp,
    async stop() {
      stopped = true;
      await current.stop();
    },
  };
}
