// Bundles the extension the way Shopify CLI does (esbuild, one bundle for the
// whole extension containing every target module), into dist/.
//
// POSAI_APP_URL (env), when set, is baked in as the backend origin (local development);
// otherwise the extension fetches the relative /api/... path (src/config.ts).
import { build } from 'esbuild';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist');
mkdirSync(outdir, { recursive: true });

// The targets and their modules come from shopify.extension.toml, so the build
// cannot drift from what Shopify deploys.
const toml = readFileSync(join(root, 'shopify.extension.toml'), 'utf8');
const targets = [...toml.matchAll(/module\s*=\s*"([^"]+)"\s*\n\s*target\s*=\s*"([^"]+)"/g)].map((m) => ({
  module: m[1],
  target: m[2],
}));
if (targets.length === 0) {
  console.error('build: no [[extensions.targeting]] entries found in shopify.extension.toml');
  process.exit(1);
}

const entry =
  targets.map((t, i) => `import target${i} from ${JSON.stringify(t.module)};`).join('\n') +
  '\nexport const targets = {\n' +
  targets.map((t, i) => `  ${JSON.stringify(t.target)}: target${i},`).join('\n') +
  '\n};\n';

const define = { 'process.env.NODE_ENV': JSON.stringify('production') };
if (process.env.POSAI_APP_URL) {
  define['process.env.POSAI_APP_URL'] = JSON.stringify(process.env.POSAI_APP_URL);
}

const outfile = join(outdir, 'pos-upsell.js');
const result = await build({
  stdin: { contents: entry, resolveDir: root, sourcefile: 'extension-entry.js', loader: 'js' },
  outfile,
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  define,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(join(outdir, 'metafile.json'), JSON.stringify(result.metafile, null, 2));
console.log(
  `build: ${targets.map((t) => t.target).join(', ')} -> ${outfile}` +
    (process.env.POSAI_APP_URL
      ? ` (APP_URL=${process.env.POSAI_APP_URL})`
      : ' (relative /api/..., resolved by POS against application_url)'),
);
