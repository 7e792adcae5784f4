// The `webnbd bridge` command: its options, its output, its signals.
import { parseArgs } from 'node:util';
import { startBridge, type Bridge, type BridgeOptions, type BridgeTarget, type Limits } from './bridge.js';
import { BridgeError, fail } from './server-process.js';

const USAGE = `Usage: webnbd bridge [OPTIONS] (--unix-target SOCK | --target HOST:PORT | --token-file FILE)
       webnbd bridge [OPTIONS] -- NBD-SERVER-COMMAND...

Lets web pages reach one NBD server over WebSockets, and prints the URI to use, with its secret
token (nbd+ws://HOST:PORT/?token=…, or nbds+wss:// with --cert). Stops on SIGINT, SIGTERM, SIGHUP.

  --unix-target SOCK   forward to the NBD server on a Unix socket
  --target HOST:PORT   forward to the NBD server at HOST:PORT (TCP)
  --token-file FILE    alone: forward by ?token=, lines "token: host:port" or "token: unix_socket:/path";
                       with a target: the secrets clients may give, one per line
  -- COMMAND...        run this NBD server on a private Unix socket (restarted if it dies): {socket}
                       in an argument becomes its path; nbdkit needs none (-U SOCK -f are added)
  --token TOKEN        the secret (default: 192 random bits; also from WEBNBD_TOKEN)
  --listen [HOST:]PORT where to listen (default 127.0.0.1 and a free port)
  --origin URL         a page origin allowed to connect (repeatable; default the bridge's own;
                       required when listening on every address)
  --cert FILE          TLS certificate (PEM): wss:// only
  --key FILE           TLS key (PEM), unless it is in the --cert file
  --client-ca FILE     admit only clients with a certificate signed by this CA (PEM)
  --web DIR            also serve the files in DIR over HTTP(S)
  --upgrade-timeout S  seconds to finish the WebSocket upgrade (default 10)
  --handshake-timeout S  seconds to finish the NBD handshake (default 15)
  --idle-timeout S     seconds a client may stay silent with nothing in flight (default 900)
  --max-connections N  connections at once (default 256)
  --max-per-address N  connections at once from one address (default 64)
  --max-unread BYTES   replies a client may leave unread before the server is no longer read (default 8M)
  --max-frame BYTES    largest WebSocket message a client may send (default 64M+32)
  -v, --verbose        also log each connection
  -h, --help           show this help
`;

