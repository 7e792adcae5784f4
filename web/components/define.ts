// Registers <nbd-hexdump>. Import this module once: `import 'webnbd/components/define'`.
import { NbdHexdumpElement } from './nbd-hexdump.js';

NbdHexdumpElement.define();

export { NbdHexdumpElement };
