// @vitest-environment happy-dom
import { parseRecommendationsBody, type Recommendation } from '../src/api';
import { act } from 'preact/test-utils';
import { render } from 'preact';
import { clearSharedCache } from '../src/state';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import renderModal from '../src/Modal';
import {
  createFakeShopify,
  drafts,
  fixtures,
  hangingResponder,
  networkErrorResponder,
  sentBody,
  sequenceFetch,
  type FakeShopify,
} from './helpers';

const OK_RECS: Recommendation[] = parseRecommendationsBody(fixtures.ok.body)!.recommendations;
const OK_ID = (fixtures.ok.body as { recommendationId: string }).recommendationId;
const TAG = { properties: { _posai: OK_ID } };
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
/** The Add buttons, one per suggestion (labelled "Add <item>", see addLabel). */
const addButtons = () => [...body().querySelectorAll('s-button[id^="posai-add-"]')] as HTMLElement[];
/** The Add button's text: it is also its accessible name (s-button has no accessibilityLabel). */
const addLabel = (rec: Recommendation) =>
  `Add ${rec.productTitle}${rec.variantTitle && rec.variantTitle !== 'Default Title' ? ` – ${rec.variantTitle}` : ''}`;

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
    expect(addButtons()).toHaveLength(2);
    // each Add button names its item: "Add Coaster – Set of 4", "Add Bestseller candle"
    expect(addButtons().map((b) => b.textContent?.trim())).toEqual(OK_RECS.map(addLabel));
  });

  it('Add puts one unit in the cart via shopify.cart.addLineItem and refreshes the list', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    const fetchImpl = sequenceFetch(fixtures.ok, fixtures.empty);
    await mountModal(fetchImpl);

    await act(async () => {
      addButtons()[0]!.click();
    });
    await flush();

    const added = OK_RECS[0]!;
    expect(shopify.cart.addLineItem).toHaveBeenCalledWith(Number(added.variantId), 1, TAG);
    expect(shopify.toast.show).toHaveBeenCalledWith(`Added ${added.productTitle} to the cart`);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(sentBody(fetchImpl, 1)).toMatchObject({ cartVariantIds: ['46812312961178', added.variantId] });
    expect(body().querySelector('s-empty-state')?.getAttribute('heading')).toBe('No suggestions for this cart');
    expect(addButtons()).toHaveLength(0);
  });

  it('offers untracked variants (inventoryQuantity null) as "Stock not tracked", with Add enabled', async () => {
    shopify = createFakeShopify({ variantIds: [1002] });
    await mountModal(sequenceFetch(fixtures.untracked));
    const recs = (fixtures.untracked.body as { recommendations: Recommendation[] }).recommendations;
    const index = recs.findIndex((r) => r.inventoryQuantity === null);
    const section = [...body().querySelectorAll('s-section')][index]!;
    expect(section.textContent).toContain('Stock not tracked');
    expect(section.textContent).not.toContain('Out of stock');
    expect(addButtons()).toHaveLength(recs.length);
    expect(addButtons().some((b) => b.hasAttribute('disabled'))).toBe(false);
  });

  it('keeps the list and says so when the cashier dismisses the oversell warning', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    shopify.cart.addLineItem.mockResolvedValueOnce('');
    const fetchImpl = sequenceFetch(fixtures.ok);
    await mountModal(fetchImpl);
    await act(async () => {
      addButtons()[0]!.click();
    });
    await flush();
    expect(shopify.toast.show).toHaveBeenCalledWith(`${OK_RECS[0]!.productTitle} was not added`);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    expect(addButtons()).toHaveLength(OK_RECS.length);
  });

  it('shows the Add button as busy while adding', async () => {
    shopify = createFakeShopify({ variantIds: [1] });
    let finish: (uuid: string) => void = () => {};
    shopify.cart.addLineItem.mockImplementationOnce(() => new Promise<string>((resolve) => (finish = resolve)));
    await mountModal(sequenceFetch(fixtures.ok));
    await act(async () => {
      addButtons()[0]!.click();
    });
    const [first, second] = addButtons();
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
    expect(addButtons()).toHaveLength(2);
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

describe('Modal in the POS language', () => {
  const [coaster, candle] = OK_RECS as [Recommendation, Recommendation];

  it.each<[string, string, string[], string, string, string]>([
    [
      'fr-FR',
      'Articles suggérés',
      ['Ajouter Coaster – Set of 4', 'Ajouter Bestseller candle'],
      '3 en stock',
      'Ajouté au panier : Coaster',
      'Recherche d\'articles complémentaires pour ce panier…',
    ],
    [
      'de-DE',
      'Passende Artikel',
      ['Coaster – Set of 4 hinzufügen', 'Bestseller candle hinzufügen'],
      '3 auf Lager',
      'Coaster zum Warenkorb hinzugefügt',
      'Passende Artikel für diesen Warenkorb werden gesucht…',
    ],
    [
      'es-ES',
      'Artículos sugeridos',
      ['Agregar Coaster – Set of 4', 'Agregar Bestseller candle'],
      '3 en stock',
      'Coaster se agregó al carrito',
      'Buscando artículos complementarios para este carrito…',
    ],
    [
      'nl-NL',
      'Aanbevolen artikelen',
      ['Coaster – Set of 4 toevoegen', 'Bestseller candle toevoegen'],
      '3 op voorraad',
      'Coaster toegevoegd aan de winkelwagen',
      'Aanvullende artikelen zoeken voor deze winkelwagen…',
    ],
    [
      'ja-JP',
      'おすすめの追加商品',
      ['「Coaster – Set of 4」を追加', '「Bestseller candle」を追加'],
      '在庫 3 点',
      '「Coaster」をカートに追加しました',
      'このカートに合う追加商品を検索中…',
    ],
  ])('%s: list, Add labels, stock, toast and loading text', async (locale, heading, labels, stock, toast, loading) => {
    expect(coaster.inventoryQuantity).toBe(3);
    shopify = createFakeShopify({ variantIds: [46812312961178], locale });
    await mountModal(sequenceFetch(fixtures.ok, hangingResponder));
    expect(body().querySelector('s-page')?.getAttribute('heading')).toBe(heading);
    expect(addButtons().map((b) => b.textContent?.trim())).toEqual(labels);
    expect(body().querySelectorAll('s-section')[0]!.textContent).toContain(stock);
    expect(candle.productTitle).toBe('Bestseller candle');

    await act(async () => {
      addButtons()[0]!.click();
    });
    await flush();
    expect(shopify.toast.show).toHaveBeenCalledWith(toast);
    // the refresh for the new cart hangs: spinner with a localised label and text
    expect(body().querySelector('s-spinner')?.getAttribute('accessibilityLabel')).not.toBe('Loading suggestions');
    expect(text()).toContain(loading);
  });

  it.each<[string, string, string, string]>([
    ['fr-FR', 'Les suggestions mettent trop de temps', 'Réessayer', 'Aucune suggestion pour ce panier'],
    ['de-DE', 'Die Vorschläge dauern zu lange', 'Erneut versuchen', 'Keine Vorschläge für diesen Warenkorb'],
    ['es-ES', 'Las sugerencias tardan demasiado', 'Reintentar', 'No hay sugerencias para este carrito'],
    ['nl-NL', 'Suggesties duren te lang', 'Opnieuw proberen', 'Geen suggesties voor deze winkelwagen'],
    ['ja-JP', 'おすすめの読み込みに時間がかかっています', '再試行', 'このカートへのおすすめはありません'],
  ])('%s: timeout banner with a retry, then the empty state', async (locale, timeout, retry, empty) => {
    shopify = createFakeShopify({ variantIds: [1], locale });
    await mountModal(sequenceFetch(hangingResponder, fixtures.empty));
    await flush(8000);
    expect(body().querySelector('s-banner')?.getAttribute('heading')).toBe(timeout);
    await act(async () => {
      buttons(retry)[0]!.click();
    });
    await flush();
    expect(body().querySelector('s-empty-state')?.getAttribute('heading')).toBe(empty);
  });

  it('labels the spinner for assistive technology', async () => {
    shopify = createFakeShopify({ variantIds: [1], locale: 'en-US' });
    await mountModal(sequenceFetch(hangingResponder));
    expect(body().querySelector('s-spinner')?.getAttribute('accessibilityLabel')).toBe('Loading suggestions');
    await act(() => render(null, document.body));
    shopify = createFakeShopify({ variantIds: [1], locale: 'ja-JP' });
    await mountModal(sequenceFetch(hangingResponder));
    expect(body().querySelector('s-spinner')?.getAttribute('accessibilityLabel')).toBe('おすすめを読み込み中');
  });
});

describe('Modal: the reason for a suggestion', () => {
  it('shows the reason the API gives, and nothing for a suggestion without one', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    await mountModal(sequenceFetch(drafts.reasons));
    const sections = [...body().querySelectorAll('s-section')];
    expect(sections[0]!.textContent).toContain('Bought with Lunch Bag Red in 37 orders');
    // the second has reason: null -> no extra line: variant hidden (Default Title), price, stock
    const texts = [...sections[1]!.querySelectorAll('s-text')].map((el) => el.textContent);
    expect(texts).toEqual(['$4.50', '6 in stock']);
  });

  it('recorded answers show the reason the API gives', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    await mountModal(sequenceFetch(fixtures.ok));
    expect(body().querySelectorAll('s-section')[0]!.textContent).toContain('Bought with Tea towel in 3 orders');
  });

  it('Add tags the line with the recommendationId', async () => {
    shopify = createFakeShopify({ variantIds: [46812312961178] });
    await mountModal(sequenceFetch(drafts.reasons, fixtures.empty));
    await act(async () => {
      addButtons()[1]!.click();
    });
    await flush();
    expect(shopify.cart.addLineItem).toHaveBeenCalledWith(1011, 1, { properties: { _posai: 'rec_01HZX3A9K3' } });
  });
});
