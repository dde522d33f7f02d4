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
