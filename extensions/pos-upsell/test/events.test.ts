import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BATCH_SIZE,
  FLUSH_DELAY_MS,
  MAX_QUEUE,
  MIN_BACKOFF_MS,
  SHOWN_PROPERTY,
  createEventReporter,
  type ImpactEvent,
} from '../src/events';
import { createRecommendationsController } from '../src/state';
import {
  createFakeShopify,
  fakeStorage,
  fixtures,
  hangingResponder,
  networkErrorResponder,
  sequenceFetch,
  type FakeShopify,
} from './helpers';

const OK = fixtures.ok.body as { recommendationId: string; recommendations: Array<{ variantId: string }> };
const CART = [46812312961178];
const accepted = () =>
  new Response(JSON.stringify({ accepted: 1, duplicates: 0, rejected: [] }), { status: 200 });

function eventsSent(fetchImpl: { mock: { calls: unknown[][] } }): ImpactEvent[][] {
  return fetchImpl.mock.calls
    .filter((call) => String(call[0]).endsWith('/api/events'))
    .map((call) => (JSON.parse(String((call[1] as RequestInit).body)) as { events: ImpactEvent[] }).events);
}

/** A modal's controller (reports shown) with its reporter; API and events share one fetch mock. */
function setup(shopify: FakeShopify, fetchImpl: ReturnType<typeof sequenceFetch>) {
  const events = createEventReporter({ host: shopify, baseUrl: 'https://api.posai.test', fetchImpl });
  const controller = createRecommendationsController({
    host: shopify,
    baseUrl: 'https://api.posai.test',
    debounceMs: 0,
    fetchImpl,
    cache: new Map(),
    events,
    reportShown: true,
  });
  return { controller, events };
}

