import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseRecommendationsBody, type Recommendation } from '../src/api';
import { clearSharedCache, createRecommendationsController, type ControllerOptions } from '../src/state';
import {
  createFakeShopify,
  drafts,
  fixtures,
  hangingResponder,
  networkErrorResponder,
  sentBody,
  sentHeaders,
  sequenceFetch,
  type FakeShopify,
} from './helpers';

const OK_RECS: Recommendation[] = parseRecommendationsBody(fixtures.ok.body)!.recommendations;
const OK_ID = (fixtures.ok.body as { recommendationId: string }).recommendationId;
const TAG = { properties: { _posai: OK_ID } };
const BAD_REQUEST = (fixtures.bad_request.body as { error: { code: string; message: string } }).error;
const CART = [46812312961178, 46812312961179];

function setup(shopify: FakeShopify, fetchImpl: ControllerOptions['fetchImpl'], extra: Partial<ControllerOptions> = {}) {
  const controller = createRecommendationsController({
    host: shopify,
    baseUrl: 'https://api.posai.test',
    limit: 4,
    debounceMs: 300,
    timeoutMs: 5000,
    cacheTtlMs: 60_000,
    fetchImpl,
    cache: new Map(),
    ...extra,
  });
  const statuses: string[] = [];
  controller.subscribe((s) => statuses.push(s.status));
  return { controller, statuses };
}

const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('loading and answers', () => {
  it('stays idle for an empty cart and does not call the API', async () => {
    const shopify = createFakeShopify({ variantIds: [] });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(controller.getState().status).toBe('idle');
    expect(fetchImpl).not.toHaveBeenCalled();
  });

  it('shows loading, then the suggestions for the current cart', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller, statuses } = setup(shopify, fetchImpl);
    controller.start();
    expect(controller.getState().status).toBe('loading');
    await settle();
    expect(statuses).toEqual(['loading', 'ok']);
    expect(controller.getState().recommendations).toEqual(OK_RECS);
    expect(sentBody(fetchImpl)).toEqual({ cartVariantIds: CART.map(String), limit: 4, locationId: '3', locale: 'en-US' });
    expect(sentHeaders(fetchImpl).Authorization).toBe('Bearer session-token-1-1');
  });

  it("leaves limit out by default so the shop's own setting applies", async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl, { limit: undefined });
    controller.start();
    await settle();
    expect(sentBody(fetchImpl)).toEqual({ cartVariantIds: CART.map(String), locationId: '3', locale: 'en-US' });
  });

  it('shows the empty state when nothing qualifies', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { controller } = setup(shopify, sequenceFetch(fixtures.empty));
    controller.start();
    await settle();
    expect(controller.getState()).toMatchObject({ status: 'empty', recommendations: [] });
  });

  it('hides suggestions that are already in the cart', async () => {
    const [inCart, other] = OK_RECS as [Recommendation, Recommendation];
    const shopify = createFakeShopify({ variantIds: [Number(inCart.variantId)] });
    const { controller } = setup(shopify, sequenceFetch(fixtures.ok));
    controller.start();
    await settle();
    expect(controller.getState().recommendations.map((r) => r.variantId)).toEqual([other.variantId]);
  });

  it('shows an error with the API code and message for a 400', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { controller } = setup(shopify, sequenceFetch(fixtures.bad_request));
    controller.start();
    await settle();
    expect(controller.getState()).toMatchObject({
      status: 'error',
      errorCode: 'bad_request',
      errorMessage: BAD_REQUEST.message,
    });
  });
});

