// Writes the C side of the emscripten port from the tables: wasm/include/libnbd.h (libnbd's
// header, as libnbd's generator lays it out) and wasm/src/calls.c (one wrapper per call that packs
// its arguments for the runtime). Both are committed; `npm run generate` (scripts/generate/) writes
// them and test/unit/generated.test.ts checks they are current.

import { API, type ApiName, type Call } from '../../web/core/api.js';
import * as T from '../../web/core/types.js';
import { C_API, CALLBACK_KINDS, kindOf, type CFunction } from './capi.js';

const HEADER_NOTE = `/* NBD client library in userspace: webnbd's emscripten port.
 * WARNING: THIS FILE IS GENERATED FROM wasm/runtime/capi.ts by wasm/runtime/generate.ts.
 * ANY CHANGES YOU MAKE TO THIS FILE WILL BE LOST.
 *
 * The same API as libnbd 1.14's <libnbd.h> (Copyright (C) 2013-2021 Red Hat Inc., LGPLv2+),
 * so programs written for libnbd run unchanged. Read wasm/README.md for what differs in a
 * browser: nbd_connect_unix takes the ws:// URL of a websockify bridge, and calls that need
 * sockets, subprocesses or TLS certificates fail with ENOTSUP.
 */`;

/** Constants from the core's types.ts, grouped as libnbd's header groups them. */
function constants(): string {
  const t = T as unknown as Record<string, number>;
  const group = (prefix: string, flags: boolean, extra: [string, number][] = []) => {
    const names = Object.keys(t).filter((k) => k.startsWith(prefix) && typeof t[k] === 'number');
    // In value order, the mask last, as libnbd lists them.
    const rank = ([k, v]: [string, number]) => (k.endsWith('_MASK') ? Infinity : v);
    const entries = [...names.map((k): [string, number] => [k, t[k]!]), ...extra].sort((a, b) => rank(a) - rank(b));
    const fmt = (v: number) => (flags ? `0x${v.toString(16).padStart(2, '0')}U` : String(v));
    return entries.map(([k, v]) => `#define ${`LIBNBD_${k}`.padEnd(40)} ${fmt(v)}`).join('\n');
  };
  return [
    group('TLS_', false),
    group('SIZE_', false),
    group('CMD_FLAG_', true),
    group('HANDSHAKE_FLAG_', true),
    group('STRICT_', true),
    group('ALLOW_TRANSPORT_', true, [['ALLOW_TRANSPORT_TCP', 1], ['ALLOW_TRANSPORT_UNIX', 2], ['ALLOW_TRANSPORT_VSOCK', 4], ['ALLOW_TRANSPORT_MASK', 7]]),
    group('SHUTDOWN_', true),
    group('AIO_DIRECTION_', false, [['AIO_DIRECTION_READ', 1], ['AIO_DIRECTION_WRITE', 2], ['AIO_DIRECTION_BOTH', 3]]) + '\n' + group('READ_', false),
  ].join('\n\n');
}

/** The callback structs, in the header's (alphabetical) order. */
const CALLBACKS: [string, string][] = [
  ['chunk', 'int (*callback) (void *user_data, const void *subbuf, size_t count,\n                   uint64_t offset, unsigned status, int *error);'],
  ['completion', 'int (*callback) (void *user_data, int *error);'],
  ['debug', 'int (*callback) (void *user_data, const char *context, const char *msg);'],
  ['extent', 'int (*callback) (void *user_data, const char *metacontext,\n                   uint64_t offset, uint32_t *entries, size_t nr_entries,\n                   int *error);'],
  ['extent64', 'int (*callback) (void *user_data, const char *metacontext,\n                   uint64_t offset, nbd_extent *entries,\n                   size_t nr_entries, int *error);'],
  ['list', 'int (*callback) (void *user_data, const char *name,\n                   const char *description);'],
  ['context', 'int (*callback) (void *user_data, const char *name);'],
];

function callbackTypes(): string {
  return CALLBACKS.map(([k, cb]) => {
    const pre = k === 'extent64' ? '/* Added in libnbd 1.18, for nbd_block_status_64. */\ntypedef struct {\n  uint64_t length;\n  uint64_t flags;\n} nbd_extent;\n\n' : '';
    return `${pre}typedef struct {\n  ${cb}\n  void *user_data;\n  void (*free) (void *user_data);\n} nbd_${k}_callback;\n#define LIBNBD_HAVE_NBD_${k.toUpperCase()}_CALLBACK 1\n`;
  }).join('\n');
}

