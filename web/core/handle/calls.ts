// The calls the handle state answers alone, by API name: settings, what the server said, the
// public state. NbdHandle's methods run them on its engine's state; the page's client runs the
// same functions on the copy it holds, without asking the worker.

import type { ApiName, Method, Same } from '../api.js';
import { ABOUT } from './about.js';
import { FLAGS } from './flags.js';
import { SETTINGS } from './settings.js';
import { STATE_CALLS, type HandleState } from './state.js';

export const STATE_BODIES = { ...SETTINGS, ...FLAGS, ...STATE_CALLS, ...ABOUT };

/** Compile-time: each body takes the state, then exactly its row's arguments, and returns its result. */
type Body<K extends ApiName> = (s: HandleState, ...args: Parameters<Method<K>>) => ReturnType<Method<K>>;
type Wrong = { [K in keyof typeof STATE_BODIES]: Same<(typeof STATE_BODIES)[K], Body<K>> extends true ? never : K }[keyof typeof STATE_BODIES];
export const BODIES_AGREE: [Wrong] extends [never] ? true : Wrong = true;
