/**
 * Pure helpers turning controller state into what the cashier reads. Every string
 * goes through a `Translate` (src/i18n.ts); without one, the bundled English is used.
 */
import type { Recommendation } from './api';
import type { PosHost } from './host';
import { currentLocale, english, type Translate } from './i18n';
import type { ViewState } from './state';

export interface TileModel {
  heading: string;
  subheading: string;
  itemCount: number | undefined;
  disabled: boolean;
}

export function tileModel(state: ViewState, t: Translate = english): TileModel {
  const count = state.recommendations.length;
  const base = { heading: t('title'), itemCount: undefined as number | undefined };
  switch (state.status) {
    case 'idle':
      return { ...base, subheading: t('tile.idle'), disabled: true };
    case 'loading':
      return count > 0
        ? { ...base, subheading: t('tile.updating'), itemCount: count, disabled: false }
        : { ...base, subheading: t('tile.loading'), disabled: true };
    case 'ok':
      return { ...base, subheading: t('tile.count', { count }), itemCount: count, disabled: false };
    case 'empty':
      return { ...base, subheading: t('tile.empty'), itemCount: 0, disabled: true };
    // Failures keep the tile tappable: the modal explains and offers a retry.
    case 'offline':
      return { ...base, subheading: t('tile.offline'), disabled: false };
    case 'no-permission':
      return { ...base, subheading: t('tile.noPermission'), disabled: false };
    case 'unauthorized':
      return { ...base, subheading: t('tile.unauthorized'), disabled: false };
    case 'timeout':
      return { ...base, subheading: t('tile.timeout'), disabled: false };
    case 'error':
      return { ...base, subheading: t('tile.error'), disabled: false };
  }
}

export function formatPrice(price: string, host: Pick<PosHost, 'session' | 'i18n' | 'locale'>): string {
  const amount = Number(price);
  if (price === '' || !Number.isFinite(amount)) return price;
  const currency = host.session.currentSession?.currency;
  if (currency) {
    try {
      if (host.i18n) return host.i18n.formatCurrency(amount, { currency });
      return new Intl.NumberFormat(currentLocale(host), { style: 'currency', currency }).format(amount);
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
export function stockLabel(inventoryQuantity: number | null, t: Translate = english): string {
  if (inventoryQuantity === null) return t('item.untracked');
  if (inventoryQuantity <= 0) return t('item.oversell');
  return t('item.stock', { count: inventoryQuantity });
}

/** Shopify names the only variant of a product "Default Title": don't show it. */
export function variantLabel(rec: Recommendation): string {
  return rec.variantTitle && rec.variantTitle !== 'Default Title' ? rec.variantTitle : '';
}

/** How toasts name a suggestion: its product title; "Variant 123" without one. */
export function productName(rec: Recommendation, t: Translate = english): string {
  return rec.productTitle || t('item.unnamed', { id: rec.variantId });
}

/**
 * How the Add button names a suggestion (its accessible name, see src/Modal.tsx): the
 * product with the variant when there is one worth showing ("Lunch Bag – Red"), so
 * two variants of one product never share a label.
 */
export function itemName(rec: Recommendation, t: Translate = english): string {
  const variant = variantLabel(rec);
  if (!rec.productTitle) return variant || t('item.unnamed', { id: rec.variantId });
  return variant ? t('item.withVariant', { product: rec.productTitle, variant }) : rec.productTitle;
}

export interface Notice {
  tone: 'warning' | 'critical' | 'info';
  heading: string;
  body: string;
  retry: boolean;
}

/** Banner content for the failure states; null for the others. */
export function noticeFor(state: ViewState, t: Translate = english): Notice | null {
  const code = state.errorCode ? ` ${t('notice.code', { code: state.errorCode })}` : '';
  switch (state.status) {
    case 'offline':
      return state.deviceOffline
        ? {
            tone: 'warning',
            heading: t('notice.deviceOffline.heading'),
            body: t('notice.deviceOffline.body'),
            retry: true,
          }
        : {
            tone: 'warning',
            heading: t('notice.unreachable.heading'),
            body: t('notice.unreachable.body'),
            retry: true,
          };
    case 'no-permission':
      return {
        tone: 'warning',
        heading: t('notice.noPermission.heading'),
        body: t('notice.noPermission.body'),
        retry: true,
      };
    case 'unauthorized':
      return {
        tone: 'critical',
        heading: t('notice.unauthorized.heading'),
        body: t('notice.unauthorized.body') + code,
        retry: true,
      };
    case 'timeout':
      return {
        tone: 'warning',
        heading: t('notice.timeout.heading'),
        body: t('notice.timeout.body'),
        retry: true,
      };
    case 'error': {
      // The API's own message (English: the API does not know the POS language) when
      // it sent one; otherwise a localised sentence, with one of its own for an answer
      // the extension could not read.
      const detail =
        state.errorCode === 'bad_response'
          ? t('notice.error.badResponse')
          : state.errorMessage || t('notice.error.body');
      return {
        tone: 'critical',
        heading: t('notice.error.heading'),
        body: detail + code,
        retry: true,
      };
    }
    default:
      return null;
  }
}
