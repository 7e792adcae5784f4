/* webnbd's emscripten port: libnbd's calls, each packing its arguments into 64-bit slots for
 * the runtime (wasm/runtime/runtime.ts), which unpacks them by the kinds in web/core/api.ts.
 * WARNING: THIS FILE IS GENERATED FROM wasm/runtime/capi.ts by wasm/runtime/generate.ts.
 */

#include <stddef.h>
#include <stdint.h>

#include "libnbd.h"
#include "webnbd.h"

int
nbd_set_debug (struct nbd_handle *h, bool debug)
{
  const uint64_t a[] = { debug };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_debug", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_debug (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_debug", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_debug_callback (struct nbd_handle *h, nbd_debug_callback debug_callback)
{
  const uint64_t a[] = { (uintptr_t) debug_callback.callback, (uintptr_t) debug_callback.user_data, (uintptr_t) debug_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_debug_callback", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_clear_debug_callback (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_clear_debug_callback", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_handle_name (struct nbd_handle *h, const char *handle_name)
{
  const uint64_t a[] = { (uintptr_t) handle_name };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_handle_name", a, 0, &r) == -1 ? -1 : (int) r;
}

char *
nbd_get_handle_name (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_handle_name", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_set_export_name (struct nbd_handle *h, const char *export_name)
{
  const uint64_t a[] = { (uintptr_t) export_name };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_export_name", a, 0, &r) == -1 ? -1 : (int) r;
}

char *
nbd_get_export_name (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_export_name", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_set_request_block_size (struct nbd_handle *h, bool request)
{
  const uint64_t a[] = { request };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_request_block_size", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_request_block_size (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_request_block_size", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_full_info (struct nbd_handle *h, bool request)
{
  const uint64_t a[] = { request };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_full_info", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_full_info (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_full_info", a, 0, &r) == -1 ? -1 : (int) r;
}

char *
nbd_get_canonical_export_name (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_canonical_export_name", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

char *
nbd_get_export_description (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_export_description", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_set_tls (struct nbd_handle *h, int tls)
{
  const uint64_t a[] = { (int64_t) tls };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_tls", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_tls (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_tls", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_tls_negotiated (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_tls_negotiated", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_tls_certificates (struct nbd_handle *h, const char *dir)
{
  const uint64_t a[] = { (uintptr_t) dir };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_tls_certificates", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_tls_verify_peer (struct nbd_handle *h, bool verify)
{
  const uint64_t a[] = { verify };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_tls_verify_peer", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_tls_verify_peer (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_tls_verify_peer", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_tls_username (struct nbd_handle *h, const char *username)
{
  const uint64_t a[] = { (uintptr_t) username };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_tls_username", a, 0, &r) == -1 ? -1 : (int) r;
}

char *
nbd_get_tls_username (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_tls_username", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_set_tls_psk_file (struct nbd_handle *h, const char *filename)
{
  const uint64_t a[] = { (uintptr_t) filename };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_tls_psk_file", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_request_structured_replies (struct nbd_handle *h, bool request)
{
  const uint64_t a[] = { request };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_request_structured_replies", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_request_structured_replies (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_request_structured_replies", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_structured_replies_negotiated (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_structured_replies_negotiated", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_handshake_flags (struct nbd_handle *h, uint32_t flags)
{
  const uint64_t a[] = { flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_handshake_flags", a, 0, &r) == -1 ? -1 : (int) r;
}

uint32_t
nbd_get_handshake_flags (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_handshake_flags", a, 0, &r) == -1 ? -1 : (uint32_t) r;
}

int
nbd_set_pread_initialize (struct nbd_handle *h, bool request)
{
  const uint64_t a[] = { request };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_pread_initialize", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_pread_initialize (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_pread_initialize", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_strict_mode (struct nbd_handle *h, uint32_t flags)
{
  const uint64_t a[] = { flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_strict_mode", a, 0, &r) == -1 ? -1 : (int) r;
}

uint32_t
nbd_get_strict_mode (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_strict_mode", a, 0, &r) == -1 ? -1 : (uint32_t) r;
}

int
nbd_set_opt_mode (struct nbd_handle *h, bool enable)
{
  const uint64_t a[] = { enable };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_opt_mode", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_opt_mode (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_opt_mode", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_go (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_go", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_abort (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_abort", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_list (struct nbd_handle *h, nbd_list_callback list_callback)
{
  const uint64_t a[] = { (uintptr_t) list_callback.callback, (uintptr_t) list_callback.user_data, (uintptr_t) list_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_list", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_info (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_info", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback context_callback)
{
  const uint64_t a[] = { (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_list_meta_context", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_add_meta_context (struct nbd_handle *h, const char *name)
{
  const uint64_t a[] = { (uintptr_t) name };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_add_meta_context", a, 0, &r) == -1 ? -1 : (int) r;
}

ssize_t
nbd_get_nr_meta_contexts (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_nr_meta_contexts", a, 0, &r) == -1 ? -1 : (ssize_t) r;
}

char *
nbd_get_meta_context (struct nbd_handle *h, size_t i)
{
  const uint64_t a[] = { (int64_t) i };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_meta_context", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_clear_meta_contexts (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_clear_meta_contexts", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_connect_uri (struct nbd_handle *h, const char *uri)
{
  const uint64_t a[] = { (uintptr_t) uri };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_connect_uri", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_connect_unix (struct nbd_handle *h, const char *unixsocket)
{
  const uint64_t a[] = { (uintptr_t) unixsocket };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_connect_unix", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port)
{
  (void) cid;
  (void) port;
  webnbd_unsupported (h, "nbd_connect_vsock", "a browser has no sockets: connect through a websockify bridge (nbd_connect_uri with nbd+ws://, or nbd_connect_unix with the ws:// URL of a bridge)");
  return -1;
}

int
nbd_connect_tcp (struct nbd_handle *h, const char *hostname, const char *port)
{
  const uint64_t a[] = { (uintptr_t) hostname, (uintptr_t) port };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_connect_tcp", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_connect_socket (struct nbd_handle *h, int sock)
{
  (void) sock;
  webnbd_unsupported (h, "nbd_connect_socket", "a browser has no sockets: connect through a websockify bridge (nbd_connect_uri with nbd+ws://, or nbd_connect_unix with the ws:// URL of a bridge)");
  return -1;
}

int
nbd_connect_command (struct nbd_handle *h, char **argv)
{
  (void) argv;
  webnbd_unsupported (h, "nbd_connect_command", "a browser cannot run a server as a subprocess: run it elsewhere and connect through a websockify bridge");
  return -1;
}

int
nbd_connect_systemd_socket_activation (struct nbd_handle *h, char **argv)
{
  (void) argv;
  webnbd_unsupported (h, "nbd_connect_systemd_socket_activation", "a browser cannot run a server as a subprocess: run it elsewhere and connect through a websockify bridge");
  return -1;
}

int
nbd_is_read_only (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_is_read_only", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_flush (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_flush", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_fua (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_fua", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_is_rotational (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_is_rotational", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_trim (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_trim", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_zero (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_zero", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_fast_zero (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_fast_zero", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_df (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_df", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_multi_conn (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_multi_conn", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_cache (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_cache", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_meta_context (struct nbd_handle *h, const char *metacontext)
{
  const uint64_t a[] = { (uintptr_t) metacontext };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_meta_context", a, 0, &r) == -1 ? -1 : (int) r;
}

const char *
nbd_get_protocol (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_protocol", a, 0, &r) == -1 ? NULL : (const char *) (uintptr_t) r;
}

int64_t
nbd_get_size (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_size", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int64_t
nbd_get_block_size (struct nbd_handle *h, int size_type)
{
  const uint64_t a[] = { (int64_t) size_type };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_block_size", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int
nbd_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, uint32_t flags)
{
  const uint64_t a[] = { (uintptr_t) buf, count, offset, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_pread", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_pread_structured (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, nbd_chunk_callback chunk_callback, uint32_t flags)
{
  const uint64_t a[] = { (uintptr_t) buf, count, offset, (uintptr_t) chunk_callback.callback, (uintptr_t) chunk_callback.user_data, (uintptr_t) chunk_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_pread_structured", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_pwrite (struct nbd_handle *h, const void *buf, size_t count, uint64_t offset, uint32_t flags)
{
  const uint64_t a[] = { (uintptr_t) buf, count, offset, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_pwrite", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_shutdown (struct nbd_handle *h, uint32_t flags)
{
  const uint64_t a[] = { flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_shutdown", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_flush (struct nbd_handle *h, uint32_t flags)
{
  const uint64_t a[] = { flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_flush", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_trim (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags)
{
  const uint64_t a[] = { count, offset, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_trim", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_cache (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags)
{
  const uint64_t a[] = { count, offset, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_cache", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_zero (struct nbd_handle *h, uint64_t count, uint64_t offset, uint32_t flags)
{
  const uint64_t a[] = { count, offset, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_zero", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_block_status (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_extent_callback extent_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) extent_callback.callback, (uintptr_t) extent_callback.user_data, (uintptr_t) extent_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_block_status", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_poll (struct nbd_handle *h, int timeout)
{
  const uint64_t a[] = { (int64_t) timeout };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_poll", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_connect (struct nbd_handle *h, const struct sockaddr *addr, socklen_t addrlen)
{
  (void) addr;
  (void) addrlen;
  webnbd_unsupported (h, "nbd_aio_connect", "a browser has no sockets: connect through a websockify bridge (nbd_connect_uri with nbd+ws://, or nbd_connect_unix with the ws:// URL of a bridge)");
  return -1;
}

int
nbd_aio_connect_uri (struct nbd_handle *h, const char *uri)
{
  const uint64_t a[] = { (uintptr_t) uri };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_connect_uri", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_connect_unix (struct nbd_handle *h, const char *unixsocket)
{
  const uint64_t a[] = { (uintptr_t) unixsocket };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_connect_unix", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_connect_vsock (struct nbd_handle *h, uint32_t cid, uint32_t port)
{
  (void) cid;
  (void) port;
  webnbd_unsupported (h, "nbd_aio_connect_vsock", "a browser has no sockets: connect through a websockify bridge (nbd_connect_uri with nbd+ws://, or nbd_connect_unix with the ws:// URL of a bridge)");
  return -1;
}

int
nbd_aio_connect_tcp (struct nbd_handle *h, const char *hostname, const char *port)
{
  const uint64_t a[] = { (uintptr_t) hostname, (uintptr_t) port };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_connect_tcp", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_connect_socket (struct nbd_handle *h, int sock)
{
  (void) sock;
  webnbd_unsupported (h, "nbd_aio_connect_socket", "a browser has no sockets: connect through a websockify bridge (nbd_connect_uri with nbd+ws://, or nbd_connect_unix with the ws:// URL of a bridge)");
  return -1;
}

int
nbd_aio_connect_command (struct nbd_handle *h, char **argv)
{
  (void) argv;
  webnbd_unsupported (h, "nbd_aio_connect_command", "a browser cannot run a server as a subprocess: run it elsewhere and connect through a websockify bridge");
  return -1;
}

int
nbd_aio_connect_systemd_socket_activation (struct nbd_handle *h, char **argv)
{
  (void) argv;
  webnbd_unsupported (h, "nbd_aio_connect_systemd_socket_activation", "a browser cannot run a server as a subprocess: run it elsewhere and connect through a websockify bridge");
  return -1;
}

int
nbd_aio_opt_go (struct nbd_handle *h, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_go", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_abort (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_abort", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_list (struct nbd_handle *h, nbd_list_callback list_callback, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) list_callback.callback, (uintptr_t) list_callback.user_data, (uintptr_t) list_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_list", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_info (struct nbd_handle *h, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_info", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_list_meta_context (struct nbd_handle *h, nbd_context_callback context_callback, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_list_meta_context", a, 0, &r) == -1 ? -1 : (int) r;
}

int64_t
nbd_aio_pread (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { (uintptr_t) buf, count, offset, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_pread", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int64_t
nbd_aio_pread_structured (struct nbd_handle *h, void *buf, size_t count, uint64_t offset, nbd_chunk_callback chunk_callback, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { (uintptr_t) buf, count, offset, (uintptr_t) chunk_callback.callback, (uintptr_t) chunk_callback.user_data, (uintptr_t) chunk_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_pread_structured", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int64_t
nbd_aio_pwrite (struct nbd_handle *h, const void *buf, size_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { (uintptr_t) buf, count, offset, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_pwrite", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int
nbd_aio_disconnect (struct nbd_handle *h, uint32_t flags)
{
  const uint64_t a[] = { flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_disconnect", a, 0, &r) == -1 ? -1 : (int) r;
}

int64_t
nbd_aio_flush (struct nbd_handle *h, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_flush", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int64_t
nbd_aio_trim (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_trim", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int64_t
nbd_aio_cache (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_cache", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int64_t
nbd_aio_zero (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_zero", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int64_t
nbd_aio_block_status (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_extent_callback extent_callback, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) extent_callback.callback, (uintptr_t) extent_callback.user_data, (uintptr_t) extent_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_block_status", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int
nbd_aio_is_created (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_is_created", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_is_connecting (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_is_connecting", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_is_negotiating (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_is_negotiating", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_is_ready (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_is_ready", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_is_processing (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_is_processing", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_is_dead (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_is_dead", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_is_closed (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_is_closed", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_command_completed (struct nbd_handle *h, uint64_t cookie)
{
  const uint64_t a[] = { cookie };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_command_completed", a, 0, &r) == -1 ? -1 : (int) r;
}

int64_t
nbd_aio_peek_command_completed (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_peek_command_completed", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int
nbd_aio_in_flight (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_in_flight", a, 0, &r) == -1 ? -1 : (int) r;
}

const char *
nbd_connection_state (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_connection_state", a, 0, &r) == -1 ? NULL : (const char *) (uintptr_t) r;
}

const char *
nbd_get_package_name (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_package_name", a, 0, &r) == -1 ? NULL : (const char *) (uintptr_t) r;
}

const char *
nbd_get_version (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_version", a, 0, &r) == -1 ? NULL : (const char *) (uintptr_t) r;
}

int
nbd_supports_tls (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_supports_tls", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_supports_uri (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_supports_uri", a, 0, &r) == -1 ? -1 : (int) r;
}

char *
nbd_get_uri (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_uri", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_set_request_meta_context (struct nbd_handle *h, bool request)
{
  const uint64_t a[] = { request };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_request_meta_context", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_request_meta_context (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_request_meta_context", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_socket_activation_name (struct nbd_handle *h, const char *socket_name)
{
  const uint64_t a[] = { (uintptr_t) socket_name };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_socket_activation_name", a, 0, &r) == -1 ? -1 : (int) r;
}

char *
nbd_get_socket_activation_name (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_socket_activation_name", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_supports_vsock (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_supports_vsock", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_list_meta_context_queries (struct nbd_handle *h, char **queries, nbd_context_callback context_callback)
{
  const uint64_t a[] = { (uintptr_t) queries, (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_list_meta_context_queries", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_list_meta_context_queries (struct nbd_handle *h, char **queries, nbd_context_callback context_callback, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) queries, (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_list_meta_context_queries", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_set_meta_context (struct nbd_handle *h, nbd_context_callback context_callback)
{
  const uint64_t a[] = { (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_set_meta_context", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_set_meta_context (struct nbd_handle *h, nbd_context_callback context_callback, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_set_meta_context", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_set_meta_context_queries (struct nbd_handle *h, char **queries, nbd_context_callback context_callback)
{
  const uint64_t a[] = { (uintptr_t) queries, (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_set_meta_context_queries", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_set_meta_context_queries (struct nbd_handle *h, char **queries, nbd_context_callback context_callback, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) queries, (uintptr_t) context_callback.callback, (uintptr_t) context_callback.user_data, (uintptr_t) context_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_set_meta_context_queries", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_structured_reply (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_structured_reply", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_structured_reply (struct nbd_handle *h, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_structured_reply", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_starttls (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_starttls", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_starttls (struct nbd_handle *h, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_starttls", a, 0, &r) == -1 ? -1 : (int) r;
}

uint64_t
nbd_stats_bytes_sent (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_stats_bytes_sent", a, 0, &r) == -1 ? -1 : (uint64_t) r;
}

uint64_t
nbd_stats_chunks_sent (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_stats_chunks_sent", a, 0, &r) == -1 ? -1 : (uint64_t) r;
}

uint64_t
nbd_stats_bytes_received (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_stats_bytes_received", a, 0, &r) == -1 ? -1 : (uint64_t) r;
}

uint64_t
nbd_stats_chunks_received (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_stats_chunks_received", a, 0, &r) == -1 ? -1 : (uint64_t) r;
}

int
nbd_poll2 (struct nbd_handle *h, int fd, int timeout)
{
  const uint64_t a[] = { (int64_t) fd, (int64_t) timeout };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_poll2", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_set_request_extended_headers (struct nbd_handle *h, bool request)
{
  const uint64_t a[] = { request };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_request_extended_headers", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_request_extended_headers (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_request_extended_headers", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_get_extended_headers_negotiated (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_extended_headers_negotiated", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_opt_extended_headers (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_opt_extended_headers", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_opt_extended_headers (struct nbd_handle *h, nbd_completion_callback completion_callback)
{
  const uint64_t a[] = { (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_opt_extended_headers", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_can_block_status_payload (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_can_block_status_payload", a, 0, &r) == -1 ? -1 : (int) r;
}

int
nbd_block_status_64 (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_extent64_callback extent64_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) extent64_callback.callback, (uintptr_t) extent64_callback.user_data, (uintptr_t) extent64_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_block_status_64", a, 1, &r) == -1 ? -1 : (int) r;
}

int64_t
nbd_aio_block_status_64 (struct nbd_handle *h, uint64_t count, uint64_t offset, nbd_extent64_callback extent64_callback, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) extent64_callback.callback, (uintptr_t) extent64_callback.user_data, (uintptr_t) extent64_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_block_status_64", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int
nbd_block_status_filter (struct nbd_handle *h, uint64_t count, uint64_t offset, char **contexts, nbd_extent64_callback extent64_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) contexts, (uintptr_t) extent64_callback.callback, (uintptr_t) extent64_callback.user_data, (uintptr_t) extent64_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_block_status_filter", a, 1, &r) == -1 ? -1 : (int) r;
}

int64_t
nbd_aio_block_status_filter (struct nbd_handle *h, uint64_t count, uint64_t offset, char **contexts, nbd_extent64_callback extent64_callback, nbd_completion_callback completion_callback, uint32_t flags)
{
  const uint64_t a[] = { count, offset, (uintptr_t) contexts, (uintptr_t) extent64_callback.callback, (uintptr_t) extent64_callback.user_data, (uintptr_t) extent64_callback.free, (uintptr_t) completion_callback.callback, (uintptr_t) completion_callback.user_data, (uintptr_t) completion_callback.free, flags };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_block_status_filter", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

int
nbd_set_tls_hostname (struct nbd_handle *h, const char *hostname)
{
  const uint64_t a[] = { (uintptr_t) hostname };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_set_tls_hostname", a, 0, &r) == -1 ? -1 : (int) r;
}

char *
nbd_get_tls_hostname (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_tls_hostname", a, 0, &r) == -1 ? NULL : (char *) (uintptr_t) r;
}

int
nbd_is_uri (struct nbd_handle *h, const char *uri)
{
  const uint64_t a[] = { (uintptr_t) uri };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_is_uri", a, 0, &r) == -1 ? -1 : (int) r;
}

int64_t
nbd_get_subprocess_pid (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_subprocess_pid", a, 0, &r) == -1 ? -1 : (int64_t) r;
}

const char *
nbd_get_version_extra (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_version_extra", a, 0, &r) == -1 ? NULL : (const char *) (uintptr_t) r;
}

ssize_t
nbd_get_handle_size (struct nbd_handle *h)
{
  const uint64_t *a = NULL;
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_get_handle_size", a, 0, &r) == -1 ? -1 : (ssize_t) r;
}

int
nbd_connect_websocket (struct nbd_handle *h, const char *url)
{
  const uint64_t a[] = { (uintptr_t) url };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_connect_websocket", a, 1, &r) == -1 ? -1 : (int) r;
}

int
nbd_aio_connect_websocket (struct nbd_handle *h, const char *url)
{
  const uint64_t a[] = { (uintptr_t) url };
  int64_t r = 0;
  return webnbd_invoke (h, "nbd_aio_connect_websocket", a, 0, &r) == -1 ? -1 : (int) r;
}
