/**
 * The recorded fixtures must stay shaped exactly like the API contract
 * (they are regenerated from the real API by the backend's test suite).
 */
import { describe, expect, it } from 'vitest';
import { parseErrorBody, parseRecommendationsBody } from '../src/api';
import { fixtures, type RecordedFixture } from './helpers';

function header(f: RecordedFixture, name: string): string | undefined {
  const key = Object.keys(f.headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : f.headers[key];
}

describe('recorded fixtures follow the contract', () => {
  it.each(Object.entries(fixtures))('%s is {status:int, headers:{str:str}, body:object}', (_name, f) => {
    expect(Object.keys(f).sort()).toEqual(['body', 'headers', 'status']);
    expect(Number.isInteger(f.status)).toBe(true);
    for (const [k, v] of Object.entries(f.headers)) {
      expect(typeof k).toBe('string');
      expect(typeof v).toBe('string');
    }
    expect(header(f, 'content-type')).toMatch(/^application\/json/);
    expect(typeof f.body).toBe('object');
  });

  it('ok.json: 200 with metric and fully-typed recommendations', () => {
    const f = fixtures.ok;
    expect(f.status).toBe(200);
    const body = f.body as { metric: unknown; recommendations: Array<Record<string, unknown>> };
    expect(typeof body.metric).toBe('string');
    expect(body.recommendations.length).toBeGreaterThan(0);
    for (const rec of body.recommendations) {
      expect(Object.keys(rec).sort()).toEqual(
        ['inventoryQuantity', 'price', 'productId', 'productTitle', 'score', 'source', 'variantId', 'variantTitle'].sort(),
      );
      expect(rec.variantId).toEqual(expect.stringMatching(/^\d+$/));
      expect(rec.productId).toEqual(expect.stringMatching(/^\d+$/));
      expect(typeof rec.score).toBe('number');
      expect(typeof rec.productTitle).toBe('string');
      expect(typeof rec.variantTitle).toBe('string');
      expect(rec.price).toEqual(expect.stringMatching(/^\d+(\.\d+)?$/));
      expect(Number.isInteger(rec.inventoryQuantity)).toBe(true);
      expect(['model', 'bestsellers']).toContain(rec.source);
    }
    expect(parseRecommendationsBody(f.body)?.recommendations).toHaveLength(body.recommendations.length);
  });

  it('empty.json: 200 with an empty list', () => {
    expect(fixtures.empty.status).toBe(200);
    expect((fixtures.empty.body as { recommendations: unknown[] }).recommendations).toEqual([]);
    expect(parseRecommendationsBody(fixtures.empty.body)).toEqual({ metric: 'cosine', recommendations: [] });
  });

  it.each([
    ['unauthorized', 401],
    ['bad_request', 400],
  ] as const)('%s.json: %i with {"error": {"code", "message"}}', (name, status) => {
    const f = fixtures[name];
    expect(f.status).toBe(status);
    expect(Object.keys(f.body as object)).toEqual(['error']);
    const error = (f.body as { error: Record<string, unknown> }).error;
    expect(Object.keys(error).sort()).toEqual(['code', 'message']);
    expect(typeof error.code).toBe('string');
    expect(typeof error.message).toBe('string');
    expect(parseErrorBody(f.body, status)).toEqual(error);
  });

  it('unauthorized.json carries X-Shopify-Retry-Invalid-Session-Request: 1', () => {
    expect(header(fixtures.unauthorized, 'X-Shopify-Retry-Invalid-Session-Request')).toBe('1');
  });
});
