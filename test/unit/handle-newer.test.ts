// The calls libnbd added after 1.14 (to 1.24), against the reference fake server where no Debian
// server speaks them (extended headers, filtered block status): each with its man page's result
// and libnbd's errors. The same calls against nbdkit and qemu-nbd: test/servers/tls.test.ts.

import { describe, expect, it } from 'vitest';
import { NbdHandle } from '../../web/core/handle.js';
import * as T from '../../web/core/types.js';
import { serveDisk, type ServeDiskOptions } from '../support/fake-server.js';
import type { NbdRequest } from '../support/fake-conn.js';
import { memoryLink } from '../support/memory.js';

/** A handle in opt mode on the fake server; `tls`: as where the environment has TLS (Node). */
async function negotiating(opts: ServeDiskOptions, setup?: (h: NbdHandle) => void, tls = false) {
  const server = serveDisk(opts);
  const link = memoryLink(server.handler, 'bytes');
  const h = new NbdHandle({ transports: tls ? { ...link.transports, tls: { localUser: () => 'tester' } } : link.transports });
  h.setOptMode(true);
  setup?.(h);
  await h.connectUri('nbd://fake/');
  return { h, server };
}

const B0 = 'qemu:dirty-bitmap:b0';
const withBitmap: ServeDiskOptions = {
  size: 1 << 20,
  contexts: [{ name: B0, extents: (_o, length) => [[length, 1]] }],
};

describe('what this libnbd is', () => {
  it('reports the libnbd 1.24 API level and what it supports', () => {
    const h = new NbdHandle();
    expect(h.getVersion()).toBe('1.24.0');
    expect(h.getPackageName()).toBe('webnbd');
    expect(h.getVersionExtra()).toBe('');
    expect([h.supportsTls(), h.supportsVsock(), h.supportsUri()]).toEqual([false, false, true]);
    expect(new NbdHandle({ transports: { tls: { localUser: () => 'u' } } }).supportsTls()).toBe(true);
  });

  it('is-uri-as-libnbd-heuristic', () => {
    const h = new NbdHandle();
    for (const u of ['nbd://h/', 'NBDS://h', 'nbd+unix:///?socket=s', 'nbds+vsock://1', 'nbd+ssh://h', 'nbd+ws://h:1/', 'nbds+wss://h/']) expect(h.isUri(u), u).toBe(true);
    for (const u of ['disk.img', '/dev/nbd0', 'http://h/', 'nbdx://h', '']) expect(h.isUri(u), u).toBe(false);
  });

  it('has no subprocess, and a handle size that grows with what it holds', () => {
    const h = new NbdHandle();
    expect(() => h.getSubprocessPid()).toThrow(/^nbd_get_subprocess_pid: handle does not have a subprocess: No such process$/);
    const before = h.getHandleSize();
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) h.addMetaContext(`x:context-${i}`);
    expect(h.getHandleSize()).toBeGreaterThan(before + 2000);
  });

  it('keeps a socket activation name as libnbd checks it', () => {
    const h = new NbdHandle();
    expect(h.getSocketActivationName()).toBe('');
    h.setSocketActivationName('nbd0');
    expect(h.getSocketActivationName()).toBe('nbd0');
    expect(() => h.setSocketActivationName('a-b')).toThrow(/only alphanumeric ASCII characters: Invalid argument/);
    expect(() => h.setSocketActivationName('x'.repeat(33))).toThrow(/<= 32 characters: File name too long/);
    expect(h.getSocketActivationName()).toBe('nbd0');
  });

  it('poll2 takes no descriptor but -1', async () => {
    const { h } = await negotiating({ size: 512 });
    expect(await h.poll2(-1, 0)).toBe(0);
    await expect(h.poll2(3, 0)).rejects.toThrow(/^nbd_poll2: webnbd has no file descriptors to poll: pass -1/);
  });
});

describe('TLS where there is none (a browser)', () => {
  it('tls-calls-say-enotsup-with-the-reason', async () => {
    const h = new NbdHandle();
    const why = /TLS is not supported here: in a browser, TLS is wss:\/\/ to the bridge \(use an nbds\+wss:\/\/ URI\): Operation not supported$/;
    expect(() => h.setTls(T.TLS_ALLOW)).toThrow(why);
    expect(() => h.setTlsCertificates('/etc/pki/libnbd')).toThrow(why);
    expect(() => h.setTlsPskFile('keys.psk')).toThrow(why);
    await expect(h.connectUri('nbds://example.com/')).rejects.toThrow(why);
    expect(h.getTls()).toBe(T.TLS_DISABLE);
    // Names and flags are kept regardless (nbd_set_tls_username(3): "regardless of whether TLS is supported").
    h.setTlsUsername('alice');
    h.setTlsHostname('server.example');
    h.setTlsVerifyPeer(false);
    expect([h.getTlsUsername(), h.getTlsHostname(), h.getTlsVerifyPeer()]).toEqual(['alice', 'server.example', false]);
    expect(() => h.setTls(7)).toThrow(/^nbd_set_tls: tls: invalid value for parameter: 7/);
    const { h: n } = await negotiating({ size: 512 });
    await expect(n.optStarttls()).rejects.toThrow(why);
  });

  it('with TLS available, a server that refuses it: allow goes on in clear, require fails', async () => {
    const { h } = await negotiating({ size: 512 }, (x) => x.setTls(T.TLS_ALLOW), true);
    expect(h.getTlsNegotiated()).toBe(false);
    expect(h.getTlsUsername()).toBe('tester');
    expect(await h.optStarttls()).toBe(false);
    await h.optGo();
    expect(h.aioIsReady()).toBe(true);
    const err = await negotiating({ size: 512 }, (x) => x.setTls(T.TLS_REQUIRE), true).catch((e: unknown) => e);
    expect(String(err)).toBe("NbdError: nbd_connect_uri: handshake: server refused TLS, but handle TLS setting is 'require' (2): Operation not supported");
    const old = await negotiating({ size: 512, handshake: 'oldstyle' }, (x) => x.setTls(T.TLS_REQUIRE), true).catch((e: unknown) => e);
    expect(String(old)).toMatch(/handshake: server is oldstyle, but handle TLS setting is 'require' \(2\)/);
  });
});

