// Fails when the built bundle is over Shopify's 64 KB limit for UI extensions
// (API 2025-10+, enforced per extension at deploy, measured compressed).
// We hold ourselves to a stricter rule: the *uncompressed* minified bundle must
// also fit in 64 KB, so there is always ample headroom.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const LIMIT_BYTES = 64 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = join(root, 'dist', 'pos-upsell.js');

if (!existsSync(file)) {
  console.error(`size: ${file} not found; run \`npm run build\` first`);
  process.exit(1);
}
const raw = readFileSync(file);
const gzip = gzipSync(raw, { level: 9 }).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`size: dist/pos-upsell.js ${raw.length} bytes (${kb(raw.length)}) minified, ${gzip} bytes (${kb(gzip)}) gzip; limit ${kb(LIMIT_BYTES)}`);

const failures = [];
if (raw.length > LIMIT_BYTES) failures.push(`minified bundle ${kb(raw.length)} exceeds ${kb(LIMIT_BYTES)}`);
if (gzip > LIMIT_BYTES) failures.push(`compressed bundle ${kb(gzip)} exceeds ${kb(LIMIT_BYTES)}`);
if (failures.length) {
  for (const f of failures) console.error(`size: FAIL: ${f}`);
  process.exit(1);
}
console.log('size: OK');
