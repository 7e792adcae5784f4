// The few host facilities the core uses. Every JS host webnbd targets (Web Workers, pages,
// Node) provides them, unlike the rest of the DOM or Node APIs, which the core must not see.

declare var TextEncoder: { new (): { encode(input?: string): Uint8Array } };
declare var TextDecoder: { new (label?: string, options?: { fatal?: boolean }): { decode(input?: Uint8Array): string } };
declare function setTimeout(handler: () => void, ms?: number): unknown;
declare function clearTimeout(id: unknown): void;
declare const console: { error(...data: unknown[]): void };
