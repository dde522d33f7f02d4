/**
 * Build-time configuration.
 *
 * APP_URL is the origin of the POSAI backend (the Flask app). It is baked into
 * the bundle at build time from the POSAI_APP_URL environment variable:
 *
 * - `npm run build` (scripts/build.mjs) defines `process.env.POSAI_APP_URL`.
 * - Shopify CLI (`shopify app dev` / `shopify app build` / `shopify app deploy`)
 *   bundles extensions with esbuild and defines `process.env.<NAME>` for every
 *   variable of its own environment, so `POSAI_APP_URL=https://… shopify app deploy`
 *   bakes the URL in the same way.
 *
 * When the variable is not defined at build time, `process` does not exist in
 * the POS extension sandbox, the lookup throws, and the default is used.
 */
declare const process: { env: Record<string, string | undefined> };

export const DEFAULT_APP_URL = 'https://posai.example.com';

function buildTimeAppUrl(): string | undefined {
  try {
    return process.env.POSAI_APP_URL;
  } catch {
    return undefined;
  }
}

/** Strips trailing slashes so `${base}/api/...` never has `//`. */
export function normalizeBaseUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

export const APP_URL = normalizeBaseUrl(buildTimeAppUrl() || DEFAULT_APP_URL);

export const RECOMMENDATIONS_PATH = '/api/recommendations';

/**
 * How many suggestions to ask for (the API accepts 1–10). Undefined: `limit` is
 * left out of the request and the shop's own setting applies (API default 2).
 */
export const RECOMMENDATION_LIMIT: number | undefined = undefined;
/** Quiet period after the last cart change before asking the API. */
export const CART_DEBOUNCE_MS = 400;
/** Give up on a request after this long and show the "slow answer" state. */
export const REQUEST_TIMEOUT_MS = 8000;
/** How long an answer for a given cart is reused without asking again. */
export const CACHE_TTL_MS = 2 * 60 * 1000;
/** Number of distinct carts whose last answer is kept. */
export const CACHE_MAX_ENTRIES = 20;
