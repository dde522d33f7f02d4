/**
 * One POS sale against a live POSAI server: the modal target (src/Modal.tsx's default export,
 * as POS runs it) with the extension's own state, api and events modules, real timers and
 * real HTTP. Only `shopify` is a fake (test/helpers.ts: cart, session, storage, toast,
 * connectivity, i18n, locale), and the network is the platform's fetch with one fault.
 *
 * Started by the backend's tests/impact/test_pos_end_to_end.py, which serves the app, trains
 * a shop and then checks the database, sends the order webhook and reads the Impact figures.
 * It passes the environment below and reads back what this run recorded (POSAI_E2E_OUT).
 *
 * - POSAI_E2E_APP_URL: the page URL (vitest.e2e.config.ts); relative fetches go there.
 * - POSAI_E2E_TOKENS: JSON list of valid session tokens, handed out in turn like POS's.
 * - POSAI_E2E_CART: JSON list of the variant ids already in the cart.
 * - POSAI_E2E_LOCATION / POSAI_E2E_STAFF: the POS session's location and pinned staff member.
 *
 * The fault: the first POST /api/events reaches the server, which records it, and then the
 * connection drops before the answer arrives. The extension's queue must resend the same batch
 * (same event ids) on its own, and the server must count it once.
 */
import { writeFileSync } from 'node:fs';
import { render } from 'preact';
import { afterAll, expect, it, vi } from 'vitest';
import { SHOWN_PROPERTY, sharedEventReporter } from '../src/events';
import renderModal from '../src/Modal';
import { createFakeShopify, fakeSignal } from '../test/helpers';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: this run is started by tests/impact/test_pos_end_to_end.py`);
  return value;
}

const tokens = JSON.parse(env('POSAI_E2E_TOKENS')) as string[];
const cart = JSON.parse(env('POSAI_E2E_CART')) as number[];
const locationId = Number(env('POSAI_E2E_LOCATION'));
const staffId = Number(env('POSAI_E2E_STAFF'));

interface Exchange {
  path: string;
  request: unknown;
  status: number;
  answer: unknown;
  /** false: the server answered but the extension never saw it (the injected fault). */
  delivered: boolean;
}

const exchanges: Exchange[] = [];
const platformFetch = globalThis.fetch;
let eventPosts = 0;

/** The platform's fetch, recorded; the first events answer is lost on the way back. */
async function posFetch(input: string, init: RequestInit): Promise<Response> {
  const response = await platformFetch(input, init);
  const text = await response.text();
  const path = new URL(input, location.href).pathname;
  const lost = path === '/api/events' && eventPosts++ === 0;
  exchanges.push({
    path,
    request: JSON.parse(String(init.body)),
    status: response.status,
    answer: text ? JSON.parse(text) : null,
    delivered: !lost,
  });
  if (lost) throw new TypeError('fetch failed: connection reset');
  return new Response(text, { status: response.status, headers: response.headers });
}

async function until<T>(what: string, probe: () => T | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const shopify = createFakeShopify({ variantIds: cart });
let handedOut = 0;
shopify.session.getSessionToken.mockImplementation(async () => tokens[handedOut++ % tokens.length]!);
shopify.session.currentSession.locationId = locationId;
shopify.session.staffMember = fakeSignal<{ id: number } | undefined>({ id: staffId });

afterAll(() => {
  render(null, document.body);
});

it('shows a live suggestion, adds it tagged, and reports shown and added once despite a lost answer', async () => {
  vi.stubGlobal('shopify', shopify);
  vi.stubGlobal('fetch', posFetch);
  await renderModal();

  const addButtons = () => [...document.body.querySelectorAll('s-button[id^="posai-add-"]')] as HTMLElement[];
  const [button] = await until('the suggestions', () => addButtons().length > 0 && addButtons());
  const suggestionText = document.body.textContent ?? '';
  button!.click();
  await until('the add', () => shopify.cart.addLineItem.mock.results.length > 0);
  const uuid = await shopify.cart.addLineItem.mock.results[0]!.value;
  expect(uuid).toMatch(/^line-/);
  // The list reloads for the new cart; then the cashier rings up a second unit of the add-on.
  await until('the reload', () => exchanges.filter((e) => e.path === '/api/recommendations').length >= 2);
  const addedVariant = shopify.cart.addLineItem.mock.calls[0]![0];
  shopify.setQuantity(addedVariant, 2);

  // The first batch is recorded but its answer lost: the queue resends it after its backoff.
  const reporter = sharedEventReporter({ host: shopify, baseUrl: '' });
  await until('the resent batch', () => eventPosts >= 2 && reporter.pending() === 0);

  writeFileSync(
    env('POSAI_E2E_OUT'),
    JSON.stringify(
      {
        exchanges,
        addLineItem: await Promise.all(
          shopify.cart.addLineItem.mock.calls.map(async (args, i) => ({
            args,
            result: await shopify.cart.addLineItem.mock.results[i]!.value,
          })),
        ),
        lineItems: shopify.cart.current.value.lineItems,
        cartProperties: shopify.cart.cartProperties,
        toasts: shopify.toast.show.mock.calls.map((call) => call[0]),
        suggestionText,
        tokensUsed: handedOut,
      },
      null,
      2,
    ),
  );
  expect(shopify.cart.cartProperties[SHOWN_PROPERTY]).toBeTruthy();
});
