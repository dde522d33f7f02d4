// @vitest-environment happy-dom
import type { Recommendation } from '../src/api';
import { act } from 'preact/test-utils';
import { render } from 'preact';
import { clearSharedCache } from '../src/state';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import renderModal from '../src/Modal';
import {
  createFakeShopify,
  fixtures,
  hangingResponder,
  networkErrorResponder,
  sentBody,
  sequenceFetch,
  type FakeShopify,
} from './helpers';

const OK_RECS = (fixtures.ok.body as { recommendations: Recommendation[] }).recommendations;
const BAD_REQUEST = (fixtures.bad_request.body as { error: { code: string; message: string } }).error;

let shopify: FakeShopify;

async function flush(ms = 0) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

async function mountModal(fetchImpl: ReturnType<typeof sequenceFetch>) {
  vi.stubGlobal('shopify', shopify);
  vi.stubGlobal('fetch', fetchImpl);
  await act(async () => {
    await renderModal();
  });
  await flush();
}

const body = () => document.body;
const text = () => (body().textContent ?? '').replace(/\s+/g, ' ');
const buttons = (label: string) =>
  [...body().querySelectorAll('s-button')].filter((b) => b.textContent?.trim() === label) as HTMLElement[];

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  await act(() => render(null, document.body));
  clearSharedCache();
  vi.useRealTimers();
});

