// The shadow styles of <nbd-hexdump>. Colours default to CSS system colours, so the element
// follows the page's light or dark colour-scheme; every one can be set by a custom property.

export const STYLE = `
:host {
  display: flex; flex-direction: column; position: relative;
  color: var(--nbd-hexdump-color, CanvasText); background: var(--nbd-hexdump-background, Canvas);
  font-family: var(--nbd-hexdump-font, ui-monospace, "DejaVu Sans Mono", monospace);
  font-size: var(--nbd-hexdump-font-size, 13px); line-height: var(--nbd-hexdump-line-height, 1.3);
  color-scheme: inherit; outline: none;
}
:host([hidden]) { display: none; }
:host(:focus-visible) { outline: 2px solid var(--nbd-hexdump-focus-color, Highlight); outline-offset: 1px; }
[part~=scroller] { flex: 1 1 auto; min-height: 0; overflow: auto; max-height: var(--nbd-hexdump-max-height, 33lh); overscroll-behavior: contain; overflow-anchor: none; }
[part~=dump] { position: sticky; top: 0; left: 0; overflow: hidden; white-space: pre; width: max-content; min-width: 100%; }
.filler { width: 1px; }
.row { height: 1lh; user-select: none; }
.row.loading { color: var(--nbd-hexdump-loading-color, GrayText); }
.row.loading::after { content: "  …"; }
[part~=offset] { color: var(--nbd-hexdump-offset-color, inherit); }
[part~=star] { color: var(--nbd-hexdump-star-color, inherit); }
.b, .c { cursor: default; }
.zero { color: var(--nbd-hexdump-zero-color, inherit); }
.hl { background: var(--nbd-hexdump-highlight-background, color-mix(in srgb, Highlight 35%, transparent)); }
.mk { background: var(--nbd-hexdump-mark-background, color-mix(in srgb, #f0883e 45%, transparent)); }
.sel { background: var(--nbd-hexdump-selection-background, Highlight); color: var(--nbd-hexdump-selection-color, HighlightText); }
[part~=status] { font-family: system-ui, sans-serif; color: var(--nbd-hexdump-status-color, GrayText); padding: .25em 0; }
[part~=status]:empty { display: none; }
:host([data-state=error]) [part~=status] { color: var(--nbd-hexdump-error-color, #c00); }
`;
