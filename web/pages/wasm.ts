// The example page for the emscripten port: runs a program compiled by `webnbd cc` in a Web
// Worker (wasm/runtime/worker.ts, bundled here by Vite) and shows its output as it comes.
import { runProgram } from '../../wasm/runtime/run.js';

const form = document.querySelector<HTMLFormElement>('#form')!;
const out = document.querySelector<HTMLPreElement>('#out')!;
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement;

async function run(): Promise<void> {
  out.textContent = '';
  const decoders = { 1: new TextDecoder(), 2: new TextDecoder() };
  const show = (fd: 1 | 2) => (bytes: Uint8Array) => {
    const span = document.createElement('span');
    if (fd === 2) span.className = 'err';
    span.textContent = decoders[fd].decode(bytes, { stream: true });
    out.append(span);
  };
  let stdin: Uint8Array | null = new TextEncoder().encode(field('stdin').value);
  const worker = new Worker(new URL('../../wasm/runtime/worker.ts', import.meta.url), { type: 'module' });
  const { status, message } = await runProgram(worker, {
    program: new URL(field('program').value, location.href),
    args: field('args').value.split('\n').filter((a) => a !== ''),
    stdout: show(1),
    stderr: show(2),
    stdin: async () => { const s = stdin; stdin = null; return s; },
  });
  worker.terminate();
  out.append(`\n[${message ? `${message}, ` : ''}exit status ${status}]\n`);
  out.dataset.status = String(status);
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  void run();
});

const q = new URLSearchParams(location.search);
if (q.has('program')) field('program').value = q.get('program')!;
if (q.has('arg')) field('args').value = q.getAll('arg').join('\n');
if (q.has('stdin')) field('stdin').value = q.get('stdin')!;
if (q.has('run')) void run();