describe('Modal (pos.home.modal.render) with a fake shopify global', () => {
  it('lists product title, variant title, price and stock with an Add button each', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    await mountModal(sequenceFetch(fixtures.ok));

    expect(body().querySelector('s-page')?.getAttribute('heading')).toBe('Suggested add-ons');
    const sections = [...body().querySelectorAll('s-section')];
    expect(sections.map((s) => s.getAttribute('heading'))).toEqual(OK_RECS.map((r) => r.productTitle));
    const [first, second] = OK_RECS as [Recommendation, Recommendation];
    expect(first.variantTitle).not.toBe('Default Title'); // the recorded answer has one titled variant
    expect(sections[0]!.textContent).toContain(first.variantTitle!);
    expect(sections[0]!.textContent).toContain(`$${first.price}`);
    expect(sections[0]!.textContent).toContain(`${first.inventoryQuantity} in stock`);
    // "Default Title" is Shopify's name for a product's only variant: not shown
    expect(second.variantTitle).toBe('Default Title');
    expect(sections[1]!.textContent).not.toContain('Default Title');
    expect(sections[1]!.textContent).toContain(`$${second.price}`);
    expect(sections[1]!.textContent).toContain(`${second.inventoryQuantity} in stock`);
    expect(buttons('Add')).toHaveLength(2);
  });

  it('Add puts one unit in the cart via shopify.cart.addLineItem and refreshes the list', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    const fetchImpl = sequenceFetch(fixtures.ok, fixtures.empty);
    await mountModal(fetchImpl);

    await act(async () => {
      buttons('Add')[0]!.click();
    });
    await flush();

    const added = OK_RECS[0]!;
    expect(shopify.cart.addLineItem).toHaveBeenCalledWith(Number(added.variantId), 1);
    expect(shopify.toast.show).toHaveBeenCalledWith(`Added ${added.productTitle} to the cart`);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(sentBody(fetchImpl, 1)).toMatchObject({ cartVariantIds: ['46812312961178', added.variantId] });
    expect(body().querySelector('s-empty-state')?.getAttribute('heading')).toBe('No suggestions for this cart');
    expect(buttons('Add')).toHaveLength(0);
  });

  it('offers untracked variants (inventoryQuantity null) as "Stock not tracked", with Add enabled', async () => {
    shopify = createFakeShopify({ variantIds: [1002] });
    await mountModal(sequenceFetch(fixtures.untracked));
    const recs = (fixtures.untracked.body as { recommendations: Recommendation[] }).recommendations;
    const index = recs.findIndex((r) => r.inventoryQuantity === null);
    const section = [...body().querySelectorAll('s-section')][index]!;
    expect(section.textContent).toContain('Stock not tracked');
    expect(section.textContent).not.toContain('Out of stock');
    expect(buttons('Add')).toHaveLength(recs.length);
    expect(buttons('Add').some((b) => b.hasAttribute('disabled'))).toBe(false);
  });

  it('keeps the list and says so when the cashier dismisses the oversell warning', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    shopify.cart.addLineItem.mockResolvedValueOnce('');
    const fetchImpl = sequenceFetch(fixtures.ok);
    await mountModal(fetchImpl);
    await act(async () => {
      buttons('Add')[0]!.click();
    });
    await flush();
    expect(shopify.toast.show).toHaveBeenCalledWith(`${OK_RECS[0]!.productTitle} was not added`);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(buttons('Add')).toHaveLength(OK_RECS.length);
  });

  it('shows the Add button as busy while adding', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    let finish: (uuid: string) => void = () => {};
    shopify.cart.addLineItem.mockImplementationOnce(() => new Promise<string>((resolve) => (finish = resolve)));
    await mountModal(sequenceFetch(fixtures.ok));
    await act(async () => {
      buttons('Add')[0]!.click();
    });
    const [first, second] = buttons('Add');
    expect(first!.hasAttribute('loading')).toBe(true);
    expect(second!.hasAttribute('disabled')).toBe(true);
    await act(async () => finish('line-x'));
    await flush();
  });

  it('shows a spinner while loading', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountModal(sequenceFetch(hangingResponder));
    expect(body().querySelector('s-spinner')).not.toBeNull();
    expect(text()).toContain('Finding add-ons for this cart');
  });

  it('shows the timeout state with a retry that asks again', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    const fetchImpl = sequenceFetch(hangingResponder, fixtures.ok);
    await mountModal(fetchImpl);
    await flush(8000);
    expect(body().querySelector('s-spinner')).toBeNull();
    expect(body().querySelector('s-banner')?.getAttribute('heading')).toBe('Suggestions are taking too long');
    expect(text()).toContain('The server did not answer in time');
    await act(async () => {
      buttons('Try again')[0]!.click();
    });
    await flush();
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(buttons('Add')).toHaveLength(2);
  });

  it('shows the empty state', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountModal(sequenceFetch(fixtures.empty));
    expect(body().querySelector('s-empty-state')?.getAttribute('heading')).toBe('No suggestions for this cart');
  });

  it('shows the empty-cart state', async () => {
    shopify = createFakeShopify({ variantIds: [] });
    await mountModal(sequenceFetch(fixtures.ok));
    expect(body().querySelector('s-empty-state')?.getAttribute('heading')).toBe('The cart is empty');
  });

  it('explains offline (device) and offline (server unreachable)', async () => {
    shopify = createFakeShopify({ variantIds: [1], online: false });
    await mountModal(sequenceFetch(fixtures.ok));
    expect(body().querySelector('s-banner')?.getAttribute('heading')).toBe('This device is offline');
    await act(() => render(null, document.body));

    shopify = createFakeShopify({ variantIds: [1] });
    await mountModal(sequenceFetch(networkErrorResponder));
    expect(body().querySelector('s-banner')?.getAttribute('heading')).toBe("Can't reach POSAI");
    expect(buttons('Try again')).toHaveLength(1);
  });

  it('explains a missing app permission (session token null)', async () => {
    shopify = createFakeShopify({ variantIds: [1], token: null });
    await mountModal(sequenceFetch(fixtures.ok));
    const banner = body().querySelector('s-banner');
    expect(banner?.getAttribute('heading')).toBe("You don't have access to POSAI");
    expect(banner?.textContent).toContain('is not allowed to use the POSAI app');
    expect(banner?.textContent).toContain('app permissions');
  });

  it('explains a rejected session (401 after one retry)', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountModal(sequenceFetch(fixtures.unauthorized));
    const banner = body().querySelector('s-banner');
    expect(banner?.getAttribute('heading')).toBe("POSAI couldn't verify this POS session");
    expect(banner?.getAttribute('tone')).toBe('critical');
  });

  it('shows the API error message for other failures', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    await mountModal(sequenceFetch(fixtures.bad_request));
    const banner = body().querySelector('s-banner');
    expect(banner?.getAttribute('heading')).toBe("Couldn't load suggestions");
    expect(banner?.textContent).toContain(BAD_REQUEST.message);
    expect(banner?.textContent).toContain('(bad_request)');
  });
});
