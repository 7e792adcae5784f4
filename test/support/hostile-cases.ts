// Fuzz cases, from dumb to clever: random bytes; a valid greeting then random bytes; and
// structure-aware streams (hostile-stream.ts: a valid handshake of any style, or opt mode with
// its calls, then replies built for the commands) mutated and re-cut, so the fuzzer gets past the
// magic and deep into replies. fuzzProperty is what test/fuzz.test.ts and `npm run fuzz` check.

import fc from 'fast-check';
import * as B from './bytes.js';
import { runCase, type FuzzCase, type OptKind } from './hostile-fuzz.js';
import {
  cancelsArb, clientArb, cmdArb, endArb, handshake, mutate, mutationArb, optReplies, planArb, reply, resplit, sanitize, shapeArb,
  type Mutation, type Negotiated, type Plan, type Shape,
} from './hostile-stream.js';

const bytesArb = (max: number) => fc.array(fc.uint8Array({ maxLength: max }), { maxLength: 6 });
const baseArb = fc.record({ client: clientArb, commands: fc.array(cmdArb, { minLength: 1, maxLength: 5 }), cancels: cancelsArb, end: endArb });

/** Purely random server bytes. */
export const randomCaseArb: fc.Arbitrary<FuzzCase> = fc.record({ base: baseArb, handshake: bytesArb(64), replies: bytesArb(96) })
  .map(({ base, handshake: h, replies }) => ({ label: 'random', ...base, handshake: h, replies }));

/** A valid greeting, then random bytes. */
export const greetingCaseArb: fc.Arbitrary<FuzzCase> = fc.record({ base: baseArb, fixed: fc.boolean(), handshake: bytesArb(48), replies: bytesArb(96) })
  .map(({ base, fixed, handshake: h, replies }) => ({
    label: 'greeting+random', ...base,
    handshake: [B.newstyleGreeting((fixed ? B.NBD_FLAG_FIXED_NEWSTYLE : 0) | B.NBD_FLAG_NO_ZEROES), ...h], replies,
  }));

/** What structure-aware cases share: the server's shape, reply plans, mutations, re-cuts. */
const deepArb = fc.record({
  base: baseArb,
  shape: shapeArb,
  plans: fc.array(planArb, { minLength: 5, maxLength: 5 }),
  order: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
  random: fc.uint8Array({ maxLength: 64 }),
  mutations: fc.oneof({ weight: 2, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 3, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) }),
  cuts: fc.oneof(fc.constant<number[]>([]), fc.array(fc.nat(), { maxLength: 6 })),
  /** Leave the commands as generated (some will be refused, shifting every later cookie). */
  sloppy: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});
type Deep = typeof deepArb extends fc.Arbitrary<infer D> ? D : never;

/** Replies for the (sanitized) commands, in the planned order; mutations; the case. */
function assemble(d: Deep, label: string, shape: Shape, hs: Uint8Array[], neg: Negotiated, opt?: { calls: OptKind[]; replies: Uint8Array[][] }): FuzzCase {
  const base = d.sloppy ? d.base : { ...d.base, commands: d.base.commands.map((c) => sanitize(c, shape, neg, d.base.client)) };
  const n = base.commands.length;
  const plan = (i: number): Plan => d.plans[i]!;
  const answers = base.commands.map((cmd, i) => reply(plan(i), cmd, ((i + plan(i).cookieShift + n) % n) + 1, neg, d.random));
  const sequence = [...answers.keys()].sort((a, b) => d.order[a]! - d.order[b]! || a - b).flatMap((i) => answers[i]!);
  let handshakeSegs = hs;
  let replies = sequence;
  const optSegs = opt?.replies.map((r) => [...r]) ?? [];
  for (const m of d.mutations) {
    if (m.where === 'handshake') handshakeSegs = mutate(handshakeSegs, m);
    else if (m.where === 'replies') replies = mutate(replies, m);
    else if (optSegs.length) optSegs[m.seg % optSegs.length] = mutate(optSegs[m.seg % optSegs.length]!, { ...m, seg: m.pos });
  }
  return {
    label, ...base, handshake: handshakeSegs, replies: d.cuts.length ? resplit(replies, d.cuts) : replies,
    ...(opt ? { opt: { calls: opt.calls, replies: optSegs } } : {}),
  };
}

/** A valid handshake of any style and replies built for the commands, then mutated and re-cut. */
export const structuredCaseArb: fc.Arbitrary<FuzzCase> = deepArb.map((d) => {
  const { segs, neg } = handshake(d.shape, d.base.client);
  return assemble(d, 'structured', d.shape, segs, neg);
});

/** Opt mode: options (list, list meta contexts, info), usually ending with a GO, then commands. */
const optCallsArb = fc.record({
  first: fc.array(fc.constantFrom<OptKind>('list', 'listMeta', 'info'), { maxLength: 3 }),
  last: fc.oneof({ weight: 4, arbitrary: fc.constantFrom<OptKind>('go', 'aioGo') }, { weight: 1, arbitrary: fc.constant(null) }),
  good: fc.array(fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), { minLength: 4, maxLength: 4 }),
});
export const optCaseArb: fc.Arbitrary<FuzzCase> = fc.record({ d: deepArb, calls: optCallsArb }).map(({ d, calls }) => {
  const shape: Shape = { ...d.shape, style: 'fixed' };
  const { segs, neg } = handshake(shape, d.base.client, true);
  const kinds = [...calls.first, ...(calls.last ? [calls.last] : [])];
  const replies = kinds.map((k, i) => optReplies(k, calls.good[i]!, shape, d.base.client, neg));
  return assemble(d, 'opt', shape, segs, neg, { calls: kinds, replies });
});

/** The mix the fuzzer runs: mostly structure-aware. */
export const caseArb: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 1, arbitrary: randomCaseArb },
  { weight: 1, arbitrary: greetingCaseArb },
  { weight: 5, arbitrary: structuredCaseArb },
  { weight: 2, arbitrary: optCaseArb },
);

/** A case as text that pastes back into a test (hex segments). */
export function describeCase(c: FuzzCase): string {
  const hex = (segs: Uint8Array[]) => segs.map((s) => `'${B.hex(s)}'`).join(', ');
  return [
    `label: ${c.label}, end: ${c.end}`,
    `client: ${JSON.stringify(c.client)}`,
    `commands: ${JSON.stringify(c.commands)}`,
    `cancels: ${JSON.stringify(c.cancels)}`,
    `handshake: [${hex(c.handshake)}]`,
    ...(c.opt ? [`opt: ${JSON.stringify(c.opt.calls)} replies: [${c.opt.replies.map((r) => `[${hex(r)}]`).join(', ')}]`] : []),
    `replies: [${hex(c.replies)}]`,
  ].join('\n');
}

/** The property every case must hold: no broken invariant. A failure prints the case as hex. */
export const fuzzProperty = (arb: fc.Arbitrary<FuzzCase> = caseArb) => fc.asyncProperty(arb, async (c) => {
  const { problems } = await runCase(c);
  if (problems.length) throw new Error(`${problems.join('\n')}\n--- case ---\n${describeCase(c)}`);
});
