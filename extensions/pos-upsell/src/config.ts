/**
 * Where the POSAI backend (the Flask app) is.
 *
 * By default nowhere in particular: requests go to the relative path
 * `/api/recommendations`. POS resolves a relative `fetch()` URL against the app's
 * `application_url` (shopify.app.toml), and for requests to the app's own domain it
 * adds the session token (`Authorization: Bearer …`) itself
 * (https://shopify.dev/docs/api/pos-ui-extensions, "App Authentication"). So the
 * deployed extension needs no build-time setting and cannot point at a placeholder.
 *
 * POSAI_APP_URL overrides that at build time, for local development against a
 * backend that is not the app's `application_url` (an HTTPS tunnel to a laptop):
 *
 * - `npm run build` (scripts/build.mjs) defines `process.env.POSAI_APP_URL`.
 * - Shopify CLI (`shopify app dev` / `build` / `deploy`) bundles extensions with
 *   esbuild and defines `process.env.<NAME>` for every variable of its own
 *   environment, so `POSAI_APP_URL=https://… shopify app dev` bakes it in the same way.
 *
 * When the variable is not defined at build time, `process` does not exist in the
 * POS extension sandbox, the lookup throws, and the relative default is used.
 */
declare const process: { env: Record<string, string | undefined> };

/** Empty: relative to the app's `application_url`, resolved by POS. */
export const DEFAULT_APP_URL = '';

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
export const EVENTS_PATH = '/api/events';

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
/**
 * Line-item property that Add sets to the suggestion's `recommendationId` (when the
 * API sends one), so an order line can be traced back to the suggestion. The leading
 * underscore is Shopify's convention for a private property (hidden from the
 * customer, e.g. at checkout).
 */
export const ATTRIBUTION_PROPERTY = '_posai';
