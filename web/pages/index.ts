// The first page, which `npm start` opens: the disk inspector (web/inspector/app.ts) for ?src=.
import '../components/define.js';
import { Inspector } from '../inspector/app.js';

const inspector = new Inspector();
(globalThis as unknown as { inspector: Inspector }).inspector = inspector;
void inspector.fromUrl();