describe('cart changes: debounce and per-cart cache', () => {
  it('debounces bursts of cart changes into one request for the final cart', async () => {
    const shopify = createFakeShopify({ variantIds: [1] });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(1);

    shopify.setCartVariants([1, 2]);
    await vi.advanceTimersByTimeAsync(100);
    shopify.setCartVariants([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(100);
    shopify.setCartVariants([1, 2, 3, 4]);
    await vi.advanceTimersByTimeAsync(299);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(sentBody(fetchImpl, 1)).toEqual({ cartVariantIds: ['1', '2', '3', '4'], limit: 4, locationId: '3', locale: 'en-US' });
  });

  it('does not ask again when only quantities change', async () => {
    const shopify = createFakeShopify({ variantIds: [1, 2] });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    shopify.setQuantity(1, 5);
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(controller.getState().status).toBe('ok');
  });

  it('reuses the last answer for a cart seen before, and asks again after the TTL', async () => {
    const shopify = createFakeShopify({ variantIds: [1] });
    const fetchImpl = sequenceFetch(fixtures.ok, fixtures.empty, fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(controller.getState()).toMatchObject({ status: 'ok', fromCache: false });

    shopify.setCartVariants([1, 2]);
    await vi.advanceTimersByTimeAsync(300);
    expect(controller.getState().status).toBe('empty');

    shopify.setCartVariants([1]);
    await vi.advanceTimersByTimeAsync(300);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(controller.getState()).toMatchObject({ status: 'ok', fromCache: true, recommendations: OK_RECS });

    await vi.advanceTimersByTimeAsync(60_001);
    shopify.setCartVariants([1, 2]);
    await vi.advanceTimersByTimeAsync(300);
    expect(fetchImpl).toHaveBeenCalledTimes(3);
  });

  it('aborts the request of a cart that changed and ignores its late answer', async () => {
    const shopify = createFakeShopify({ variantIds: [1] });
    const fetchImpl = sequenceFetch(hangingResponder, fixtures.empty);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(controller.getState().status).toBe('loading');

    shopify.setCartVariants([1, 2]);
    await vi.advanceTimersByTimeAsync(300);
    expect((fetchImpl.mock.calls[0]![1].signal as AbortSignal).aborted).toBe(true);
    expect(controller.getState()).toMatchObject({ status: 'empty', cartKey: '1,2' });
  });

  it('stop() unsubscribes from the cart and connectivity', async () => {
    const shopify = createFakeShopify({ variantIds: [1] });
    const { controller } = setup(shopify, sequenceFetch(fixtures.ok));
    controller.start();
    await settle();
    expect(shopify.cart.current.listenerCount()).toBe(1);
    controller.stop();
    expect(shopify.cart.current.listenerCount()).toBe(0);
    expect(shopify.connectivity.current.listenerCount()).toBe(0);
  });
});

describe('failures the cashier sees', () => {
  it.each([null, undefined])(
    'explains missing app permission when the session token is %s, without calling the API',
    async (token) => {
      const shopify = createFakeShopify({ variantIds: CART, token });
      const fetchImpl = sequenceFetch(fixtures.ok);
      const { controller } = setup(shopify, fetchImpl);
      controller.start();
      await settle();
      expect(controller.getState().status).toBe('no-permission');
      expect(fetchImpl).not.toHaveBeenCalled();
    },
  );

  it('retries a 401 once with a fresh token, then shows unauthorized', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.unauthorized);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(sentHeaders(fetchImpl, 0).Authorization).toBe('Bearer session-token-1-1');
    expect(sentHeaders(fetchImpl, 1).Authorization).toBe('Bearer session-token-1-2');
    expect(controller.getState()).toMatchObject({ status: 'unauthorized', errorCode: 'unauthorized' });
  });

  it('recovers when the retry after a 401 succeeds', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.unauthorized, fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(controller.getState().status).toBe('ok');
  });

  it('shows offline when the server cannot be reached', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { controller } = setup(shopify, sequenceFetch(networkErrorResponder));
    controller.start();
    await settle();
    expect(controller.getState()).toMatchObject({ status: 'offline', deviceOffline: false });
  });

  it('shows offline without a request when POS reports no connection, and reloads when it is back', async () => {
    const shopify = createFakeShopify({ variantIds: CART, online: false });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(controller.getState()).toMatchObject({ status: 'offline', deviceOffline: true });
    expect(fetchImpl).not.toHaveBeenCalled();

    shopify.setOnline(true);
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(controller.getState().status).toBe('ok');
  });

  it('keeps the spinner while the answer is slow, then shows the timeout state', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { controller } = setup(shopify, sequenceFetch(hangingResponder));
    controller.start();
    await vi.advanceTimersByTimeAsync(4000);
    expect(controller.getState().status).toBe('loading');
    await vi.advanceTimersByTimeAsync(1000);
    expect(controller.getState().status).toBe('timeout');
  });

  it('refresh({force}) retries after a failure', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(networkErrorResponder, fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(controller.getState().status).toBe('offline');
    await controller.refresh({ force: true });
    expect(controller.getState().status).toBe('ok');
  });

  it('a cart change after a failure asks again even for the same variants', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(networkErrorResponder, fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    shopify.setQuantity(CART[0]!, 2);
    await vi.advanceTimersByTimeAsync(300);
    expect(controller.getState().status).toBe('ok');
  });
});

describe('shared cache', () => {
  it('a second controller (e.g. the modal) reuses the answer the first (the tile) got', async () => {
    clearSharedCache();
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const tile = setup(shopify, fetchImpl, { cache: undefined }).controller;
    tile.start();
    await settle();
    const modal = setup(shopify, fetchImpl, { cache: undefined }).controller;
    modal.start();
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(modal.getState()).toMatchObject({ status: 'ok', fromCache: true, recommendations: OK_RECS });
    tile.stop();
    modal.stop();
    clearSharedCache();
  });
});

