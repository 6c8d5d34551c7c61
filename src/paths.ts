import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from src/ under vitest and from dist/src/ when built. */
export const ROOT = here.endsWith(join('dist', 'src')) ? join(here, '..', '..') : join(here, '..');
export const VIEWS_DIR = join(ROOT, 'views');
export const PUBLIC_DIR = join(ROOT, 'public');