const settle = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('shown and added events (POST /api/events)', () => {
  it('reports what the modal shows, once per recommendation, with location and staff, and tags the cart', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok, fixtures.ok, accepted);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    await controller.refresh(); // the cached answer again: not a second `shown`
    await settle(FLUSH_DELAY_MS);
    const [batch] = eventsSent(fetchImpl);
    expect(batch).toHaveLength(1);
    expect(batch![0]).toMatchObject({
      type: 'shown',
      recommendationId: OK.recommendationId,
      variantIds: OK.recommendations.map((r) => r.variantId),
      locationId: '3',
      staffMemberId: '55',
    });
    expect(batch![0]!.id).toMatch(/^[0-9a-f]{32}$/);
    expect(shopify.cart.cartProperties[SHOWN_PROPERTY]).toBe(OK.recommendationId);
    const headers = (fetchImpl.mock.calls[fetchImpl.mock.calls.length - 1]![1] as RequestInit).headers as Record<string, string>;
    expect(headers.Authorization).toMatch(/^Bearer session-token-1-/);
  });

  it('reports an add (with the same id the line carries), not a dismissed one', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok, fixtures.empty, accepted);
    const { controller } = setup(shopify, fetchImpl);
    controller.start();
    await settle();
    const [first, second] = controller.getState().recommendations;
    await controller.addToCart(first!);
    shopify.cart.addLineItem.mockResolvedValueOnce(''); // the cashier dismissed POS's warning
    await controller.addToCart(second!);
    await settle(FLUSH_DELAY_MS);
    const sent = eventsSent(fetchImpl).flat();
    expect(sent.map((e) => e.type)).toEqual(['shown', 'added']);
    expect(sent[1]).toMatchObject({ recommendationId: OK.recommendationId, variantId: first!.variantId });
    expect(shopify.cart.addLineItem.mock.calls[0]![2]).toEqual({ properties: { _posai: OK.recommendationId } });
  });

  it('never blocks the cashier: Add resolves while the events request hangs', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const fetchImpl = sequenceFetch(fixtures.ok, (url, init) =>
      url.endsWith('/api/events') ? hangingResponder(url, init) : new Response(JSON.stringify(fixtures.empty.body)),
    );
    const { controller, events } = setup(shopify, fetchImpl);
    controller.start();
    await settle(FLUSH_DELAY_MS); // the `shown` batch is now in flight, hanging
    await expect(controller.addToCart(controller.getState().recommendations[0]!)).resolves.toBe(true);
    expect(events.pending()).toBe(2);
  });

  it('keeps events while offline or failing and resends them, same ids, until the backend answers', async () => {
    const shopify = createFakeShopify({ variantIds: [] });
    const fetchImpl = sequenceFetch(
      networkErrorResponder,
      () => new Response('{}', { status: 503 }),
      accepted,
    );
    const events = createEventReporter({ host: shopify, baseUrl: '', fetchImpl });
    events.added(OK.recommendationId, '1002');
    await settle(FLUSH_DELAY_MS);
    expect(events.pending()).toBe(1);
    await settle(MIN_BACKOFF_MS);
    expect(events.pending()).toBe(1);
    await settle(2 * MIN_BACKOFF_MS);
    expect(events.pending()).toBe(0);
    const ids = eventsSent(fetchImpl).map((batch) => batch[0]!.id);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1);
  });

  it('waits while POS is offline and sends as soon as it is back', async () => {
    const shopify = createFakeShopify({ variantIds: [], online: false });
    const fetchImpl = sequenceFetch(accepted);
    const events = createEventReporter({ host: shopify, baseUrl: '', fetchImpl });
    events.added(OK.recommendationId, '1002');
    await settle(FLUSH_DELAY_MS * 4);
    expect(fetchImpl).not.toHaveBeenCalled();
    shopify.setOnline(true);
    await settle();
    expect(eventsSent(fetchImpl)).toHaveLength(1);
    expect(events.pending()).toBe(0);
  });

  it('drops a batch the backend refuses as malformed (400) instead of retrying it forever', async () => {
    const shopify = createFakeShopify({ variantIds: [] });
    const fetchImpl = sequenceFetch(fixtures.bad_request);
    const events = createEventReporter({ host: shopify, baseUrl: '', fetchImpl });
    events.added(OK.recommendationId, '1002');
    await settle(FLUSH_DELAY_MS);
    expect(events.pending()).toBe(0);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });

  it('sends in batches, keeps at most MAX_QUEUE events, and survives a restart through shopify.storage', async () => {
    const shopify = createFakeShopify({ variantIds: [], online: false });
    const storage = fakeStorage();
    shopify.storage = storage;
    const first = createEventReporter({ host: shopify, baseUrl: '', fetchImpl: sequenceFetch(accepted) });
    for (let i = 0; i < MAX_QUEUE + 10; i++) first.added(OK.recommendationId, String(1000 + i));
    expect(first.pending()).toBe(MAX_QUEUE);
    await settle();
    expect((JSON.parse(storage.data.get('posai-events')!) as unknown[]).length).toBe(MAX_QUEUE);

    shopify.setOnline(true);
    const fetchImpl = sequenceFetch(accepted);
    const restarted = createEventReporter({ host: { ...shopify, connectivity: undefined }, baseUrl: '', fetchImpl });
    restarted.added(OK.recommendationId, '9999'); // before the stored queue is read back
    await restarted.flush();
    const batches = eventsSent(fetchImpl);
    expect(batches.length).toBe(Math.ceil(MAX_QUEUE / BATCH_SIZE));
    expect(batches.flat().map((e) => (e as { variantId: string }).variantId).slice(-2)).toEqual(['1509', '9999']);
    expect(batches.every((b) => b.length <= BATCH_SIZE)).toBe(true);
    expect(batches[0]![0]).toMatchObject({ variantId: '1011' }); // the oldest eleven were dropped
  });

  it('starts a new cart with an empty _posai_shown list', async () => {
    const shopify = createFakeShopify({ variantIds: CART });
    const events = createEventReporter({ host: shopify, baseUrl: '', fetchImpl: sequenceFetch(accepted) });
    events.shown([{ variantId: '1', recommendationId: 'rec-aaaaaaaaaaaaaaaaaaaa' }]);
    events.shown([{ variantId: '2', recommendationId: 'rec-bbbbbbbbbbbbbbbbbbbb' }]);
    expect(shopify.cart.cartProperties[SHOWN_PROPERTY]).toBe('rec-aaaaaaaaaaaaaaaaaaaa rec-bbbbbbbbbbbbbbbbbbbb');
    shopify.setCartVariants([]);
    shopify.setCartVariants([7]);
    events.shown([{ variantId: '3', recommendationId: 'rec-cccccccccccccccccccc' }]);
    expect(shopify.cart.cartProperties[SHOWN_PROPERTY]).toBe('rec-cccccccccccccccccccc');
  });
});
