/** Pure helpers turning controller state into what the cashier reads. */
import type { Recommendation } from './api';
import type { PosHost } from './host';
import type { ViewState } from './state';

export const TILE_HEADING = 'Suggested add-ons';

export interface TileModel {
  heading: string;
  subheading: string;
  itemCount: number | undefined;
  disabled: boolean;
}

export function tileModel(state: ViewState): TileModel {
  const count = state.recommendations.length;
  const base = { heading: TILE_HEADING, itemCount: undefined as number | undefined };
  switch (state.status) {
    case 'idle':
      return { ...base, subheading: 'Add items to the cart', disabled: true };
    case 'loading':
      return count > 0
        ? { ...base, subheading: 'Updating…', itemCount: count, disabled: false }
        : { ...base, subheading: 'Finding add-ons…', disabled: true };
    case 'ok':
      return {
        ...base,
        subheading: count === 1 ? '1 suggestion' : `${count} suggestions`,
        itemCount: count,
        disabled: false,
      };
    case 'empty':
      return { ...base, subheading: 'No suggestions for this cart', itemCount: 0, disabled: true };
    // Failures keep the tile tappable: the modal explains and offers a retry.
    case 'offline':
      return { ...base, subheading: 'Offline – tap for details', disabled: false };
    case 'no-permission':
      return { ...base, subheading: 'No access – tap for details', disabled: false };
    case 'unauthorized':
      return { ...base, subheading: 'Sign-in problem – tap for details', disabled: false };
    case 'timeout':
      return { ...base, subheading: 'Taking too long – tap to retry', disabled: false };
    case 'error':
      return { ...base, subheading: 'Unavailable – tap for details', disabled: false };
  }
}

export function formatPrice(price: string, host: Pick<PosHost, 'session' | 'i18n'>): string {
  const amount = Number(price);
  if (price === '' || !Number.isFinite(amount)) return price;
  const currency = host.session.currentSession?.currency;
  if (currency) {
    try {
      if (host.i18n) return host.i18n.formatCurrency(amount, { currency });
      return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount);
    } catch {
      // fall through to the plain rendering below
    }
    return `${price} ${currency}`;
  }
  return price;
}

/**
 * null: Shopify does not track the variant's stock (the API sends null, never 0, for
 * those). The API only suggests what may be sold, so a tracked quantity of 0 or less
 * is a variant set to keep selling when out of stock.
 */
export function stockLabel(inventoryQuantity: number | null): string {
  if (inventoryQuantity === null) return 'Stock not tracked';
  if (inventoryQuantity <= 0) return 'Out of stock, can still be sold';
  return `${inventoryQuantity} in stock`;
}

/** Shopify names the only variant of a product "Default Title": don't show it. */
export function variantLabel(rec: Recommendation): string {
  return rec.variantTitle && rec.variantTitle !== 'Default Title' ? rec.variantTitle : '';
}

export interface Notice {
  tone: 'warning' | 'critical' | 'info';
  heading: string;
  body: string;
  retry: boolean;
}

/** Banner content for the failure states; null for the others. */
export function noticeFor(state: ViewState): Notice | null {
  switch (state.status) {
    case 'offline':
      return state.deviceOffline
        ? {
            tone: 'warning',
            heading: 'This device is offline',
            body: 'Suggestions need an internet connection. They come back as soon as the device is online again.',
            retry: true,
          }
        : {
            tone: 'warning',
            heading: "Can't reach POSAI",
            body: 'The suggestions server could not be reached. Check the connection and try again.',
            retry: true,
          };
    case 'no-permission':
      return {
        tone: 'warning',
        heading: "You don't have access to POSAI",
        body:
          'Shopify POS gives POSAI no sign-in token because the Shopify account this device is logged in with ' +
          '(the email login, not the staff PIN) is not allowed to use the POSAI app. ' +
          "An admin can turn on POSAI in that user's app permissions in Shopify admin (Settings › Users), " +
          'then try again.',
        retry: true,
      };
    case 'unauthorized':
      return {
        tone: 'critical',
        heading: "POSAI couldn't verify this POS session",
        body:
          'The server rejected the sign-in token. Try again; if it keeps happening, the app may need to be ' +
          'reinstalled or reauthorized by an admin.' +
          (state.errorCode ? ` (${state.errorCode})` : ''),
        retry: true,
      };
    case 'timeout':
      return {
        tone: 'warning',
        heading: 'Suggestions are taking too long',
        body: 'The server did not answer in time. You can keep selling and try again.',
        retry: true,
      };
    case 'error':
      return {
        tone: 'critical',
        heading: "Couldn't load suggestions",
        body:
          (state.errorMessage ? `${state.errorMessage} ` : 'Something went wrong on the server. ') +
          (state.errorCode ? `(${state.errorCode})` : ''),
        retry: true,
      };
    default:
      return null;
  }
}
