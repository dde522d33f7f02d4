// @vitest-environment happy-dom
import { act } from 'preact/test-utils';
import { render } from 'preact';
import { clearSharedCache } from '../src/state';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import renderTile from '../src/Tile';
import { createFakeShopify, fixtures, hangingResponder, sequenceFetch, type FakeShopify } from './helpers';

let shopify: FakeShopify;

async function mountTile(fetchImpl: ReturnType<typeof sequenceFetch>) {
  vi.stubGlobal('shopify', shopify);
  vi.stubGlobal('fetch', fetchImpl);
  await act(async () => {
    await renderTile();
  });
  await flush();
}

async function flush() {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(0);
  });
}

function tile(): HTMLElement {
  const el = document.body.querySelector('s-tile');
  if (!el) throw new Error('no <s-tile> rendered');
  return el as HTMLElement;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  await act(() => render(null, document.body));
  clearSharedCache();
  vi.useRealTimers();
});

describe('Tile (pos.home.tile.render) with a fake shopify global', () => {
  it('shows how many suggestions the current cart has and opens the modal', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    const fetchImpl = sequenceFetch(fixtures.ok);
    await mountTile(fetchImpl);

    // relative: POS resolves it against the app's application_url (no placeholder host baked in)
    expect(fetchImpl).toHaveBeenCalledWith('/api/recommendations', expect.anything());
    expect(tile().getAttribute('heading')).toBe('Suggested add-ons');
    expect(tile().getAttribute('subheading')).toBe('2 suggestions');
    expect(tile().getAttribute('itemCount')).toBe('2');
    expect(tile().hasAttribute('disabled')).toBe(false);

    tile().click();
    expect(shopify.action.presentModal).toHaveBeenCalledTimes(1);
  });

  it('is disabled when there is nothing to suggest', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountTile(sequenceFetch(fixtures.empty));
    expect(tile().getAttribute('subheading')).toBe('No suggestions for this cart');
    expect(tile().hasAttribute('disabled')).toBe(true);
  });

  it('is disabled for an empty cart', async () => {
    shopify = createFakeShopify({ variantIds: [] });
    await mountTile(sequenceFetch(fixtures.ok));
    expect(tile().getAttribute('subheading')).toBe('Add items to the cart');
    expect(tile().hasAttribute('disabled')).toBe(true);
  });

  it('shows progress while the answer is slow', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountTile(sequenceFetch(hangingResponder));
    expect(tile().getAttribute('subheading')).toBe('Finding add-ons…');
    expect(tile().hasAttribute('disabled')).toBe(true);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(8000);
    });
    expect(tile().getAttribute('subheading')).toBe('Taking too long – tap to retry');
    expect(tile().hasAttribute('disabled')).toBe(false);
  });

  it('follows the cart: updates the count after the cart changes (debounced)', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountTile(sequenceFetch(fixtures.empty, fixtures.ok));
    expect(tile().hasAttribute('disabled')).toBe(true);
    await act(async () => {
      shopify.setCartVariants([1, 2]);
      await vi.advanceTimersByTimeAsync(400);
    });
    await flush();
    expect(tile().getAttribute('subheading')).toBe('2 suggestions');
  });

  it('stays tappable and says why when the staff member has no app permission', async () => {
    shopify = createFakeShopify({ variantIds: [1], token: null });
    await mountTile(sequenceFetch(fixtures.ok));
    expect(tile().getAttribute('subheading')).toBe('No access – tap for details');
    expect(tile().hasAttribute('disabled')).toBe(false);
  });
});

describe('Tile in the POS language (shopify.i18n.translate, shopify.locale)', () => {
  it.each<[string, string, string, string]>([
    ['en-US', 'Suggested add-ons', '2 suggestions', 'Offline – tap for details'],
    ['fr-FR', 'Articles suggérés', '2 suggestions', 'Hors ligne – touchez pour en savoir plus'],
    ['de-DE', 'Passende Artikel', '2 Vorschläge', 'Offline – für Details tippen'],
    ['es-MX', 'Artículos sugeridos', '2 sugerencias', 'Sin conexión – toca para ver detalles'],
    ['nl-BE', 'Aanbevolen artikelen', '2 suggesties', 'Offline – tik voor details'],
    ['ja-JP', 'おすすめの追加商品', '2件のおすすめ', 'オフライン – タップして詳細を表示'],
  ])('%s: heading, count and offline state', async (locale, heading, count, offline) => {
    shopify = createFakeShopify({ variantIds: [1], locale });
    await mountTile(sequenceFetch(fixtures.ok));
    expect(tile().getAttribute('heading')).toBe(heading);
    expect(tile().getAttribute('subheading')).toBe(count);
    expect(tile().getAttribute('itemCount')).toBe('2');
    expect(shopify.i18n.translate).toHaveBeenCalled();
    await act(() => render(null, document.body));
    clearSharedCache();

    shopify = createFakeShopify({ variantIds: [1], locale, online: false });
    await mountTile(sequenceFetch(fixtures.ok));
    expect(tile().getAttribute('subheading')).toBe(offline);
    expect(tile().hasAttribute('disabled')).toBe(false);
  });

  it('re-renders in the new language when POS switches locale', async () => {
    shopify = createFakeShopify({ variantIds: [1], locale: 'en-US' });
    await mountTile(sequenceFetch(fixtures.ok));
    expect(tile().getAttribute('subheading')).toBe('2 suggestions');
    await act(async () => {
      shopify.setLocale('de-DE');
    });
    expect(tile().getAttribute('heading')).toBe('Passende Artikel');
    expect(tile().getAttribute('subheading')).toBe('2 Vorschläge');
  });

  it('stops following the locale when unmounted', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountTile(sequenceFetch(fixtures.ok));
    expect(shopify.locale.current.listenerCount()).toBe(1);
    await act(() => render(null, document.body));
    expect(shopify.locale.current.listenerCount()).toBe(0);
  });

  it('falls back to English on a POS without i18n.translate', async () => {
    shopify = createFakeShopify({ variantIds: [1], locale: 'fr-FR', translate: false });
    await mountTile(sequenceFetch(fixtures.ok));
    expect(tile().getAttribute('heading')).toBe('Suggested add-ons');
    expect(tile().getAttribute('subheading')).toBe('2 suggestions');
  });
});

describe('Tile and connectivity', () => {
  it('says offline (tappable) as soon as POS loses the connection mid-request, and counts again once back', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountTile(sequenceFetch(hangingResponder, fixtures.ok));
    expect(tile().getAttribute('subheading')).toBe('Finding add-ons…');
    await act(async () => {
      shopify.setOnline(false);
    });
    expect(tile().getAttribute('subheading')).toBe('Offline – tap for details');
    expect(tile().hasAttribute('disabled')).toBe(false);
    await act(async () => {
      shopify.setOnline(true);
    });
    await flush();
    expect(tile().getAttribute('subheading')).toBe('2 suggestions');
    expect(tile().getAttribute('itemCount')).toBe('2');
  });
});
