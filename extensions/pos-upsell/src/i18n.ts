/**
 * Every string the cashier reads, translated by POS.
 *
 * The API, as `@shopify/ui-extensions` 2026.7.4 types it (both targets get it:
 * `StandardApi` in build/ts/surfaces/point-of-sale/api/standard/standard-api.d.ts has
 * `i18n: I18n` and `LocaleApi`):
 *
 * - `shopify.i18n.translate(key, options)`: `I18n` / `I18nTranslate` in
 *   build/ts/api.d.ts. POS looks the key up in the extension's `locales/*.json`
 *   (`en.default.json` is the default; `fr.json`, `de.json`, … non-regional), in the
 *   order staff/customer locale, its language, shop locale, its language, default
 *   (https://shopify.dev/docs/apps/build/pos/localization). `{{name}}` in a string is
 *   replaced by `options.name`; `options.count` picks the plural form
 *   (`one`/`other`/… as `Intl.PluralRules` names them).
 * - `shopify.locale.current`: `LocaleApiContent` in
 *   build/ts/surfaces/point-of-sale/api/locale-api/locale-api.d.ts, a signal of the
 *   IETF locale; the components re-render when it changes.
 *
 * A POS too old to translate (localization arrived in POS 10.19), or a key it does
 * not resolve, falls back to the English file bundled here, with the same rules.
 */
import en from '../locales/en.default.json';
import type { PosHost } from './host';

export type Messages = typeof en;

type PluralForms = { other: string };

/** Dotted paths of the strings (and plural groups) in en.default.json. */
type Keys<T, P extends string = ''> = {
  [K in keyof T & string]: T[K] extends string
    ? `${P}${K}`
    : T[K] extends PluralForms
      ? `${P}${K}`
      : Keys<T[K], `${P}${K}.`>;
}[keyof T & string];

export type MessageKey = Keys<Messages>;
export type Replacements = Record<string, string | number>;
export type Translate = (key: MessageKey, replacements?: Replacements) => string;

/** CLDR plural categories, as `Intl.PluralRules` returns them. */
export const PLURAL_CATEGORIES = ['zero', 'one', 'two', 'few', 'many', 'other'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A group of plural forms: only CLDR category names as keys, `other` among them, all strings. */
export function isPluralForms(value: unknown): value is Record<string, string> & PluralForms {
  if (!isRecord(value) || typeof value.other !== 'string') return false;
  return Object.entries(value).every(
    ([k, v]) => (PLURAL_CATEGORIES as readonly string[]).includes(k) && typeof v === 'string',
  );
}

/** `{{name}}` placeholders of a string, sorted and without duplicates. */
export function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!))].sort();
}

function interpolate(text: string, replacements: Replacements | undefined): string {
  return text.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => {
    const value = replacements?.[name];
    return value === undefined ? whole : String(value);
  });
}

/**
 * Looks `key` up in one locale file, following the rules POS applies (see the top of
 * this file). Undefined when the file has no such string.
 */
export function translateFrom(
  messages: unknown,
  locale: string,
  key: string,
  replacements?: Replacements,
): string | undefined {
  let node: unknown = messages;
  for (const part of key.split('.')) {
    if (!isRecord(node)) return undefined;
    node = node[part];
  }
  if (isPluralForms(node)) {
    const count = replacements?.count;
    let form = 'other';
    if (typeof count === 'number') {
      try {
        form = new Intl.PluralRules(locale).select(count);
      } catch {
        form = 'other';
      }
    }
    node = node[form] ?? node.other;
  }
  return typeof node === 'string' ? interpolate(node, replacements) : undefined;
}

/** English, from the bundled default file; the key itself if even that lacks it. */
export const english: Translate = (key, replacements) =>
  translateFrom(en, 'en', key, replacements) ?? key;

/**
 * The translator for a host: POS's `i18n.translate`, falling back to the bundled
 * English for a POS without it, a key it returns unresolved, or a throw.
 */
export function translatorFor(host: Pick<PosHost, 'i18n'>): Translate {
  return (key, replacements) => {
    const translate = host.i18n?.translate;
    if (typeof translate === 'function') {
      try {
        const out: unknown = translate(key, replacements);
        if (typeof out === 'string' && out !== '' && out !== key) return out;
      } catch {
        // fall back to English below
      }
    }
    return english(key, replacements);
  };
}

/** The POS locale (BCP 47), or undefined when POS does not tell. */
export function currentLocale(host: Pick<PosHost, 'locale'>): string | undefined {
  try {
    const value = host.locale?.current.value;
    return typeof value === 'string' && value ? value : undefined;
  } catch {
    return undefined;
  }
}
