/**
 * Framework-free state machine behind the tile and the modal.
 *
 * - follows `shopify.cart.current` and debounces its changes;
 * - asks the API once per distinct cart (set of variant ids) and caches the
 *   last answer per cart for CACHE_TTL_MS;
 * - aborts a request when the cart moves on, times out slow answers;
 * - maps every outcome to one of the cashier-visible statuses below;
 * - adds a suggestion to the cart and refreshes.
 */
import {
  cartKey,
  cartVariantIds,
  requestRecommendations,
  toNumericVariantId,
  type FetchLike,
  type FetchOutcome,
  type Recommendation,
} from './api';
import {
  APP_URL,
  ATTRIBUTION_PROPERTY,
  CACHE_MAX_ENTRIES,
  CACHE_TTL_MS,
  CART_DEBOUNCE_MS,
  RECOMMENDATION_LIMIT,
  REQUEST_TIMEOUT_MS,
} from './config';
import type { EventReporter } from './events';
import type { CartLike, PosHost } from './host';
import { currentLocale, translatorFor, type Translate } from './i18n';
import { productName } from './view';

export type Status =
  /** The cart has no products: nothing to ask for. */
  | 'idle'
  /** A request is running (spinner). */
  | 'loading'
  /** Suggestions to show. */
  | 'ok'
  /** The API answered with nothing that qualifies. */
  | 'empty'
  /** The device is offline or the server cannot be reached. */
  | 'offline'
  /** No session token: this staff member has no permission to use the app. */
  | 'no-permission'
  /** The server rejected the session token (401), even after one retry. */
  | 'unauthorized'
  /** No answer within REQUEST_TIMEOUT_MS. */
  | 'timeout'
  /** Any other failure (400/405/413/5xx/unexpected body). */
  | 'error';

export interface ViewState {
  status: Status;
  /** Suggestions for the current cart (kept while a refresh of the same cart runs). */
  recommendations: Recommendation[];
  /** Cart identity the state belongs to. */
  cartKey: string;
  /** True when the answer came from the per-cart cache. */
  fromCache: boolean;
  /** For `offline`: whether POS itself reports no internet connection. */
  deviceOffline: boolean;
  /** For `error`/`unauthorized`: the API's error code and message. */
  errorCode: string | null;
  errorMessage: string | null;
  /** Variant currently being added to the cart, if any. */
  addingVariantId: string | null;
}

export interface ControllerOptions {
  host: PosHost;
  baseUrl?: string;
  limit?: number;
  debounceMs?: number;
  timeoutMs?: number;
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  fetchImpl?: FetchLike;
  now?: () => number;
  /** Per-cart answer cache; defaults to the one shared within this JS context. */
  cache?: Map<string, CacheEntry>;
  /** Translator for the toasts; defaults to POS's `i18n.translate` (src/i18n.ts). */
  translate?: Translate;
  /** Where `shown` / `added` go (src/events.ts); none: nothing is reported. */
  events?: EventReporter;
  /** This view displays the suggestions (the modal): report them as shown. */
  reportShown?: boolean;
}

export interface RecommendationsController {
  getState(): ViewState;
  subscribe(listener: (state: ViewState) => void): () => void;
  /** Subscribes to the cart (and connectivity) and loads for the current cart. */
  start(): void;
  /** Unsubscribes and aborts any request. */
  stop(): void;
  /** Loads for the current cart now. `force` bypasses the cache. */
  refresh(options?: { force?: boolean }): Promise<void>;
  /** Adds one unit of the suggestion to the cart, then refreshes. Resolves to whether it was added. */
  addToCart(rec: Recommendation): Promise<boolean>;
}

export interface CacheEntry {
  recommendations: Recommendation[];
  at: number;
}

/**
 * Answers per cart, shared by every controller in this JS context: if POS runs
 * the tile and the modal in the same context, opening the modal shows the
 * tile's answer at once instead of asking again.
 */
const sharedCache = new Map<string, CacheEntry>();

/** For tests: forget every cached answer. */
export function clearSharedCache(): void {
  sharedCache.clear();
}

const INITIAL_STATE: ViewState = {
  status: 'idle',
  recommendations: [],
  cartKey: '',
  fromCache: false,
  deviceOffline: false,
  errorCode: null,
  errorMessage: null,
  addingVariantId: null,
};