describe('add to cart', () => {
  it('adds one unit by numeric variant id, confirms with a toast and refreshes the list', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok, fixtures.empty);
    const { controller, statuses } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    const rec = controller.getState().recommendations[0]!;

    const adding = controller.addToCart(rec);
    expect(controller.getState().addingVariantId).toBe(rec.variantId);
    await expect(adding).resolves.toBe(true);

    expect(shopify.cart.addLineItem).toHaveBeenCalledWith(Number(rec.variantId), 1, TAG);
    expect(shopify.toast.show).toHaveBeenCalledWith(`Added ${rec.productTitle} to the cart`);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(sentBody(fetchImpl, 1)).toEqual({
      cartVariantIds: [...CART.map(String), rec.variantId],
      limit: 4,
      locationId: '3',
      locale: 'en-US',
    });
    expect(controller.getState()).toMatchObject({ status: 'empty', addingVariantId: null });
    // the cart subscription firing for the same new cart does not ask a third time
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(statuses.slice(-2)).toEqual(['loading', 'empty']);
  });

  it('says "not added" when the cashier dismisses the oversell warning (addLineItem resolves "")', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    shopify.cart.addLineItem.mockResolvedValueOnce('');
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    const rec = controller.getState().recommendations[0]!;
    await expect(controller.addToCart(rec)).resolves.toBe(false);
    expect(shopify.toast.show).toHaveBeenCalledWith(`${rec.productTitle} was not added`);
    expect(shopify.toast.show).not.toHaveBeenCalledWith(expect.stringMatching(/^Added /));
    expect(fetchImpl).toHaveBeenCalledTimes(1); // the cart did not change: no new request
    expect(controller.getState()).toMatchObject({ status: 'ok', recommendations: OK_RECS, addingVariantId: null });
  });

  it('reports a failed add with a toast and keeps the list', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    shopify.cart.addLineItem.mockRejectedValueOnce(new Error('cart locked'));
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    const rec = controller.getState().recommendations[1]!;
    await expect(controller.addToCart(rec)).resolves.toBe(false);
    expect(shopify.toast.show).toHaveBeenCalledWith(`Couldn't add ${rec.productTitle} to the cart`);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(controller.getState()).toMatchObject({ status: 'ok', recommendations: OK_RECS, addingVariantId: null });
  });

  it('refuses ids that addLineItem cannot take', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { controller } = setup(shopify, sequenceFetch(fixtures.ok));
    const rec = { ...OK_RECS[0]!, variantId: 'not-a-number' };
    await expect(controller.addToCart(rec)).resolves.toBe(false);
    expect(shopify.cart.addLineItem).not.toHaveBeenCalled();
    expect(shopify.toast.show).toHaveBeenCalled();
  });

  it('ignores a second tap while an add is running', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { controller } = setup(shopify, sequenceFetch(fixtures.ok, fixtures.ok));
    controller.start();
    await settle();
    const [a, b] = controller.getState().recommendations;
    const first = controller.addToCart(a!);
    await expect(controller.addToCart(b!)).resolves.toBe(false);
    await first;
    expect(shopify.cart.addLineItem).toHaveBeenCalledTimes(1);
  });
});