const isPointer = (p: string) => p.includes('*') && !p.includes('(*');

/** All the C parameters, `struct nbd_handle *h` first unless the function takes no handle. */
export const allParams = (f: CFunction): string[] => (f.handle === false ? f.params : ['struct nbd_handle *h', ...f.params]);

/** `extern RET NAME (PARAMS)`, wrapped at 80 columns under the opening parenthesis as libnbd does. */
function prototype(f: CFunction, lead: string): string {
  const ret = f.ret.endsWith('*') ? `${f.ret}` : `${f.ret} `;
  const head = `${lead}${ret}${f.c} (`;
  const ps = allParams(f);
  const lines: string[] = [];
  let line = head;
  ps.forEach((p, i) => {
    const piece = p + (i < ps.length - 1 ? ',' : ')');
    if (line !== head && line.length + 1 + piece.length > 79) {
      lines.push(line);
      line = ' '.repeat(head.length) + piece;
    } else {
      line += (line === head ? '' : ' ') + piece;
    }
  });
  lines.push(line);
  return lines.join('\n');
}

function declaration(f: CFunction): string {
  const attrs: string[] = [];
  if (f.c === 'nbd_create') attrs.push('LIBNBD_ATTRIBUTE_ALLOC_DEALLOC(nbd_close)');
  else if (f.ret === 'char *') attrs.push('LIBNBD_ATTRIBUTE_ALLOC_DEALLOC(__builtin_free)');
  const nonnull = allParams(f).flatMap((p, i) => (isPointer(p) ? [i + 1] : []));
  if (f.handle !== false && f.c !== 'nbd_close') attrs.push(`LIBNBD_ATTRIBUTE_NONNULL(${nonnull.join(',')})`);
  const note = f.c === 'nbd_close' ? ' /* h can be NULL */' : '';
  const unsupported = 'unsupported' in f.impl ? `/* In webnbd this fails with ENOTSUP: ${f.impl.unsupported}. */\n` : '';
  const decl = prototype(f, 'extern ') + attrs.map((a) => `\n    ${a}`).join('') + `;${note}`;
  return `${unsupported}${decl}\n#define ${f.webnbd ? 'WEBNBD' : 'LIBNBD'}_HAVE_${f.c.toUpperCase()} 1\n`;
}

/** wasm/include/libnbd.h */
export function generateHeader(): string {
  const first = C_API.filter((f) => f.handle === false);
  const rest = C_API.filter((f) => f.handle !== false && !f.since && !f.webnbd);
  const newer = C_API.filter((f) => f.since);
  const ours = C_API.filter((f) => f.webnbd);
  return `${HEADER_NOTE}

#ifndef LIBNBD_H
#define LIBNBD_H

/* This is the public interface to libnbd, a client library for
 * accessing Network Block Device (NBD) servers.
 *
 * Please read the libnbd(3) manual page to
 * find out how to use this library.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LIBNBD_GCC_VERSION \\
    (__GNUC__ * 10000 + __GNUC_MINOR__ * 100 + __GNUC_PATCHLEVEL__)
#endif

#ifndef LIBNBD_ATTRIBUTE_NONNULL
#if defined(__GNUC__) && LIBNBD_GCC_VERSION >= 120000 /* gcc >= 12.0 */
#define LIBNBD_ATTRIBUTE_NONNULL(...) __attribute__((__nonnull__(__VA_ARGS__)))
#else
#define LIBNBD_ATTRIBUTE_NONNULL(...)
#endif
#endif /* ! defined LIBNBD_ATTRIBUTE_NONNULL */

#if defined(__GNUC__) && LIBNBD_GCC_VERSION >= 120000 /* gcc >= 12.0 */
#define LIBNBD_ATTRIBUTE_ALLOC_DEALLOC(fn) \\
  __attribute__((__malloc__, __malloc__(fn, 1)))
#else
#define LIBNBD_ATTRIBUTE_ALLOC_DEALLOC(fn)
#endif

struct nbd_handle;

${constants()}

${first.map(declaration).join('\n')}
/* These are used for callback parameters.  They are passed
 * by value not by reference.  See CALLBACKS in libnbd(3).
 */
${callbackTypes()}
/* Note NBD_NULL_* are only generated for callbacks which are
 * optional.  (See OClosure in the generator).
 */
#define NBD_NULL_COMPLETION ((nbd_completion_callback) { .callback = NULL })

${rest.map(declaration).join('\n')}
/* Calls added after libnbd 1.14 that webnbd has. */

${newer.map((f) => `/* Added in libnbd ${f.since}. */\n${declaration(f)}`).join('\n')}
/* webnbd's own: connect to a websockify bridge by its ws:// or wss:// URL. */

${ours.map(declaration).join('\n')}
/* "base" namespace */
#define LIBNBD_NAMESPACE_BASE "base:"

/* "base" namespace contexts */
#define LIBNBD_CONTEXT_BASE_ALLOCATION "base:allocation"

/* "base:allocation" context related constants */
#define LIBNBD_STATE_HOLE                     1
#define LIBNBD_STATE_ZERO                     2

#ifdef __cplusplus
}
#endif

#endif /* LIBNBD_H */
`;
}

