// The events <nbd-hexdump> fires. All bubble and are composed (they cross shadow roots).

/** The range was read and its first screen shown (fired once per src/export/offset/length/format). */
export class NbdLoadEvent extends Event {
  constructor(readonly offset: bigint, readonly length: bigint, readonly size: bigint) {
    super('nbd-load', { bubbles: true, composed: true });
  }
}

/** Connecting or reading failed: the errno number, its name (`code`) and a plain-words message. */
export class NbdErrorEvent extends Event {
  constructor(readonly errno: number, readonly code: string, readonly message: string) {
    super('nbd-error', { bubbles: true, composed: true });
  }
}

/** The first row on screen changed (scrolling, keys, `position`): `position` is its offset. */
export class NbdPositionEvent extends Event {
  constructor(readonly position: bigint) {
    super('nbd-position', { bubbles: true, composed: true });
  }
}

/** The byte selection changed: bytes [start, end), or null when nothing is selected. */
export class NbdSelectEvent extends Event {
  constructor(readonly selection: { start: bigint; end: bigint } | null) {
    super('nbd-select', { bubbles: true, composed: true });
  }
}

declare global {
  interface HTMLElementEventMap {
    'nbd-load': NbdLoadEvent;
    'nbd-error': NbdErrorEvent;
    'nbd-position': NbdPositionEvent;
    'nbd-select': NbdSelectEvent;
  }
}
