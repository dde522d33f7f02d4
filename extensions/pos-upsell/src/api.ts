/**
 * Framework-free client for `POST {APP_URL}/api/recommendations` (APP_URL is "" by
 * default: a relative URL POS resolves against the app's application_url).
 *
 * The session token is sent explicitly although POS adds it by itself for the app's
 * own domain: we fetch it anyway (no token = the user may not use the app), and a
 * POSAI_APP_URL override may point at another host.
 *
 * Contract (owned by the Flask API):
 *   request  {"cartVariantIds": ["46812312961178", ...], "limit": 1..10,
 *             "locationId": "3", "locale": "fr-CA"}   (limit, locationId, locale optional)
 *            Authorization: Bearer <session token>, Content-Type: application/json
 *   200      {"metric": "cosine", "recommendations": [{variantId, score, productId,
 *             productTitle, variantTitle, price, inventoryQuantity, source,
 *             reason?, recommendationId?}], "recommendationId"?}
 *            (`reason` and `recommendationId` are optional: announced by issue #18, read
 *            when present, ignored when absent)
 *   errors   {"error": {"code", "message"}} with 400/401/405/413;
 *            401 carries X-Shopify-Retry-Invalid-Session-Request: 1
 */
import { RECOMMENDATIONS_PATH, normalizeBaseUrl } from './config';
import type { CartLike } from './host';

export interface Recommendation {
  variantId: string;
  score: number;
  productId: string;
  productTitle: string;
  /** "" when the API sends null (single-variant products). */
  variantTitle: string;
  /** Decimal string in the shop currency, e.g. "12.50"; "" when the API sends null. */
  price: string;
  /** null when the variant does not track inventory. */
  inventoryQuantity: number | null;
  source: string;
  /**
   * Why the backend suggests it, in words the cashier can say aloud ("Bought with
   * Lunch Bag Red in 37 orders"). Absent when the API sends none (or an empty one).
   */
  reason?: string;
  /**
   * The API's id for this suggestion (its own, or the answer's top-level one). Absent
   * when the API sends none; when present, Add tags the new cart line with it.
   */
  recommendationId?: string;
}

export interface ApiError {
  code: string;
  message: string;
}

export type FetchOutcome =
  | { kind: 'ok'; metric: string | null; recommendations: Recommendation[] }
  | { kind: 'unauthorized'; error: ApiError; retryInvalidSession: boolean }
  | { kind: 'http-error'; status: number; error: ApiError }
  | { kind: 'bad-response'; status: number; error: ApiError }
  | { kind: 'offline'; error: ApiError }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface RecommendationRequest {
  baseUrl: string;
  token: string;
  cartVariantIds: string[];
  limit?: number;
  /**
   * The POS location (`shopify.session.currentSession.locationId`), as a decimal
   * string like the variant ids. Issue #18: the API filters stock by it.
   */
  locationId?: string;
  /**
   * The POS locale (`shopify.locale.current`, e.g. "fr-CA"): the language of each
   * `reason` (issue #18; the API answers in English for a language it does not have).
   */
  locale?: string;
  timeoutMs: number;
  /** Aborts the request without it counting as a timeout (e.g. the cart changed). */
  signal?: AbortSignal;
  fetchImpl?: FetchLike;
}

export const RETRY_INVALID_SESSION_HEADER = 'X-Shopify-Retry-Invalid-Session-Request';

export function recommendationsUrl(baseUrl: string): string {
  return normalizeBaseUrl(baseUrl) + RECOMMENDATIONS_PATH;
}

/** Variant ids of the cart as strings, in cart order, without duplicates or custom sales. */
export function cartVariantIds(cart: CartLike | null | undefined): string[] {
  const seen = new Set<string>();
  for (const line of cart?.lineItems ?? []) {
    const id = line.variantId;
    if (typeof id === 'number' && Number.isFinite(id) && id > 0) seen.add(String(id));
  }
  return [...seen];
}

/**
 * Identity of a cart for caching: its variant ids in cart order. Order matters: the backend may
 * weigh the item added last most (a shop whose history shows line order predicts the next item).
 */
export function cartKey(variantIds: readonly string[]): string {
  return variantIds.join(',');
}

/**
 * `shopify.cart.addLineItem` takes a numeric variant id. The API sends ids as
 * strings (plain digits; a `gid://shopify/ProductVariant/<n>` is accepted too).
 * Returns null when the id cannot be represented exactly as a JS number.
 */
