// Registers <nbd-hexdump> and types it for querySelector and createElement. Import it once:
//   import 'webnbd/web/components/nbd-hexdump-define.js'
import { NbdHexdumpElement } from './nbd-hexdump.js';

NbdHexdumpElement.define();

declare global {
  interface HTMLElementTagNameMap {
    'nbd-hexdump': NbdHexdumpElement;
  }
}

export { NbdHexdumpElement };
export default NbdHexdumpElement;