describe('add to cart with a recommendationId (line-item property _posai)', () => {
  it('tags the new line with the suggestion\'s recommendationId, in the same addLineItem call', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(drafts.reasons, fixtures.empty);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    const rec = controller.getState().recommendations[0]!;
    expect(rec.recommendationId).toBe('rec_01HZX3A9K2');

    await expect(controller.addToCart(rec)).resolves.toBe(true);
    expect(shopify.cart.addLineItem).toHaveBeenCalledTimes(1);
    expect(shopify.cart.addLineItem).toHaveBeenCalledWith(1002, 1, { properties: { _posai: 'rec_01HZX3A9K2' } });
    expect(shopify.cart.addLineItemProperties).not.toHaveBeenCalled();
    const lines = shopify.cart.current.value.lineItems;
    const line = lines[lines.length - 1];
    expect(line).toMatchObject({ variantId: 1002, quantity: 1, properties: { _posai: 'rec_01HZX3A9K2' } });
    expect(shopify.toast.show).toHaveBeenCalledWith('Added Coaster to the cart');
  });

  it('uses the answer-level id when a suggestion has none of its own', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { controller } = setup(shopify, sequenceFetch(drafts.answerId, fixtures.empty));
    controller.start();
    await settle();
    await controller.addToCart(controller.getState().recommendations[0]!);
    expect(shopify.cart.addLineItem).toHaveBeenCalledWith(1002, 1, { properties: { _posai: 'req_7f3a' } });
  });

  it('a dismissed add (addLineItem resolves "") adds no line, tags nothing and is not counted as added', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    shopify.cart.addLineItem.mockResolvedValueOnce('');
    const fetchImpl = sequenceFetch(drafts.reasons);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    const before = shopify.cart.current.value.lineItems.length;
    const rec = controller.getState().recommendations[0]!;
    await expect(controller.addToCart(rec)).resolves.toBe(false);
    expect(shopify.cart.addLineItem).toHaveBeenCalledWith(1002, 1, { properties: { _posai: 'rec_01HZX3A9K2' } });
    expect(shopify.cart.current.value.lineItems).toHaveLength(before);
    expect(shopify.cart.addLineItemProperties).not.toHaveBeenCalled();
    expect(shopify.toast.show).toHaveBeenCalledWith('Coaster was not added');
    expect(shopify.toast.show).not.toHaveBeenCalledWith(expect.stringMatching(/^Added /));
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(controller.getState()).toMatchObject({ status: 'ok', addingVariantId: null });
  });

  it('without a recommendationId the call stays addLineItem(id, 1), with no options', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const { recommendationId: _dropped, ...withoutId } = fixtures.ok.body as Record<string, unknown>;
    const { controller } = setup(shopify, sequenceFetch({ ...fixtures.ok, body: withoutId }, fixtures.empty));
    controller.start();
    await settle();
    await controller.addToCart(controller.getState().recommendations[0]!);
    expect(shopify.cart.addLineItem.mock.calls[0]).toEqual([1002, 1]);
  });
});

describe('connectivity (shopify.connectivity.current)', () => {
  it('going offline during a request stops waiting at once, shows offline, and reloads when back online', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(hangingResponder, fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(controller.getState().status).toBe('loading');

    shopify.setOnline(false);
    expect(controller.getState()).toMatchObject({ status: 'offline', deviceOffline: true, cartKey: cartKeyOf(CART) });
    expect((fetchImpl.mock.calls[0]![1].signal as AbortSignal).aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000); // no late timeout replaces the offline state
    expect(controller.getState().status).toBe('offline');

    shopify.setOnline(true);
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(controller.getState().status).toBe('ok');
  });

  it('keeps a list already shown when the device goes offline', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    shopify.setOnline(false);
    expect(controller.getState()).toMatchObject({ status: 'ok', recommendations: OK_RECS });
    shopify.setOnline(true);
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });

  it('a cart change while offline asks nothing and says offline', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    shopify.setOnline(false);
    shopify.setCartVariants([...CART, 5]);
    await vi.advanceTimersByTimeAsync(300);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(controller.getState()).toMatchObject({ status: 'offline', deviceOffline: true });
  });
});

function cartKeyOf(ids: number[]): string {
  return ids.map(String).join(',');
}

describe('POS locale (issue #18: the API says each reason in its language)', () => {
  it('sends shopify.locale.current as locale', async () => {
    const shopify = createFakeShopify({ variantIds: CART, locale: 'fr-CA' });
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(sentBody(fetchImpl)).toMatchObject({ locale: 'fr-CA' });
  });
});

describe('POS location (issue #18: the API filters stock by location)', () => {
  it("sends shopify.session.currentSession.locationId as locationId, a decimal string", async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    expect(shopify.session.currentSession.locationId).toBe(3);
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(sentBody(fetchImpl)).toMatchObject({ locationId: '3' });
  });

  it.each([undefined, 0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2])('leaves locationId out for %s', async (locationId) => {
    const shopify = createFakeShopify({ variantIds: CART });
    (shopify.session.currentSession as { locationId?: number }).locationId = locationId;
    const fetchImpl = sequenceFetch(fixtures.ok);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    expect(sentBody(fetchImpl)).not.toHaveProperty('locationId');
  });

  it('caches per cart and location: another location asks again', async () => {
    const cache = new Map();
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok, fixtures.empty);
    const first = setup(shopify, fetchImpl, { cache }).controller;
    first.start();
    await settle();
    first.stop();
    shopify.session.currentSession.locationId = 4;
    const second = setup(shopify, fetchImpl, { cache }).controller;
    second.start();
    await settle();
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(sentBody(fetchImpl, 1)).toMatchObject({ locationId: '4' });
    expect(second.getState()).toMatchObject({ status: 'empty', fromCache: false });
  });
});
