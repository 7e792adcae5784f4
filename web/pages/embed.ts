// embed.html: shows one <nbd-hexdump> whose attributes come from the query string, e.g.
// embed.html?src=nbd%2Bws%3A%2F%2F127.0.0.1%3A8001%2F&offset=512&length=4096
import '../components/define.js';

const q = new URLSearchParams(location.search);
const el = document.createElement('nbd-hexdump');
for (const name of ['export', 'offset', 'length', 'format', 'src'] as const) {
  const v = q.get(name);
  if (v !== null) el.setAttribute(name, v);
}
document.body.append(el);
