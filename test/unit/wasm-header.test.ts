// Every core call has its C function in the port's table (wasm/runtime/capi.ts), the calls newer
// than libnbd 1.14 are declared under the version their API row gives, and every call of libnbd
// 1.24 is declared. That the port's libnbd.h matches Debian's is test/tools/wasm-header.test.ts's;
// that the generated C files are current is test/unit/generated.test.ts's.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API } from '../../web/core/api.js';
import { C_API } from '../../wasm/runtime/capi.js';

describe('C functions', () => {
  it('every-core-call-has-a-c-function', () => {
    const backed = new Set(C_API.flatMap((f) => ('core' in f.impl ? [f.impl.core] : [])));
    // nbd_close is shim.c's (it frees the C handle), and reaches the core's close() by itself.
    expect(Object.keys(API).filter((k) => !backed.has(k as keyof typeof API))).toEqual(['close']);
    for (const f of C_API) if ('core' in f.impl) expect(API[f.impl.core].c).toBe(f.c);
  });

  it('newer-calls-are-declared-under-the-version-their-api-row-gives', () => {
    const header = readFileSync('wasm/include/libnbd.h', 'utf8');
    const newer = C_API.filter((f) => f.since);
    expect(newer.map((f) => f.c)).toContain('nbd_can_block_status_payload');
    for (const f of newer) {
      if ('core' in f.impl) expect(f.since, f.c).toBe(API[f.impl.core].since);
      expect(header, f.c).toMatch(new RegExp(`/\\* Added in libnbd ${f.since!.replace('.', '\\.')}\\. \\*/\\nextern [^;]*\\b${f.c} \\(`));
    }
  });

  it('declares-every-call-of-libnbd-1.24', () => {
    const header = readFileSync('wasm/include/libnbd.h', 'utf8');
    const declared = new Set([...header.matchAll(/^extern [^;]*?\b(nbd_\w+) \(/gms)].map((m) => m[1]));
    const missing = LIBNBD_1_24.filter((n) => !declared.has(`nbd_${n}`));
    expect(LIBNBD_1_24.length).toBe(162);
    expect(missing).toEqual([]);
    // Beyond libnbd only webnbd's own, marked as such.
    expect([...declared].filter((n) => !LIBNBD_1_24.includes(n!.slice(4)))).toEqual(['nbd_connect_websocket', 'nbd_aio_connect_websocket']);
  });
});

/** Every call of libnbd 1.24 (its man3 pages, without the nbd_ prefix). */
const LIBNBD_1_24 = `
  add_meta_context aio_block_status aio_block_status_64 aio_block_status_filter aio_cache
  aio_command_completed aio_connect aio_connect_command aio_connect_socket
  aio_connect_systemd_socket_activation aio_connect_tcp aio_connect_unix aio_connect_uri
  aio_connect_vsock aio_disconnect aio_flush aio_get_direction aio_get_fd aio_in_flight
  aio_is_closed aio_is_connecting aio_is_created aio_is_dead aio_is_negotiating aio_is_processing
  aio_is_ready aio_notify_read aio_notify_write aio_opt_abort aio_opt_extended_headers aio_opt_go
  aio_opt_info aio_opt_list aio_opt_list_meta_context aio_opt_list_meta_context_queries
  aio_opt_set_meta_context aio_opt_set_meta_context_queries aio_opt_starttls
  aio_opt_structured_reply aio_peek_command_completed aio_pread aio_pread_structured aio_pwrite
  aio_trim aio_zero block_status block_status_64 block_status_filter cache
  can_block_status_payload can_cache can_df can_fast_zero can_flush can_fua can_meta_context
  can_multi_conn can_trim can_zero clear_debug_callback clear_meta_contexts close connect_command
  connect_socket connect_systemd_socket_activation connect_tcp connect_unix connect_uri
  connect_vsock connection_state create flush get_block_size get_canonical_export_name get_debug
  get_errno get_error get_export_description get_export_name get_extended_headers_negotiated
  get_full_info get_handle_name get_handle_size get_handshake_flags get_meta_context
  get_nr_meta_contexts get_opt_mode get_package_name get_pread_initialize get_private_data
  get_protocol get_request_block_size get_request_extended_headers get_request_meta_context
  get_request_structured_replies get_size get_socket_activation_name get_strict_mode
  get_structured_replies_negotiated get_subprocess_pid get_tls get_tls_hostname
  get_tls_negotiated get_tls_username get_tls_verify_peer get_uri get_version get_version_extra
  is_read_only is_rotational is_uri kill_subprocess opt_abort opt_extended_headers opt_go
  opt_info opt_list opt_list_meta_context opt_list_meta_context_queries opt_set_meta_context
  opt_set_meta_context_queries opt_starttls opt_structured_reply poll poll2 pread
  pread_structured pwrite set_debug set_debug_callback set_export_name set_full_info
  set_handle_name set_handshake_flags set_opt_mode set_pread_initialize set_private_data
  set_request_block_size set_request_extended_headers set_request_meta_context
  set_request_structured_replies set_socket_activation_name set_strict_mode set_tls
  set_tls_certificates set_tls_hostname set_tls_psk_file set_tls_username set_tls_verify_peer
  set_uri_allow_local_file set_uri_allow_tls set_uri_allow_transports shutdown
  stats_bytes_received stats_bytes_sent stats_chunks_received stats_chunks_sent supports_tls
  supports_uri supports_vsock trim zero
`.trim().split(/\s+/);
