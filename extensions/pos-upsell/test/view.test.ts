import { describe, expect, it } from 'vitest';
import type { Recommendation } from '../src/api';
import type { Status, ViewState } from '../src/state';
import { formatPrice, noticeFor, stockLabel, tileModel, variantLabel } from '../src/view';

const rec: Recommendation = {
  variantId: '1',
  score: 1,
  productId: '2',
  productTitle: 'Wrap',
  variantTitle: 'Default Title',
  price: '12.50',
  inventoryQuantity: 3,
  source: 'model',
};

function state(status: Status, patch: Partial<ViewState> = {}): ViewState {
  return {
    status,
    recommendations: [],
    cartKey: '1',
    fromCache: false,
    deviceOffline: false,
    errorCode: null,
    errorMessage: null,
    addingVariantId: null,
    ...patch,
  };
}

describe('tile model for every status', () => {
  it.each<[Status, Partial<ViewState>, string, boolean, number | undefined]>([
    ['idle', {}, 'Add items to the cart', true, undefined],
    ['loading', {}, 'Finding add-ons…', true, undefined],
    ['loading', { recommendations: [rec] }, 'Updating…', false, 1],
    ['ok', { recommendations: [rec] }, '1 suggestion', false, 1],
    ['ok', { recommendations: [rec, { ...rec, variantId: '9' }] }, '2 suggestions', false, 2],
    ['empty', {}, 'No suggestions for this cart', true, 0],
    ['offline', {}, 'Offline – tap for details', false, undefined],
    ['no-permission', {}, 'No access – tap for details', false, undefined],
    ['unauthorized', {}, 'Sign-in problem – tap for details', false, undefined],
    ['timeout', {}, 'Taking too long – tap to retry', false, undefined],
    ['error', {}, 'Unavailable – tap for details', false, undefined],
  ])('%s %j', (status, patch, subheading, disabled, itemCount) => {
    expect(tileModel(state(status, patch))).toEqual({ heading: 'Suggested add-ons', subheading, disabled, itemCount });
  });

  it('has a banner for each failure state and none otherwise', () => {
    for (const s of ['offline', 'no-permission', 'unauthorized', 'timeout', 'error'] as const) {
      expect(noticeFor(state(s))).not.toBeNull();
    }
    for (const s of ['idle', 'loading', 'ok', 'empty'] as const) expect(noticeFor(state(s))).toBeNull();
  });
});

describe('row formatting', () => {
  const host = (currency?: string, withI18n = false) => ({
    session: {
      getSessionToken: async () => 't',
      currentSession: currency ? { currency } : undefined,
    },
    i18n: withI18n ? { formatCurrency: (v: number, o?: { currency?: string }) => `${o?.currency}:${v}` } : undefined,
  });

  it('formats prices with the POS i18n API, Intl, or falls back to the raw string', () => {
    expect(formatPrice('12.50', host('EUR', true))).toBe('EUR:12.5');
    expect(formatPrice('12.50', host('USD'))).toMatch(/12\.50/);
    expect(formatPrice('12.50', host(undefined))).toBe('12.50');
    expect(formatPrice('n/a', host('USD'))).toBe('n/a');
  });

  it('labels stock: null is untracked, 0 or less (only suggested when it keeps selling) is sellable', () => {
    expect(stockLabel(7)).toBe('7 in stock');
    expect(stockLabel(null)).toBe('Stock not tracked');
    expect(stockLabel(0)).toBe('Out of stock, can still be sold');
    expect(stockLabel(-2)).toBe('Out of stock, can still be sold');
  });

  it('hides the "Default Title" variant name', () => {
    expect(variantLabel(rec)).toBe('');
    expect(variantLabel({ ...rec, variantTitle: 'Large' })).toBe('Large');
  });
});