function hostPort(s: string, what: string, hostOptional = false): { host?: string; port: number } {
  const m = /^(?:(?:\[([^\]]*)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(s);
  if (!m || (!hostOptional && m[1] === undefined && m[2] === undefined) || Number(m[3]) > 65535) {
    fail(`${what} ${s}: expected ${hostOptional ? '[HOST:]PORT' : 'HOST:PORT'}`);
  }
  const host = m![1] ?? m![2];
  return { ...(host !== undefined ? { host } : {}), port: Number(m![3]) };
}

function number(s: string, what: string, scale = 1): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(\+\d+)?$/i.exec(s);
  if (!m) return fail(`${what} ${s}: not a number`);
  const unit = { '': 1, K: 1024, M: 1 << 20, G: 1 << 30 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  const n = Math.round(Number(m[1]) * unit * scale + Number(m[3] ?? 0));
  if (n <= 0) fail(`${what} ${s}: must be positive`);
  return n;
}

const LIMIT_FLAGS: [string, keyof Limits, number][] = [
  ['upgrade-timeout', 'upgradeMs', 1000], ['handshake-timeout', 'handshakeMs', 1000], ['idle-timeout', 'idleMs', 1000],
  ['max-connections', 'connections', 1], ['max-per-address', 'perAddress', 1], ['max-unread', 'unreadBytes', 1],
  ['max-frame', 'maxPayload', 1],
];

/** `webnbd bridge` options, or null for --help. Throws BridgeError. */
export function parseBridgeArgs(argv: string[], env: NodeJS.ProcessEnv = {}): (BridgeOptions & { verbose: boolean }) | null {
  const dashes = argv.indexOf('--');
  const command = dashes < 0 ? undefined : argv.slice(dashes + 1);
  let values;
  try {
    ({ values } = parseArgs({
      args: dashes < 0 ? argv : argv.slice(0, dashes),
      options: {
        'unix-target': { type: 'string' }, target: { type: 'string' }, 'token-file': { type: 'string' },
        token: { type: 'string' }, listen: { type: 'string' }, origin: { type: 'string', multiple: true },
        cert: { type: 'string' }, key: { type: 'string' }, 'client-ca': { type: 'string' }, web: { type: 'string' },
        ...Object.fromEntries(LIMIT_FLAGS.map(([flag]) => [flag, { type: 'string' as const }])),
        verbose: { type: 'boolean', short: 'v' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return fail((e as Error).message.split('. ')[0]!);
  }
  if (values.help) return null;
  const v = values as Record<string, string | undefined>;
  const targets: BridgeTarget[] = [
    ...(v['unix-target'] !== undefined ? [{ unix: v['unix-target'] }] : []),
    ...(v.target !== undefined ? [hostPort(v.target, '--target') as { host: string; port: number }] : []),
    ...(command ? [{ command }] : []),
  ];
  const tokenFile = v['token-file'];
  if (targets.length === 0 && tokenFile !== undefined) targets.push({ tokenFile });
  if (targets.length !== 1) fail('give exactly one of --unix-target, --target, --token-file or -- COMMAND (see --help)');
  const token = v.token ?? env.WEBNBD_TOKEN;
  const limits: Partial<Limits> = {};
  for (const [flag, key, scale] of LIMIT_FLAGS) if (v[flag] !== undefined) limits[key] = number(v[flag]!, `--${flag}`, scale);
  return {
    target: targets[0]!,
    verbose: values.verbose ?? false,
    ...(values.listen !== undefined ? { listen: hostPort(values.listen, '--listen', true) } : {}),
    ...(values.origin ? { origins: values.origin } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(tokenFile !== undefined && !('tokenFile' in targets[0]!) ? { secretFile: tokenFile } : {}),
    ...(v.cert !== undefined ? { cert: v.cert } : {}),
    ...(v.key !== undefined ? { key: v.key } : {}),
    ...(v['client-ca'] !== undefined ? { clientCa: v['client-ca'] } : {}),
    ...(v.web !== undefined ? { web: v.web } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}

/** `webnbd bridge ARGS…` (ARGS without the word `bridge`). Resolves to the exit status. */
export async function bridgeCommand(argv: string[]): Promise<number> {
  const say = (line: string) => process.stderr.write(`webnbd bridge: ${line}\n`);
  // From the start, a signal stops what has started (during start-up, once it has).
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  let onSignal = () => {};
  const signalled = new Promise<null>((res) => (onSignal = () => res(null)));
  for (const s of signals) process.on(s, onSignal);
  try {
    let bridge: Bridge;
    try {
      const opts = parseBridgeArgs(argv, process.env);
      if (!opts) {
        process.stdout.write(USAGE);
        return 0;
      }
      const { verbose, ...rest } = opts;
      bridge = await startBridge({
        ...rest,
        log: (from, text) => (from === 'server' || verbose || !/: admitted$/m.test(text)) && process.stderr.write(text),
      });
    } catch (e) {
      say(e instanceof BridgeError ? e.message : String((e as Error).message ?? e).split('\n')[0]!);
      return 1;
    }
    for (const uri of bridge.uris) process.stdout.write(`${uri}\n`);
    const web = bridge.web ? `, serving ${bridge.web} at ${bridge.url.replace(/^ws/, 'http')}` : '';
    say(`listening on ${bridge.url}${web}; origins allowed: ${bridge.origins.join(' ')}; Ctrl-C stops it`);
    const why = await Promise.race([bridge.exited, signalled]);
    await bridge.close();
    if (why === null) return 0;
    say(why);
    return 1;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
