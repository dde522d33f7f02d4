import { describe, expect, it } from 'vitest';
import type { Recommendation } from '../src/api';
import type { Status, ViewState } from '../src/state';
import { translatorFor } from '../src/i18n';
import { formatPrice, itemName, noticeFor, productName, stockLabel, tileModel, variantLabel } from '../src/view';
import { fakeTranslate } from './helpers';

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

describe('every state in every locale', () => {
  const LOCALES = ['en-US', 'fr-FR', 'de-DE', 'es-ES', 'nl-NL', 'ja-JP', 'fr-CA'];
  const STATES: Array<[Status, Partial<ViewState>]> = [
    ['idle', {}],
    ['loading', {}],
    ['loading', { recommendations: [rec] }],
    ['ok', { recommendations: [rec] }],
    ['ok', { recommendations: [rec, { ...rec, variantId: '9' }] }],
    ['empty', {}],
    ['offline', { deviceOffline: true }],
    ['offline', { deviceOffline: false }],
    ['no-permission', {}],
    ['unauthorized', { errorCode: 'unauthorized' }],
    ['timeout', {}],
    ['error', { errorCode: 'http_500' }],
    ['error', { errorCode: 'bad_response', errorMessage: 'The server answered in an unexpected format.' }],
  ];
  const translator = (locale: string) =>
    translatorFor({ i18n: { formatCurrency: String, translate: fakeTranslate(() => locale) } });

  it.each(LOCALES)('%s: tile and banner texts come from that locale, never a raw key', (locale) => {
    const t = translator(locale);
    const english = locale.startsWith('en');
    for (const [status, patch] of STATES) {
      const s = state(status, patch);
      const local = tileModel(s, t);
      const reference = tileModel(s);
      const texts: Array<[string, string]> = [
        [local.heading, reference.heading],
        [local.subheading, reference.subheading],
      ];
      const notice = noticeFor(s, t);
      const referenceNotice = noticeFor(s);
      if (notice && referenceNotice) {
        texts.push([notice.heading, referenceNotice.heading], [notice.body, referenceNotice.body]);
      }
      expect(local.itemCount).toBe(reference.itemCount);
      expect(local.disabled).toBe(reference.disabled);
      for (const [text, en] of texts) {
        expect(text, `${status} ${locale}`).not.toMatch(/\b(title|tile|modal|notice|item|toast)\.[a-zA-Z.]+/);
        expect(text, `${status} ${locale}`).not.toMatch(/\{\{/);
        if (english) expect(text).toBe(en);
        // French counts suggestions exactly as English does ("1 suggestion", "2 suggestions")
        else if (!(locale.startsWith('fr') && /^\d+ suggestions?$/.test(text))) expect(text, `${status} ${locale}`).not.toBe(en);
      }
    }
  });

  it.each<[string, string, string, string]>([
    ['fr-FR', '2 en stock', 'Stock non suivi', 'En rupture de stock, vente toujours possible'],
    ['de-DE', '2 auf Lager', 'Bestand wird nicht erfasst', 'Nicht auf Lager, kann trotzdem verkauft werden'],
    ['es-ES', '2 en stock', 'Inventario sin seguimiento', 'Agotado, pero se puede vender'],
    ['nl-NL', '2 op voorraad', 'Voorraad wordt niet bijgehouden', 'Niet op voorraad, kan toch worden verkocht'],
    ['ja-JP', '在庫 2 点', '在庫を追跡していません', '在庫切れ（販売は可能）'],
  ])('%s: stock labels', (locale, tracked, untracked, oversell) => {
    const t = translator(locale);
    expect(stockLabel(2, t)).toBe(tracked);
    expect(stockLabel(null, t)).toBe(untracked);
    expect(stockLabel(0, t)).toBe(oversell);
  });

  it('names items for buttons and toasts: variant shown unless "Default Title", an id when untitled', () => {
    expect(itemName(rec)).toBe('Wrap');
    expect(itemName({ ...rec, variantTitle: 'Large' })).toBe('Wrap – Large');
    expect(itemName({ ...rec, productTitle: '', variantTitle: 'Large' })).toBe('Large');
    expect(itemName({ ...rec, productTitle: '' })).toBe('Variant 1');
    expect(productName({ ...rec, variantTitle: 'Large' })).toBe('Wrap');
    expect(productName({ ...rec, productTitle: '' }, translator('ja-JP'))).toBe('バリエーション 1');
  });
});
