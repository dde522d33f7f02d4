/**
 * Screenshot harness for the POS modal (pos.home.modal.render): renders the real ModalApp with
 * the test doubles (fake `shopify` global, a fetch answering like POST /api/recommendations) in
 * happy-dom and writes the resulting `<s-*>` markup to harness/out/pos-modal.html, which
 * scripts/screenshot_modal.py styles (harness/pos.css) and photographs with Chromium.
 * The answer is hand-made in the API's shape; its reasons are the server's English messages
 * (posai_app/api/reasons.py).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { act } from 'preact/test-utils';
import { render } from 'preact';
import { afterEach, expect, it, vi } from 'vitest';
import renderModal from '../src/Modal';
import { clearSharedCache } from '../src/state';
import { createFakeShopify, sequenceFetch, type RecordedFixture } from '../test/helpers';

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'out', 'pos-modal.html');

const ANSWER: RecordedFixture = {
  status: 200,
  headers: { 'Content-Type': 'application/json' },
  body: {
    metric: 'cosine',
    recommendationId: 'rec_harness',
    recommendations: [
      {
        variantId: '2002',
        productId: '202',
        productTitle: 'White metal lantern',
        variantTitle: 'Default Title',
        price: '3.75',
        inventoryQuantity: 12,
        score: 1.0,
        source: 'pinned',
        reason: 'Pairs with White hanging heart T-light holder (set by the store)',
      },
      {
        variantId: '2005',
        productId: '205',
        productTitle: 'Set of 3 cake tins',
        variantTitle: 'Pantry',
        price: '4.95',
        inventoryQuantity: 30,
        score: 0.41,
        source: 'model',
        reason: 'Bought with White hanging heart T-light holder in 37 orders',
      },
      {
        variantId: '2011',
        productId: '211',
        productTitle: 'Jumbo bag red retrospot',
        variantTitle: 'Default Title',
        price: '2.08',
        inventoryQuantity: 2,
        score: 50.0,
        source: 'bestsellers',
        reason: 'A bestseller in this store',
      },
    ],
  },
};

afterEach(async () => {
  await act(() => render(null, document.body));
  clearSharedCache();
  vi.useRealTimers();
});

it('renders the modal with three suggestions and writes its markup', async () => {
  vi.useFakeTimers();
  const shopify = createFakeShopify({ variantIds: [2001], currency: 'GBP' });
  vi.stubGlobal('shopify', shopify);
  vi.stubGlobal('fetch', sequenceFetch(ANSWER));
  await act(async () => {
    await renderModal();
  });
  await act(async () => {
    await vi.advanceTimersByTimeAsync(0);
  });
  const body = document.body;
  expect(body.querySelectorAll('s-button[id^="posai-add-"]')).toHaveLength(3);
  expect(body.textContent).toContain('Pairs with White hanging heart T-light holder (set by the store)');
  expect(body.textContent).toContain('£3.75');
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, body.innerHTML);
});
