/**
 * The slice of the POS `shopify` global that the framework-free core uses.
 * Keeping it structural lets tests pass a small fake, while the compile-time
 * checks at the bottom guarantee the real target APIs satisfy it.
 */
import type { Api as TileApi } from '@shopify/ui-extensions/pos.home.tile.render';
import type { Api as ModalApi } from '@shopify/ui-extensions/pos.home.modal.render';

export interface SignalLike<T> {
  readonly value: T;
  subscribe(fn: (value: T) => void): () => void;
}

export interface CartLineLike {
  variantId?: number;
}

export interface CartLike {
  lineItems: CartLineLike[];
}

export interface PosHost {
  cart: {
    current: SignalLike<CartLike>;
    /**
     * The new line's UUID, or "" when the cashier dismissed POS's oversell warning.
     * `options.properties` are set on the new line in the same operation
     * (`AddLineItemOptions` in point-of-sale/types/cart.d.ts, 2026.7).
     */
    addLineItem(
      variantId: number,
      quantity: number,
      options?: { properties?: Record<string, string> },
    ): Promise<string>;
    /** Cart-level properties (an order's note attributes); events.ts sets `_posai_shown`. */
    addCartProperties?(properties: Record<string, string>): Promise<void>;
  };
  session: {
    /** Resolves to null/undefined when the staff member may not use the app. */
    getSessionToken(): Promise<string | null | undefined>;
    /** `Session` in point-of-sale/types/session.d.ts (locationId: number). */
    currentSession?: { currency?: string; locationId?: number; staffMemberId?: number };
    /** The staff member pinned in (`SessionApiContent.staffMember`, 2026.7). */
    staffMember?: { readonly value: { id: number } | undefined };
  };
  /** `StorageApi.storage` (point-of-sale/types/storage.d.ts): the event queue survives restarts. */
  storage?: {
    get(key: string): Promise<unknown>;
    set(key: string, value: unknown): Promise<void>;
  };
  toast: { show(content: string): void };
  connectivity?: {
    current: SignalLike<{ internetConnected: 'Connected' | 'Disconnected' }>;
  };
  /** `I18n` in @shopify/ui-extensions build/ts/api.d.ts (see src/i18n.ts). */
  i18n?: {
    formatCurrency(value: number, options?: { currency?: string }): string;
    translate?(key: string, options?: Record<string, string | number>): unknown;
  };
  /** `LocaleApiContent` (point-of-sale/api/locale-api/locale-api.d.ts): the IETF locale. */
  locale?: { current: SignalLike<string> };
}

// Compile-time proof that both targets' real APIs fit PosHost.
type Fits<T extends PosHost> = T;
export type TileApiFitsHost = Fits<TileApi>;
export type ModalApiFitsHost = Fits<ModalApi>;
