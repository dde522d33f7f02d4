import { defineConfig } from 'vitest/config';

// The screenshot harness (harness/*.harness.tsx): renders the extension to HTML for
// scripts/screenshot_modal.py. Kept out of `npm run test`, which must not write files.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  test: {
    include: ['harness/**/*.harness.tsx'],
    environment: 'happy-dom',
    restoreMocks: true,
    unstubGlobals: true,
  },
});
