// The first page: the disk at ?src= (an nbd+ws:// URI), sector 0 hexdumped.
import '../components/define.js';

const q = new URLSearchParams(location.search);
const form = document.querySelector<HTMLFormElement>('#connect')!;
const dump = document.querySelector('nbd-hexdump')!;
const where = document.querySelector<HTMLParagraphElement>('#where')!;

const src = q.get('src');
if (src) {
  (form.elements.namedItem('src') as HTMLInputElement).value = src;
  where.textContent = `Sector 0 of ${src}`;
  dump.src = src;
}
dump.addEventListener('nbd-error', (e) => { where.textContent = (e as Event & { message: string }).message; });
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const u = new URL(location.href);
  u.searchParams.set('src', (form.elements.namedItem('src') as HTMLInputElement).value);
  location.href = u.href;
});
