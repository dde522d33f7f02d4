/**
 * The recorded fixtures must stay shaped like the API contract (docs/openapi.yaml:
 * RecommendationResponse / ErrorEnvelope). They are meant to be regenerated from
 * the real API by the backend's test suite; these checks then guard the extension
 * against contract drift.
 */
import { describe, expect, it } from 'vitest';
import { parseErrorBody, parseRecommendationsBody } from '../src/api';
import { drafts, fixtures, type RecordedFixture } from './helpers';

const NUMERIC_ID = /^[0-9]{1,20}$/;
const DECIMAL = /^-?[0-9]+(\.[0-9]+)?$/;
const REQUIRED = [
  'variantId',
  'score',
  'productId',
  'productTitle',
  'variantTitle',
  'price',
  'inventoryQuantity',
  'source',
];

function header(f: RecordedFixture, name: string): string | undefined {
  const key = Object.keys(f.headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : f.headers[key];
}

describe('recorded fixtures follow the contract', () => {
  it.each(Object.entries(fixtures))('%s is {status:int, headers:{str:str}, body:object}', (_name, f) => {
    expect(Object.keys(f).sort()).toEqual(['body', 'headers', 'status']);
    expect(Number.isInteger(f.status)).toBe(true);
    for (const v of Object.values(f.headers)) expect(typeof v).toBe('string');
    expect(header(f, 'content-type')).toMatch(/^application\/json/);
    expect(header(f, 'access-control-allow-origin')).toBe('*');
    expect(typeof f.body).toBe('object');
  });

  it.each(['ok', 'untracked'] as const)('%s.json: 200 with metric and recommendations typed as documented', (name) => {
    const f = fixtures[name];
    expect(f.status).toBe(200);
    const body = f.body as { metric: unknown; recommendations: Array<Record<string, unknown>> };
    expect(body.metric === null || typeof body.metric === 'string').toBe(true);
    expect(body.recommendations.length).toBeGreaterThan(0);
    expect(body.recommendations.length).toBeLessThanOrEqual(10);
    for (const rec of body.recommendations) {
      for (const key of REQUIRED) expect(rec).toHaveProperty(key);
      expect(rec.variantId).toEqual(expect.stringMatching(NUMERIC_ID));
      expect(rec.productId).toEqual(expect.stringMatching(NUMERIC_ID));
      expect(typeof rec.score).toBe('number');
      expect(typeof rec.productTitle).toBe('string');
      expect(rec.variantTitle === null || typeof rec.variantTitle === 'string').toBe(true);
      expect(rec.price === null || DECIMAL.test(String(rec.price))).toBe(true);
      expect(rec.inventoryQuantity === null || Number.isInteger(rec.inventoryQuantity)).toBe(true);
      expect(['model', 'bestsellers']).toContain(rec.source);
    }
    // and the extension accepts it, keeping every item
    expect(parseRecommendationsBody(f.body)?.recommendations).toHaveLength(body.recommendations.length);
  });

  it('untracked.json: the API sends null, not 0, for a variant whose stock is not tracked', () => {
    const recs = (fixtures.untracked.body as { recommendations: Array<Record<string, unknown>> }).recommendations;
    expect(recs.some((rec) => rec.inventoryQuantity === null)).toBe(true);
    expect(recs.some((rec) => typeof rec.inventoryQuantity === 'number')).toBe(true);
  });

  it('empty.json: 200 with an empty list', () => {
    expect(fixtures.empty.status).toBe(200);
    expect((fixtures.empty.body as { recommendations: unknown[] }).recommendations).toEqual([]);
    expect(parseRecommendationsBody(fixtures.empty.body)?.recommendations).toEqual([]);
  });

  it.each([
    ['unauthorized', 401],
    ['bad_request', 400],
  ] as const)('%s.json: %i with {"error": {"code", "message", "details"?}}', (name, status) => {
    const f = fixtures[name];
    expect(f.status).toBe(status);
    expect(Object.keys(f.body as object)).toEqual(['error']);
    const error = (f.body as { error: Record<string, unknown> }).error;
    for (const key of Object.keys(error)) expect(['code', 'message', 'details']).toContain(key);
    expect(error.code).toEqual(expect.stringMatching(/^[a-z][a-z0-9_]*$/));
    expect(typeof error.message).toBe('string');
    expect((error.message as string).length).toBeGreaterThan(0);
    expect(parseErrorBody(f.body, status)).toEqual({ code: error.code, message: error.message });
  });

  it('unauthorized.json carries X-Shopify-Retry-Invalid-Session-Request: 1', () => {
    expect(header(fixtures.unauthorized, 'X-Shopify-Retry-Invalid-Session-Request')).toBe('1');
  });
});

describe('nullable fields from the API schema', () => {
  it('accepts null variantTitle, price, inventoryQuantity and metric', () => {
    const parsed = parseRecommendationsBody({
      metric: null,
      recommendations: [
        {
          variantId: '46812313092250',
          score: 0,
          productId: '9012345678934',
          productTitle: 'White Hanging Heart T-Light Holder',
          variantTitle: null,
          price: null,
          inventoryQuantity: null,
          source: 'bestsellers',
          extra: 'ignored',
        },
      ],
    });
    expect(parsed).toEqual({
      metric: null,
      recommendations: [
        {
          variantId: '46812313092250',
          score: 0,
          productId: '9012345678934',
          productTitle: 'White Hanging Heart T-Light Holder',
          variantTitle: '',
          price: '',
          inventoryQuantity: null,
          source: 'bestsellers',
        },
      ],
    });
  });
});

describe('draft fixtures (fields announced by issue #18, not recorded yet)', () => {
  it.each(Object.entries(drafts))('%s is a recorded-style 200 whose suggestions carry every documented field', (_name, f) => {
    expect(Object.keys(f).sort()).toEqual(['body', 'headers', 'status']);
    expect(f.status).toBe(200);
    const body = f.body as { recommendations: Array<Record<string, unknown>>; recommendationId?: unknown };
    for (const rec of body.recommendations) {
      for (const key of REQUIRED) expect(rec).toHaveProperty(key);
      // the announced additions: optional, string (or null for reason)
      if ('reason' in rec) expect(rec.reason === null || typeof rec.reason === 'string').toBe(true);
      if ('recommendationId' in rec) expect(typeof rec.recommendationId).toBe('string');
    }
    if ('recommendationId' in body) expect(typeof body.recommendationId).toBe('string');
    expect(parseRecommendationsBody(f.body)?.recommendations).toHaveLength(body.recommendations.length);
  });
});
