// Registers every webnbd element (so far <nbd-hexdump>); pages import this one module.
export * from './nbd-hexdump-define.js';