export function toNumericVariantId(id: string | number): number | null {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id > 0 ? id : null;
  const match = /^(?:gid:\/\/shopify\/ProductVariant\/)?(\d+)$/.exec(id.trim());
  if (!match) return null;
  const n = Number(match[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function idString(value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}

function parseRecommendation(value: unknown): Recommendation | null {
  if (!isRecord(value)) return null;
  const variantId = idString(value.variantId);
  if (variantId === null) return null;
  const price =
    typeof value.price === 'string'
      ? value.price
      : typeof value.price === 'number'
        ? value.price.toFixed(2)
        : null;
  const inventory = value.inventoryQuantity;
  const rec: Recommendation = {
    variantId,
    score: typeof value.score === 'number' ? value.score : 0,
    productId: idString(value.productId) ?? '',
    productTitle: typeof value.productTitle === 'string' ? value.productTitle : '',
    variantTitle: typeof value.variantTitle === 'string' ? value.variantTitle : '',
    price: price ?? '',
    inventoryQuantity: typeof inventory === 'number' && Number.isFinite(inventory) ? inventory : null,
    source: typeof value.source === 'string' ? value.source : 'model',
  };
  const reason = optionalText(value.reason);
  if (reason !== undefined) rec.reason = reason;
  const recommendationId = optionalText(value.recommendationId);
  if (recommendationId !== undefined) rec.recommendationId = recommendationId;
  return rec;
}

/** A non-blank string, trimmed; undefined for anything else (absent, null, "", a number). */
function optionalText(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return text === '' ? undefined : text;
}

/** Validates a 200 body; null when it is not shaped like the contract. */
export function parseRecommendationsBody(
  body: unknown,
): { metric: string | null; recommendations: Recommendation[] } | null {
  if (!isRecord(body) || !Array.isArray(body.recommendations)) return null;
  const recommendations: Recommendation[] = [];
  // An id for the whole answer applies to each suggestion that has none of its own.
  const answerId = optionalText(body.recommendationId);
  for (const item of body.recommendations) {
    const rec = parseRecommendation(item);
    if (rec === null) return null;
    if (answerId !== undefined && rec.recommendationId === undefined) rec.recommendationId = answerId;
    recommendations.push(rec);
  }
  return { metric: typeof body.metric === 'string' ? body.metric : null, recommendations };
}

export function parseErrorBody(body: unknown, status: number): ApiError {
  if (isRecord(body) && isRecord(body.error)) {
    const { code, message } = body.error;
    return {
      code: typeof code === 'string' && code ? code : `http_${status}`,
      message: typeof message === 'string' ? message : '',
    };
  }
  return { code: `http_${status}`, message: '' };
}

async function readJson(response: Response): Promise<unknown> {
  try {
    const text = await response.text();
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return undefined;
  }
}

function abortError(error: unknown): boolean {
  return isRecord(error) || error instanceof Error
    ? (error as { name?: unknown }).name === 'AbortError'
    : false;
}

/**
 * Performs one request. Never throws: every failure becomes a FetchOutcome.
 * A request slower than `timeoutMs` is aborted and reported as `timeout`.
 */
export async function requestRecommendations(req: RecommendationRequest): Promise<FetchOutcome> {
  const fetchImpl: FetchLike = req.fetchImpl ?? ((input, init) => fetch(input, init));
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, req.timeoutMs);
  const onOuterAbort = () => controller.abort();
  if (req.signal) {
    if (req.signal.aborted) controller.abort();
    else req.signal.addEventListener('abort', onOuterAbort);
  }

  const body: { cartVariantIds: string[]; limit?: number; locationId?: string; locale?: string } = {
    cartVariantIds: req.cartVariantIds,
  };
  if (req.limit !== undefined) body.limit = req.limit;
  if (req.locationId !== undefined) body.locationId = req.locationId;
  if (req.locale !== undefined) body.locale = req.locale;

  try {
    let response: Response;
    try {
      response = await fetchImpl(recommendationsUrl(req.baseUrl), {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${req.token}`,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (error) {
      if (timedOut) return { kind: 'timeout' };
      if (controller.signal.aborted || abortError(error)) return { kind: 'aborted' };
      return {
        kind: 'offline',
        error: { code: 'network_error', message: error instanceof Error ? error.message : String(error) },
      };
    }

    const json = await readJson(response);
    if (timedOut) return { kind: 'timeout' };
    if (controller.signal.aborted) return { kind: 'aborted' };

    if (response.status === 200) {
      const parsed = parseRecommendationsBody(json);
      if (parsed === null) {
        return {
          kind: 'bad-response',
          status: response.status,
          error: { code: 'bad_response', message: 'The server answered in an unexpected format.' },
        };
      }
      return { kind: 'ok', ...parsed };
    }
    const error = parseErrorBody(json, response.status);
    if (response.status === 401) {
      return {
        kind: 'unauthorized',
        error,
        retryInvalidSession: response.headers.get(RETRY_INVALID_SESSION_HEADER) === '1',
      };
    }
    return { kind: 'http-error', status: response.status, error };
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', onOuterAbort);
  }
}