/** The C expressions that fill the argument slots, in the order the runtime reads them. */
function slots(f: CFunction & { impl: { core: ApiName } }): string[] {
  const name = (p: string) => /([A-Za-z_][A-Za-z0-9_]*)$/.exec(p)![1]!;
  const out: string[] = [];
  let j = 0;
  for (const a of API[f.impl.core].args) {
    const k = kindOf(a);
    if (k === 'options') continue;
    const p = f.params[j++]!;
    if (k === 'buf-out' || k === 'buf-in') out.push(`(uintptr_t) ${name(p)}`, name(f.params[j++]!));
    else if (CALLBACK_KINDS.includes(k)) out.push(...['callback', 'user_data', 'free'].map((m) => `(uintptr_t) ${name(p)}.${m}`));
    else if (isPointer(p)) out.push(`(uintptr_t) ${name(p)}`);
    else out.push(k === 'int' || k === 'timeout' ? `(int64_t) ${name(p)}` : name(p));
  }
  return out;
}

function wrapper(f: CFunction): string | null {
  if ('shim' in f.impl) return null;
  const head = `${f.ret}\n${f.c} (${allParams(f).join(', ')})\n{\n`;
  const pointer = f.ret.endsWith('*');
  if ('unsupported' in f.impl) {
    const fail = f.ret === 'unsigned' ? '0' : pointer ? 'NULL' : '-1';
    const unused = f.params.map((p) => `  (void) ${/([A-Za-z_][A-Za-z0-9_]*)$/.exec(p)![1]};\n`).join('');
    return `${head}${unused}  webnbd_unsupported (h, "${f.c}", ${JSON.stringify(f.impl.unsupported)});\n  return ${fail};\n}\n`;
  }
  const s = slots(f as CFunction & { impl: { core: ApiName } });
  const args = s.length ? `  const uint64_t a[] = { ${s.join(', ')} };\n` : '  const uint64_t *a = NULL;\n';
  const async = (API[f.impl.core] as Call).async ? 1 : 0;
  const call = `webnbd_invoke (h, "${f.c}", a, ${async}, &r)`;
  const ret = pointer ? `  return ${call} == -1 ? NULL : (${f.ret}) (uintptr_t) r;\n` : `  return ${call} == -1 ? -1 : (${f.ret}) r;\n`;
  return `${head}${args}  int64_t r = 0;\n${ret}}\n`;
}

/** wasm/src/calls.c */
export function generateCalls(): string {
  return `/* webnbd's emscripten port: libnbd's calls, each packing its arguments into 64-bit slots for
 * the runtime (wasm/runtime/runtime.ts), which unpacks them by the kinds in web/core/api.ts.
 * WARNING: THIS FILE IS GENERATED FROM wasm/runtime/capi.ts by wasm/runtime/generate.ts.
 */

#include <stddef.h>
#include <stdint.h>

#include "libnbd.h"
#include "webnbd.h"

${C_API.map(wrapper).filter((w) => w !== null).join('\n')}`;
}