export function createRecommendationsController(options: ControllerOptions): RecommendationsController {
  const host = options.host;
  const baseUrl = options.baseUrl ?? APP_URL;
  const limit = options.limit ?? RECOMMENDATION_LIMIT;
  const debounceMs = options.debounceMs ?? CART_DEBOUNCE_MS;
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const cacheTtlMs = options.cacheTtlMs ?? CACHE_TTL_MS;
  const cacheMaxEntries = options.cacheMaxEntries ?? CACHE_MAX_ENTRIES;
  const now = options.now ?? (() => Date.now());
  const t = options.translate ?? translatorFor(host);

  let state: ViewState = INITIAL_STATE;
  const listeners = new Set<(state: ViewState) => void>();
  const cache = options.cache ?? sharedCache;
  const unsubscribers: Array<() => void> = [];
  let debounceTimer: ReturnType<typeof setTimeout> | null = null;
  let inflight: AbortController | null = null;
  let generation = 0;
  let started = false;

  function setState(patch: Partial<ViewState>): void {
    state = { ...state, ...patch };
    for (const listener of [...listeners]) listener(state);
  }

  function currentCart(): CartLike | undefined {
    try {
      return host.cart.current.value;
    } catch {
      return undefined;
    }
  }

  function deviceIsOffline(): boolean {
    try {
      return host.connectivity?.current.value.internetConnected === 'Disconnected';
    } catch {
      return false;
    }
  }

  /** The POS location as a decimal string; undefined when POS gives none. */
  function locationId(): string | undefined {
    try {
      const id = host.session.currentSession?.locationId;
      return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? String(id) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Answers depend on the location's stock and the locale's reasons: one cache entry per cart, location, locale. */
  function cacheKeyFor(key: string): string {
    const location = locationId();
    const locale = currentLocale(host);
    const located = location === undefined ? key : `${key}@${location}`;
    return locale === undefined ? located : `${located}#${locale}`;
  }

  function cacheGet(cartKeyValue: string): CacheEntry | undefined {
    const key = cacheKeyFor(cartKeyValue);
    const entry = cache.get(key);
    if (!entry) return undefined;
    if (now() - entry.at > cacheTtlMs) {
      cache.delete(key);
      return undefined;
    }
    return entry;
  }

  function cacheSet(cartKeyValue: string, recommendations: Recommendation[]): void {
    const key = cacheKeyFor(cartKeyValue);
    cache.delete(key);
    cache.set(key, { recommendations, at: now() });
    while (cache.size > cacheMaxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest === undefined) break;
      cache.delete(oldest);
    }
  }

  function cancelPending(): void {
    if (debounceTimer !== null) {
      clearTimeout(debounceTimer);
      debounceTimer = null;
    }
    if (inflight) {
      inflight.abort();
      inflight = null;
    }
  }

  /** Suggestions for variants already in the cart are not worth showing. */
  function withoutCartItems(recs: Recommendation[], ids: readonly string[]): Recommendation[] {
    const inCart = new Set(ids);
    return recs.filter((rec) => {
      const numeric = toNumericVariantId(rec.variantId);
      return !inCart.has(numeric === null ? rec.variantId : String(numeric));
    });
  }

  function resultState(key: string, recommendations: Recommendation[], fromCache: boolean): Partial<ViewState> {
    if (options.reportShown && recommendations.length > 0) {
      try {
        options.events?.shown(recommendations);
      } catch {
        // reporting never gets in the cashier's way
      }
    }
    return {
      status: recommendations.length > 0 ? 'ok' : 'empty',
      recommendations,
      cartKey: key,
      fromCache,
      deviceOffline: false,
      errorCode: null,
      errorMessage: null,
    };
  }

  function failureState(key: string, status: Status, extra: Partial<ViewState> = {}): Partial<ViewState> {
    return {
      status,
      recommendations: [],
      cartKey: key,
      fromCache: false,
      deviceOffline: false,
      errorCode: null,
      errorMessage: null,
      ...extra,
    };
  }

  async function load(cart: CartLike | undefined, force: boolean): Promise<void> {
    const ids = cartVariantIds(cart);
    const key = cartKey(ids);
    cancelPending();
    const gen = ++generation;

    if (ids.length === 0) {
      setState(failureState(key, 'idle'));
      return;
    }

    const cached = force ? undefined : cacheGet(key);
    if (cached) {
      setState(resultState(key, cached.recommendations, true));
      return;
    }

    if (deviceIsOffline()) {
      setState(failureState(key, 'offline', { deviceOffline: true }));
      return;
    }

    setState({
      ...failureState(key, 'loading'),
      // Keep showing the previous list while the same cart is refreshed.
      recommendations: state.cartKey === key ? state.recommendations : [],
    });

    const abort = new AbortController();
    inflight = abort;

    let outcome: FetchOutcome | null = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      let token: string | null | undefined;
      try {
        token = await host.session.getSessionToken();
      } catch {
        token = null;
      }
      if (gen !== generation) return;
      if (!token) {
        if (inflight === abort) inflight = null;
        setState(failureState(key, 'no-permission'));
        return;
      }
      outcome = await requestRecommendations({
        baseUrl,
        token,
        cartVariantIds: ids,
        limit,
        locationId: locationId(),
        locale: currentLocale(host),
        timeoutMs,
        signal: abort.signal,
        fetchImpl: options.fetchImpl,
      });
      if (gen !== generation || outcome.kind === 'aborted') return;
      // A 401 usually means the token expired between issue and use: POS hands
      // out a fresh one on the next call, so retry exactly once.
      if (outcome.kind !== 'unauthorized') break;
    }
    if (inflight === abort) inflight = null;
    if (outcome === null) return;

    switch (outcome.kind) {
      case 'ok': {
        const recs = withoutCartItems(outcome.recommendations, ids);
        cacheSet(key, recs);
        setState(resultState(key, recs, false));
        return;
      }
      case 'unauthorized':
        setState(
          failureState(key, 'unauthorized', {
            errorCode: outcome.error.code,
            errorMessage: outcome.error.message || null,
          }),
        );
        return;
      case 'offline':
        setState(failureState(key, 'offline', { deviceOffline: deviceIsOffline() }));
        return;
      case 'timeout':
        setState(failureState(key, 'timeout'));
        return;
      case 'http-error':
      case 'bad-response':
        setState(
          failureState(key, 'error', {
            errorCode: outcome.error.code,
            errorMessage: outcome.error.message || null,
          }),
        );
        return;
    }
  }

  function onCartChange(cart: CartLike): void {
    const key = cartKey(cartVariantIds(cart));
    // Quantity/discount/customer changes keep the same variant set: nothing to do,
    // unless the last attempt for this cart failed.
    if (
      key === state.cartKey &&
      (state.status === 'ok' || state.status === 'empty' || state.status === 'idle' || state.status === 'loading')
    ) {
      if (debounceTimer !== null) {
        clearTimeout(debounceTimer);
        debounceTimer = null;
      }
      return;
    }
    if (debounceTimer !== null) clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      debounceTimer = null;
      void load(currentCart() ?? cart, false);
    }, debounceMs);
  }

  /**
   * `shopify.connectivity.current` (ConnectivityApiContent in
   * point-of-sale/api/connectivity-api/connectivity-api.d.ts). Back online after an
   * offline state: load again. Gone offline while a request runs: stop waiting for it
   * (it cannot answer; the cashier would otherwise see a spinner until the timeout)
   * and say so. A list already shown stays: it is still right for this cart.
   */
  function onConnectivityChange(value: { internetConnected: 'Connected' | 'Disconnected' }): void {
    if (value.internetConnected === 'Connected' && state.status === 'offline') {
      void load(currentCart(), true);
    } else if (value.internetConnected === 'Disconnected' && state.status === 'loading') {
      generation++;
      cancelPending();
      setState(failureState(state.cartKey, 'offline', { deviceOffline: true }));
    }
  }

  return {
    getState: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    start() {
      if (started) return;
      started = true;
      unsubscribers.push(host.cart.current.subscribe(onCartChange));
      if (host.connectivity) unsubscribers.push(host.connectivity.current.subscribe(onConnectivityChange));
      void load(currentCart(), false);
    },
    stop() {
      started = false;
      generation++;
      cancelPending();
      while (unsubscribers.length) unsubscribers.pop()?.();
    },
    refresh(opts) {
      return load(currentCart(), opts?.force ?? false);
    },
    async addToCart(rec) {
      const item = productName(rec, t);
      const numericId = toNumericVariantId(rec.variantId);
      if (numericId === null) {
        host.toast.show(t('toast.badVariant', { item }));
        return false;
      }
      if (state.addingVariantId !== null) return false;
      setState({ addingVariantId: rec.variantId });
      let lineItemUuid: string;
      try {
        // With a recommendationId the new line carries it as a property, set in the
        // same operation (CartApi.addLineItem's options, @shopify/ui-extensions 2026.7):
        // a dismissed add creates no line, so nothing is tagged or counted.
        lineItemUuid = rec.recommendationId
          ? await host.cart.addLineItem(numericId, 1, {
              properties: { [ATTRIBUTION_PROPERTY]: rec.recommendationId },
            })
          : await host.cart.addLineItem(numericId, 1);
      } catch {
        setState({ addingVariantId: null });
        host.toast.show(t('toast.failed', { item }));
        return false;
      }
      setState({ addingVariantId: null });
      // "" = the cashier dismissed POS's oversell warning: nothing was added, the cart
      // and the list stay as they are (CartApi.addLineItem in @shopify/ui-extensions).
      if (lineItemUuid === '') {
        host.toast.show(t('toast.notAdded', { item }));
        return false;
      }
      if (rec.recommendationId) {
        try {
          options.events?.added(rec.recommendationId, rec.variantId);
        } catch {
          // reporting never gets in the cashier's way
        }
      }
      host.toast.show(t('toast.added', { item }));
      // The cart changed: ask again right away for the new cart (bypassing the
      // debounce; the cart subscription then sees an up-to-date state).
      await load(currentCart(), true);
      return true;
    },
  };
}
