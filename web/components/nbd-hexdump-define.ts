// Registers <nbd-hexdump> and types it for querySelector and createElement. Import it once:
//   import 'webnbd/nbd-hexdump'
import { defaultWorker } from '../browser/client.js';
import { NbdHexdumpElement } from './nbd-hexdump.js';

NbdHexdumpElement.define();
// Start the page's worker now, while the page loads, so that it is ready when a src is set.
if (typeof Worker !== 'undefined') defaultWorker();

declare global {
  interface HTMLElementTagNameMap {
    'nbd-hexdump': NbdHexdumpElement;
  }
}

export { NbdHexdumpElement };
export default NbdHexdumpElement;
