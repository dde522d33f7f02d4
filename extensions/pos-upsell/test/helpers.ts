/**
 * Test doubles: a fake `shopify` global (POS target APIs) and fetch responses
 * built from the recorded API fixtures.
 */
import { vi } from 'vitest';
import okFixture from './fixtures/recorded/ok.json';
import emptyFixture from './fixtures/recorded/empty.json';
import unauthorizedFixture from './fixtures/recorded/unauthorized.json';
import badRequestFixture from './fixtures/recorded/bad_request.json';
import untrackedFixture from './fixtures/recorded/untracked.json';
import reasonsDraft from './fixtures/draft/reasons.json';
import answerIdDraft from './fixtures/draft/answer_id.json';
import type { FetchLike } from '../src/api';
import { translateFrom, type Replacements } from '../src/i18n';
import en from '../locales/en.default.json';
import fr from '../locales/fr.json';
import de from '../locales/de.json';
import es from '../locales/es.json';
import nl from '../locales/nl.json';
import ja from '../locales/ja.json';

/** The extension's locale files by name (without `.json`), as POS would load them. */
export const localeFiles: Record<string, unknown> = {
  'en.default': en,
  fr,
  de,
  es,
  nl,
  ja,
};

/**
 * Stands in for POS's `shopify.i18n.translate` over the locale files: the locale, then
 * its language, then the default file (the shop-locale steps of POS's order don't
 * apply to a fake with one locale). Returns the key when nothing has it.
 */
export function fakeTranslate(getLocale: () => string) {
  return (key: string, replacements?: Replacements): string => {
    const locale = getLocale();
    const language = locale.split('-')[0]!;
    for (const [name, tag] of [
      [locale, locale],
      [language, language],
      ['en.default', 'en'],
    ] as const) {
      const file = localeFiles[name];
      if (file === undefined) continue;
      const out = translateFrom(file, tag, key, replacements);
      if (out !== undefined) return out;
    }
    return key;
  };
}

