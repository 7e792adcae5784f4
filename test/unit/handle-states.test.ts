// The handshake as states (web/core/states.ts): nbd_connection_state names the option in flight,
// as libnbd's does, during the handshake and during each opt-mode call; and the table of states
// itself is whole (every state reachable from START, documented, with a way on).

import { describe, expect, it } from 'vitest';
import { STATES, TRANSITIONS, type State } from '../../web/core/states.js';
import { serveDisk } from '../support/fake-server.js';
import { memoryHandle } from '../support/memory.js';

const name = (state: string) => state.split(':')[0]!;

describe('nbd_connection_state names the option in flight', () => {
  it('connection-state-walks-the-handshake-one-option-at-a-time', async () => {
    // One byte per message: every state the handle waits in is seen.
    const { h } = memoryHandle(serveDisk({ size: 4096 }).handler, 'bytes');
    h.addMetaContext('base:allocation');
    h.aioConnectUri('nbd://fake/');
    const seen: string[] = [];
    while (!h.aioIsReady()) {
      const s = name(h.connectionState());
      if (!s.endsWith('_PAYLOAD') && seen.at(-1) !== s) seen.push(s);
      await h.poll();
    }
    seen.push(name(h.connectionState()));
    expect(seen).toEqual([
      'CONNECT', 'MAGIC.RECV_MAGIC', 'NEWSTYLE.RECV_GFLAGS', 'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY',
      'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY', 'NEWSTYLE.OPT_GO.RECV_REPLY', 'READY',
    ]);
    expect(h.connectionState()).toBe(`READY: ${STATES.READY.doc}`);
  });

  it('connection-state-names-each-opt-mode-call-while-its-replies-are-awaited', async () => {
    const { h } = memoryHandle(serveDisk({ size: 4096 }).handler, 'whole');
    h.addMetaContext('base:allocation');
    h.setOptMode(true);
    await h.connectUri('nbd://fake/');
    const during = async (call: () => Promise<unknown>) => {
      const p = call();
      const s = name(h.connectionState());
      await p;
      return [s, name(h.connectionState())];
    };
    expect(name(h.connectionState())).toBe('NEGOTIATING');
    expect(await during(() => h.optList(() => 0))).toEqual(['NEWSTYLE.OPT_LIST.RECV_REPLY', 'NEGOTIATING']);
    expect(await during(() => h.optListMetaContext(() => 0))).toEqual(['NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY', 'NEGOTIATING']);
    h.setRequestMetaContext(false);
    expect(await during(() => h.optInfo())).toEqual(['NEWSTYLE.OPT_GO.RECV_REPLY', 'NEGOTIATING']);
    h.setRequestMetaContext(true);
    expect(await during(() => h.optGo())).toEqual(['NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY', 'READY']);
  });
});

describe('the table of states', () => {
  it('every-state-is-reachable-documented-and-has-a-way-on', () => {
    const all = Object.keys(STATES) as State[];
    const reached = new Set<State>(['START', 'DEAD', 'CLOSED']);
    for (let grew = true; grew;) {
      grew = false;
      for (const s of [...reached]) {
        for (const t of TRANSITIONS[s] as readonly State[]) if (!reached.has(t)) { reached.add(t); grew = true; }
      }
    }
    expect(all.filter((s) => !reached.has(s))).toEqual([]);
    for (const s of all) {
      expect(STATES[s].doc, s).not.toBe('');
      if (s !== 'DEAD' && s !== 'CLOSED') expect(TRANSITIONS[s].length, s).toBeGreaterThan(0);
    }
  });
});