describe('options one at a time (opt mode)', () => {
  it('opt_structured_reply and opt_extended_headers say whether the server agreed', async () => {
    const { h } = await negotiating({ size: 512 }, (x) => x.setRequestStructuredReplies(false));
    expect(h.getStructuredRepliesNegotiated()).toBe(false);
    expect(await h.optStructuredReply()).toBe(true);
    expect(h.getStructuredRepliesNegotiated()).toBe(true);
    expect(h.getExtendedHeadersNegotiated()).toBe(false);
    // Extended headers after structured replies: the server may take them too.
    expect(await h.optExtendedHeaders()).toBe(true);
    expect(h.getExtendedHeadersNegotiated()).toBe(true);
    // Structured replies again, now that extended headers are in: refused, and nothing undone.
    expect(await h.optStructuredReply()).toBe(false);
    expect([h.getStructuredRepliesNegotiated(), h.getExtendedHeadersNegotiated()]).toEqual([true, true]);
    const errs: number[] = [];
    await new Promise<void>((resolve) => h.aioOptStructuredReply((e) => { errs.push(e.value); resolve(); }));
    expect(errs).toEqual([0]);
    await h.optGo();
    expect(h.getExtendedHeadersNegotiated()).toBe(true);
  });

  it('opt_set_meta_context(_queries) and opt_list_meta_context_queries', async () => {
    const { h } = await negotiating(withBitmap, (x) => x.addMetaContext('base:allocation'));
    const listed: string[] = [];
    expect(await h.optListMetaContextQueries(['qemu:'], (n) => void listed.push(n))).toBe(1);
    expect(listed).toEqual([B0]);
    const set: string[] = [];
    expect(await h.optSetMetaContext((n) => void set.push(n))).toBe(1);
    expect(set).toEqual(['base:allocation']);
    const set2: string[] = [];
    expect(await h.optSetMetaContextQueries([B0, 'nosuch:context'], (n) => void set2.push(n))).toBe(1);
    expect(set2).toEqual([B0]);
    // What SET chose is what the handle holds until GO asks again for nbd_add_meta_context's.
    h.setRequestMetaContext(false);
    await h.optGo();
    expect([h.canMetaContext(B0), h.canMetaContext('base:allocation')]).toEqual([true, false]);
  });

  it('opt_list_meta_context_queries needs structured replies; bad queries are refused', async () => {
    const { h } = await negotiating({ size: 512 }, (x) => x.setRequestStructuredReplies(false));
    await expect(h.optListMetaContextQueries([], () => 0)).rejects.toThrow(/^nbd_opt_list_meta_context_queries: server does not support structured replies/);
    await expect(h.optSetMetaContextQueries(['a', 3 as unknown as string], () => 0)).rejects.toThrow(/argument 1: expected a list of strings: Invalid argument/);
  });
});

describe('block status filtered by context (extended headers)', () => {
  it('block-status-filter-asks-for-the-named-contexts-only', async () => {
    const reqs: NbdRequest[] = [];
    const { h } = await negotiating({ ...withBitmap, hooks: { onRequest: (r) => void reqs.push(r) } }, (x) => { x.addMetaContext('base:allocation'); x.addMetaContext(B0); });
    await h.optGo();
    expect(h.canBlockStatusPayload()).toBe(true);
    const seen: [string, bigint, T.Extent64[]][] = [];
    await h.blockStatusFilter(65536, 0, [B0], (ctx, off, entries) => void seen.push([ctx, off, entries]));
    expect(seen).toEqual([[B0, 0n, [{ length: 65536n, flags: 1n }]]]);
    // On the wire: NBD_CMD_FLAG_PAYLOAD_LEN; the payload is the effect length, then the context's id.
    const r = reqs.at(-1)!;
    expect(r.flags & 0x20).toBe(0x20);
    expect([...r.payload!]).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2]);
    const cookie = h.aioBlockStatusFilter(512, 0, ['base:allocation'], () => 0);
    while (!h.aioCommandCompleted(cookie)) await h.poll(-1);
    expect(() => h.aioBlockStatusFilter(512, 0, ['nosuch:ctx'], () => 0)).toThrow(/^nbd_aio_block_status_filter: server did not negotiate meta context nosuch:ctx: Invalid argument/);
    expect(() => h.aioBlockStatusFilter(512, 0, [], () => 0)).toThrow(/the filter must name at least one meta context/);
  });

  it('needs extended headers', async () => {
    const { h } = await negotiating(withBitmap, (x) => { x.setRequestExtendedHeaders(false); x.addMetaContext(B0); });
    await h.optGo();
    await expect(h.blockStatusFilter(512, 0, [B0], () => 0)).rejects.toThrow(/^nbd_block_status_filter: server did not negotiate extended headers: Operation not supported/);
  });
});

describe('since', () => {
  it('extended-header calls are libnbd 1.18 calls', async () => {
    const { API } = await import('../../web/core/api.js');
    for (const k of ['setRequestExtendedHeaders', 'getExtendedHeadersNegotiated', 'blockStatus64', 'optExtendedHeaders', 'blockStatusFilter'] as const) expect(API[k].since, k).toBe('1.18');
  });
});