export interface RecordedFixture {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export const fixtures = {
  ok: okFixture as RecordedFixture,
  empty: emptyFixture as RecordedFixture,
  unauthorized: unauthorizedFixture as RecordedFixture,
  bad_request: badRequestFixture as RecordedFixture,
  /** 200 whose last suggestion does not track stock (inventoryQuantity null). */
  untracked: untrackedFixture as RecordedFixture,
};

/**
 * Hand-written answers with the fields issue #18 announces (test/fixtures/draft/README.md):
 * `reasons`: per-suggestion `reason` (one null) and `recommendationId`;
 * `answerId`: a top-level `recommendationId`, one suggestion with its own, one reason.
 */
export const drafts = {
  reasons: reasonsDraft as RecordedFixture,
  answerId: answerIdDraft as RecordedFixture,
};

export function fixtureResponse(fixture: RecordedFixture): Response {
  return new Response(JSON.stringify(fixture.body), { status: fixture.status, headers: fixture.headers });
}

/** A minimal stand-in for a Preact signal: `subscribe` calls back immediately, like @preact/signals. */
export interface FakeSignal<T> {
  readonly value: T;
  set(value: T): void;
  subscribe(fn: (value: T) => void): () => void;
  listenerCount(): number;
}

export function fakeSignal<T>(initial: T): FakeSignal<T> {
  let value = initial;
  const listeners = new Set<(value: T) => void>();
  return {
    get value() {
      return value;
    },
    set(next: T) {
      value = next;
      for (const fn of [...listeners]) fn(value);
    },
    subscribe(fn) {
      listeners.add(fn);
      fn(value);
      return () => {
        listeners.delete(fn);
      };
    },
    listenerCount: () => listeners.size,
  };
}

interface FakeLine {
  uuid: string;
  variantId?: number;
  quantity: number;
  title?: string;
  properties?: Record<string, string>;
}

export interface FakeShopifyOptions {
  variantIds?: number[];
  token?: string | null | undefined;
  online?: boolean;
  currency?: string;
  /** POS locale (IETF); default en-US. */
  locale?: string;
  /** false: a POS without i18n.translate (older than 10.19). */
  translate?: boolean;
}

export type FakeShopify = ReturnType<typeof createFakeShopify>;

export function createFakeShopify(options: FakeShopifyOptions = {}) {
  let uuid = 0;
  const line = (variantId: number): FakeLine => ({ uuid: `line-${++uuid}`, variantId, quantity: 1 });
  const cart = fakeSignal<{ lineItems: FakeLine[] }>({
    lineItems: (options.variantIds ?? []).map(line),
  });
  const connectivity = fakeSignal<{ internetConnected: 'Connected' | 'Disconnected' }>({
    internetConnected: options.online === false ? 'Disconnected' : 'Connected',
  });
  const locale = fakeSignal<string>(options.locale ?? 'en-US');
  const token = 'token' in options ? options.token : 'session-token-1';
  let tokenCount = 0;

  const shopify = {
    cart: {
      current: cart,
      addLineItem: vi.fn(
        async (
          variantId: number,
          quantity: number,
          addOptions?: { properties?: Record<string, string> },
        ): Promise<string> => {
          if (typeof variantId !== 'number' || !Number.isInteger(variantId)) {
            throw new Error(`addLineItem expects a numeric variant id, got ${typeof variantId}`);
          }
          const added: FakeLine = { ...line(variantId), quantity };
          if (addOptions?.properties) added.properties = { ...addOptions.properties };
          cart.set({ lineItems: [...cart.value.lineItems, added] });
          return added.uuid;
        },
      ),
      addLineItemProperties: vi.fn(async (_uuid: string, _properties: Record<string, string>) => {}),
      cartProperties: {} as Record<string, string>,
      addCartProperties: vi.fn(async (properties: Record<string, string>) => {
        Object.assign(shopify.cart.cartProperties, properties);
      }),
    },
    session: {
      currentSession: {
        shopId: 1,
        userId: 2,
        shopDomain: 'posai-dev.myshopify.com',
        locationId: 3,
        staffMemberId: 4,
        currency: options.currency ?? 'USD',
        posVersion: '10.0.0',
      },
      staffMember: fakeSignal<{ id: number } | undefined>({ id: 55 }),
      getSessionToken: vi.fn(async () =>
        token === undefined || token === null ? token : `${token}-${++tokenCount}`,
      ),
    },
    toast: { show: vi.fn((_content: string) => {}) },
    storage: fakeStorage(),
    action: { presentModal: vi.fn(() => {}) },
    connectivity: { current: connectivity },
    i18n: {
      formatCurrency: (value: number, opts?: { currency?: string }) =>
        new Intl.NumberFormat('en-US', { style: 'currency', currency: opts?.currency ?? 'USD' }).format(value),
      translate: options.translate === false ? undefined : vi.fn(fakeTranslate(() => locale.value)),
    },
    locale: { current: locale },
    // test controls
    setCartVariants(ids: number[]) {
      cart.set({ lineItems: ids.map(line) });
    },
    setQuantity(variantId: number, quantity: number) {
      cart.set({
        lineItems: cart.value.lineItems.map((l) => (l.variantId === variantId ? { ...l, quantity } : l)),
      });
    },
    setLocale(value: string) {
      locale.set(value);
    },
    setOnline(online: boolean) {
      connectivity.set({ internetConnected: online ? 'Connected' : 'Disconnected' });
    },
  };
  return shopify;
}

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

/** A fetch that answers with the given responders in order (the last one repeats). */
export function sequenceFetch(...responders: Array<RecordedFixture | Handler>) {
  let call = 0;
  const fn = vi.fn(async (url: string, init: RequestInit) => {
    const responder = responders[Math.min(call++, responders.length - 1)];
    if (responder === undefined) throw new Error('sequenceFetch: no responder');
    return typeof responder === 'function' ? responder(url, init) : fixtureResponse(responder);
  });
  return fn as typeof fn & FetchLike;
}

/** A request that never answers, but honours abort like real fetch. */
export const hangingResponder: Handler = (_url, init) =>
  new Promise<Response>((_resolve, reject) => {
    const signal = init.signal;
    const fail = () => reject(new DOMException('The operation was aborted.', 'AbortError'));
    if (signal?.aborted) fail();
    signal?.addEventListener('abort', fail);
  });

/** Network failure as real fetch reports it. */
export const networkErrorResponder: Handler = () => Promise.reject(new TypeError('fetch failed'));

/** Request body sent in the n-th call of a fetch mock. */
export function sentBody(fetchMock: { mock: { calls: unknown[][] } }, n = 0): unknown {
  const init = fetchMock.mock.calls[n]?.[1] as RequestInit | undefined;
  return JSON.parse(String(init?.body));
}

export function sentHeaders(fetchMock: { mock: { calls: unknown[][] } }, n = 0): Record<string, string> {
  const init = fetchMock.mock.calls[n]?.[1] as RequestInit | undefined;
  return init?.headers as Record<string, string>;
}

/** `shopify.storage` as POS offers it: an async key-value store (values kept as JSON). */
export function fakeStorage() {
  const data = new Map<string, string>();
  return {
    data,
    get: vi.fn(async (key: string) => (data.has(key) ? (JSON.parse(data.get(key)!) as unknown) : undefined)),
    set: vi.fn(async (key: string, value: unknown) => {
      data.set(key, JSON.stringify(value));
    }),
  };
}
