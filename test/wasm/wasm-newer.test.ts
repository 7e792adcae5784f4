// libnbd 1.16 to 1.24's calls from C in the browser (wasm/tests/newer.c): libnbd 1.14's native
// library has none of them, so the expected output is written here, from their man pages.

import { describe, expect, it } from 'vitest';
import { startNbdkit, startWebsockify } from '../support/servers.js';
import { buildWasm, runWasm } from '../support/wasm.js';

const TLS = 'TLS is not supported here: in a browser, TLS is wss:// to the bridge (use an nbds+wss:// URI): Operation not supported';

describe('libnbd 1.24 from C', () => {
  it('newer-calls-from-c-in-the-browser', async () => {
    const js = await buildWasm('wasm/tests/newer.c');
    const nbd = await startNbdkit(['memory', '1M']);
    const ws = await startWebsockify({ port: nbd.port! });
    try {
      const got = await runWasm(js, 'newer', [`nbd+ws://127.0.0.1:${ws.port}/`]);
      expect({ stderr: got.stderr, status: got.status }).toEqual({ stderr: '', status: 0 });
      expect(got.stdout.split('\n')).toEqual([
        'webnbd 1.24.0, extra "", vsock 0, tls 0',
        'is_uri 1 0',
        'nbd_set_socket_activation_name -> -1, errno other: nbd_set_socket_activation_name: socket activation name should contain only alphanumeric ASCII characters: Invalid argument',
        'socket activation name nbd0',
        'tls hostname server.example',
        `nbd_set_tls -> -1, errno ENOTSUP: nbd_set_tls: ${TLS}`,
        `nbd_set_tls_psk_file -> -1, errno ENOTSUP: nbd_set_tls_psk_file: ${TLS}`,
        'nbd_get_subprocess_pid -> -1, errno other: nbd_get_subprocess_pid: handle does not have a subprocess: No such process',
        'handle size > 0: 1',
        '  context base:allocation',
        'nbd_opt_list_meta_context_queries -> 1',
        '  context base:allocation',
        'nbd_opt_set_meta_context_queries -> 1',
        'nbd_opt_extended_headers -> 0',
        `nbd_opt_starttls -> -1, errno ENOTSUP: nbd_opt_starttls: ${TLS}`,
        'nbd_opt_go -> 0',
        'can base:allocation 1',
        'nbd_poll2 -> 0',
        'nbd_poll2 (fd 0) -> -1, errno ENOTSUP: nbd_poll2: webnbd has no file descriptors to poll: pass -1 (then nbd_poll2 is nbd_poll): Operation not supported',
        'nbd_block_status_filter -> -1, errno ENOTSUP: nbd_block_status_filter: server did not negotiate extended headers: Operation not supported',
        '',
      ]);
    } finally {
      await Promise.all([ws.stop(), nbd.stop()]);
    }
  }, 300_000);
});
