import { defineConfig } from 'vitest/config';

/**
 * The end-to-end run (e2e/): the modal target against a live POSAI server, started by the
 * backend's test suite (tests/impact/test_pos_end_to_end.py), never by `npm run test`.
 *
 * happy-dom's page URL is the server's: POS resolves the extension's relative
 * `/api/...` URLs against the app's `application_url` the same way.
 */
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  test: {
    include: ['e2e/**/*.e2e.test.{ts,tsx}'],
    environment: 'happy-dom',
    environmentOptions: { happyDOM: { url: process.env.POSAI_E2E_APP_URL ?? 'http://127.0.0.1/app' } },
    testTimeout: 45_000,
  },
});
