import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  cartKey,
  cartVariantIds,
  parseRecommendationsBody,
  recommendationsUrl,
  requestRecommendations,
  toNumericVariantId,
} from '../src/api';
import { DEFAULT_APP_URL, APP_URL, normalizeBaseUrl } from '../src/config';
import { drafts, fixtures, hangingResponder, networkErrorResponder, sentBody, sentHeaders, sequenceFetch } from './helpers';

const base = { baseUrl: 'https://api.posai.test', token: 'tok', timeoutMs: 5000 };

describe('requestRecommendations', () => {
  it('POSTs the cart variant ids and limit with the bearer token', async () => {
    const fetchImpl = sequenceFetch(fixtures.ok);
    await requestRecommendations({ ...base, cartVariantIds: ['46812312961178', '2'], limit: 2, fetchImpl });
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    const [url, init] = fetchImpl.mock.calls[0]!;
    expect(url).toBe('https://api.posai.test/api/recommendations');
    expect(init.method).toBe('POST');
    expect(sentHeaders(fetchImpl)).toMatchObject({
      Authorization: 'Bearer tok',
      'Content-Type': 'application/json',
    });
    expect(sentBody(fetchImpl)).toEqual({ cartVariantIds: ['46812312961178', '2'], limit: 2 });
  });

  it('sends locationId when given', async () => {
    const fetchImpl = sequenceFetch(fixtures.ok);
    await requestRecommendations({ ...base, cartVariantIds: ['1'], locationId: '3', fetchImpl });
    expect(sentBody(fetchImpl)).toEqual({ cartVariantIds: ['1'], locationId: '3' });
  });

  it('sends locale when given', async () => {
    const fetchImpl = sequenceFetch(fixtures.ok);
    await requestRecommendations({ ...base, cartVariantIds: ['1'], locale: 'fr-CA', fetchImpl });
    expect(sentBody(fetchImpl)).toEqual({ cartVariantIds: ['1'], locale: 'fr-CA' });
  });

  it('omits limit when not given', async () => {
    const fetchImpl = sequenceFetch(fixtures.ok);
    await requestRecommendations({ ...base, cartVariantIds: ['1'], fetchImpl });
    expect(sentBody(fetchImpl)).toEqual({ cartVariantIds: ['1'] });
  });

  it('parses the recorded 200 answer', async () => {
    const out = await requestRecommendations({ ...base, cartVariantIds: ['1'], fetchImpl: sequenceFetch(fixtures.ok) });
    const body = fixtures.ok.body as { recommendationId: string; recommendations: object[] };
    expect(out).toEqual({
      kind: 'ok',
      metric: 'cosine',
      // the answer's id applies to every suggestion (the API sends it once, at the top)
      recommendations: body.recommendations.map((r) => ({ ...r, recommendationId: body.recommendationId })),
    });
  });

  it('parses the recorded empty answer', async () => {
    const out = await requestRecommendations({ ...base, cartVariantIds: ['1'], fetchImpl: sequenceFetch(fixtures.empty) });
    expect(out).toEqual({ kind: 'ok', metric: 'cosine', recommendations: [] });
  });

  it('reports the recorded 401 with its retry header', async () => {
    const out = await requestRecommendations({
      ...base,
      cartVariantIds: ['1'],
      fetchImpl: sequenceFetch(fixtures.unauthorized),
    });
    expect(out).toEqual({
      kind: 'unauthorized',
      retryInvalidSession: true,
      // the client keeps the envelope's code and message (details are for humans reading logs)
      error: {
        code: (fixtures.unauthorized.body as { error: { code: string } }).error.code,
        message: (fixtures.unauthorized.body as { error: { message: string } }).error.message,
      },
    });
  });

  it('reports the recorded 400 as an http error with code and message', async () => {
    const out = await requestRecommendations({
      ...base,
      cartVariantIds: ['1'],
      fetchImpl: sequenceFetch(fixtures.bad_request),
    });
    expect(out).toEqual({ kind: 'http-error', status: 400, error: (fixtures.bad_request.body as { error: unknown }).error });
  });

  it.each([405, 413, 500, 502])('reports %i without a JSON body as http_<status>', async (status) => {
    const out = await requestRecommendations({
      ...base,
      cartVariantIds: ['1'],
      fetchImpl: sequenceFetch(() => new Response('<html>oops</html>', { status })),
    });
    expect(out).toEqual({ kind: 'http-error', status, error: { code: `http_${status}`, message: '' } });
  });

  it('rejects a 200 body that does not match the contract', async () => {
    const out = await requestRecommendations({
      ...base,
      cartVariantIds: ['1'],
      fetchImpl: sequenceFetch(() => new Response(JSON.stringify({ recommendations: [{ nope: 1 }] }), { status: 200 })),
    });
    expect(out.kind).toBe('bad-response');
  });

  it('maps a network failure to offline', async () => {
    const out = await requestRecommendations({ ...base, cartVariantIds: ['1'], fetchImpl: sequenceFetch(networkErrorResponder) });
    expect(out).toEqual({ kind: 'offline', error: { code: 'network_error', message: 'fetch failed' } });
  });

  describe('with fake timers', () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('aborts a slow request after timeoutMs and reports a timeout', async () => {
      const fetchImpl = sequenceFetch(hangingResponder);
      const pending = requestRecommendations({ ...base, cartVariantIds: ['1'], fetchImpl });
      await vi.advanceTimersByTimeAsync(4999);
      let settled = false;
      void pending.then(() => (settled = true));
      await vi.advanceTimersByTimeAsync(0);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await expect(pending).resolves.toEqual({ kind: 'timeout' });
      expect((fetchImpl.mock.calls[0]![1].signal as AbortSignal).aborted).toBe(true);
    });

    it('reports an outside abort (cart changed) as aborted, not as a timeout', async () => {
      const outer = new AbortController();
      const pending = requestRecommendations({
        ...base,
        cartVariantIds: ['1'],
        signal: outer.signal,
        fetchImpl: sequenceFetch(hangingResponder),
      });
      outer.abort();
      await expect(pending).resolves.toEqual({ kind: 'aborted' });
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});

describe('ids and urls', () => {
  it('takes variant ids from the cart as strings, skipping custom sales and duplicates', () => {
    const cart = { lineItems: [{ variantId: 46812312961178 }, {}, { variantId: 7 }, { variantId: 46812312961178 }] };
    expect(cartVariantIds(cart)).toEqual(['46812312961178', '7']);
    expect(cartVariantIds(undefined)).toEqual([]);
  });

  it('identifies a cart by its variants in cart order (the newest may weigh most)', () => {
    expect(cartKey(['1', '2'])).toBe('1,2');
    expect(cartKey(['2', '1'])).not.toBe(cartKey(['1', '2']));
    expect(cartKey([])).toBe('');
  });

  it('converts API ids to the numeric ids addLineItem requires', () => {
    expect(toNumericVariantId('46812312961178')).toBe(46812312961178);
    expect(toNumericVariantId('gid://shopify/ProductVariant/42')).toBe(42);
    expect(toNumericVariantId(42)).toBe(42);
    expect(toNumericVariantId('abc')).toBeNull();
    expect(toNumericVariantId('99999999999999999999')).toBeNull();
    expect(toNumericVariantId('0')).toBeNull();
  });

  it('builds the endpoint from APP_URL without double slashes', () => {
    expect(recommendationsUrl('https://x.test/')).toBe('https://x.test/api/recommendations');
    expect(normalizeBaseUrl(' https://x.test// ')).toBe('https://x.test');
  });

  it('asks the relative /api/recommendations (POS resolves it against application_url) unless POSAI_APP_URL is set', () => {
    if (!process.env.POSAI_APP_URL) expect(APP_URL).toBe(DEFAULT_APP_URL);
    expect(DEFAULT_APP_URL).toBe('');
    expect(recommendationsUrl(DEFAULT_APP_URL)).toBe('/api/recommendations');
  });
});

describe('optional reason and recommendationId (issue #18; draft fixtures)', () => {
  it('keeps a reason and a recommendationId per suggestion; a null reason is no reason', async () => {
    const out = await requestRecommendations({ ...base, cartVariantIds: ['1'], fetchImpl: sequenceFetch(drafts.reasons) });
    expect(out.kind).toBe('ok');
    const recs = out.kind === 'ok' ? out.recommendations : [];
    expect(recs.map((r) => [r.variantId, r.reason, r.recommendationId])).toEqual([
      ['1002', 'Bought with Lunch Bag Red in 37 orders', 'rec_01HZX3A9K2'],
      ['1011', undefined, 'rec_01HZX3A9K3'],
    ]);
    expect(recs[1]).not.toHaveProperty('reason');
  });

  it("applies the answer's top-level recommendationId to suggestions without their own", () => {
    const parsed = parseRecommendationsBody(drafts.answerId.body);
    expect(parsed?.recommendations.map((r) => r.recommendationId)).toEqual(['req_7f3a', 'rec_own']);
    expect(parsed?.recommendations.map((r) => r.reason)).toEqual([
      'Pairs with Espresso Machine (set by the store)',
      undefined,
    ]);
  });

  it.each([undefined, null, '', '   ', 42, { text: 'x' }])('ignores a reason/recommendationId of %j', (value) => {
    const parsed = parseRecommendationsBody({
      metric: null,
      recommendationId: value,
      recommendations: [{ variantId: '1', reason: value, recommendationId: value }],
    });
    expect(parsed?.recommendations[0]).not.toHaveProperty('reason');
    expect(parsed?.recommendations[0]).not.toHaveProperty('recommendationId');
  });

  it('trims both', () => {
    const parsed = parseRecommendationsBody({
      recommendations: [{ variantId: '1', reason: '  Popular this week ', recommendationId: ' r1 ' }],
    });
    expect(parsed?.recommendations[0]).toMatchObject({ reason: 'Popular this week', recommendationId: 'r1' });
  });

  it('recorded answers carry the reason and the answer id on every suggestion (the API sends both)', () => {
    const answerId = (fixtures.ok.body as { recommendationId: string }).recommendationId;
    expect(answerId).toMatch(/^[A-Za-z0-9_-]{20,400}$/);
    const recs = parseRecommendationsBody(fixtures.ok.body)!.recommendations;
    expect(recs.map((rec) => rec.reason)).toEqual(['Bought with Tea towel in 3 orders', 'A bestseller in this store']);
    for (const rec of recs) expect(rec.recommendationId).toBe(answerId);
  });
});
