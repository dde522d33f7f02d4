/**
 * The locale files (locales/*.json, read by POS's shopify.i18n.translate) and the
 * translator around it (src/i18n.ts).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import {
  PLURAL_CATEGORIES,
  english,
  isPluralForms,
  placeholders,
  translateFrom,
  translatorFor,
  type MessageKey,
} from '../src/i18n';
import { fakeTranslate, localeFiles } from './helpers';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const localesDir = join(root, 'locales');
const REQUIRED = ['en.default', 'fr', 'de', 'es', 'nl', 'ja'];

/** File name (without .json) -> its content, read from disk as POS gets it. */
const files: Record<string, unknown> = Object.fromEntries(
  readdirSync(localesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(localesDir, f), 'utf8')) as unknown]),
);
const language = (name: string) => name.replace(/\.default$/, '');
const others = Object.keys(files).filter((name) => name !== 'en.default');

type Leaf = string | Record<string, string>;

/** Dotted key -> string or plural group. */
function flatten(node: unknown, prefix = ''): Map<string, Leaf> {
  const out = new Map<string, Leaf>();
  if (typeof node !== 'object' || node === null || Array.isArray(node)) {
    throw new Error(`${prefix || '<root>'}: expected an object`);
  }
  for (const [key, value] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string' || isPluralForms(value)) out.set(path, value);
    else for (const [k, v] of flatten(value, path)) out.set(k, v);
  }
  return out;
}

const flat = Object.fromEntries(Object.entries(files).map(([name, content]) => [name, flatten(content)]));
const englishKeys = [...flat['en.default']!.keys()].sort();

/** Strings that rightly read the same as in English (names, numbers, punctuation). */
const SAME_AS_ENGLISH: Record<string, string[]> = {
  fr: ['notice.code', 'item.withVariant'],
  de: ['notice.code', 'item.withVariant'],
  es: ['notice.code', 'item.withVariant'],
  nl: ['notice.code', 'item.withVariant', 'item.unnamed'],
  ja: ['item.withVariant'],
};

describe('locale files', () => {
  it('exist for English (the default), French, German, Spanish, Dutch and Japanese, and nothing else unlisted', () => {
    expect(Object.keys(files).sort()).toEqual([...REQUIRED].sort());
    expect(Object.keys(files).filter((name) => name.endsWith('.default'))).toEqual(['en.default']);
    // the test double for POS's translate serves exactly these files
    expect(Object.keys(localeFiles).sort()).toEqual(Object.keys(files).sort());
    for (const [name, content] of Object.entries(files)) expect(localeFiles[name]).toEqual(content);
  });

  it.each(others)('%s.json has every key of en.default.json and no other', (name) => {
    expect([...flat[name]!.keys()].sort()).toEqual(englishKeys);
  });

  it.each(Object.keys(files))('%s.json: plural groups have exactly the CLDR forms of the language', (name) => {
    const categories = [...new Intl.PluralRules(language(name)).resolvedOptions().pluralCategories].sort();
    for (const [key, value] of flat[name]!) {
      const isPlural = typeof value !== 'string';
      // a key is plural in every language or in none
      expect(isPlural, key).toBe(typeof flat['en.default']!.get(key) !== 'string');
      if (isPlural) expect(Object.keys(value).sort(), key).toEqual(categories);
    }
  });

  it.each(others)('%s.json uses the same {{placeholders}} as English in every string', (name) => {
    for (const [key, value] of flat[name]!) {
      const ref = flat['en.default']!.get(key)!;
      const expected = placeholders(typeof ref === 'string' ? ref : ref.other!);
      const forms = typeof value === 'string' ? { text: value } : value;
      for (const [form, text] of Object.entries(forms)) expect(placeholders(text), `${key} ${form}`).toEqual(expected);
    }
  });

  it('English plural forms share their placeholders too', () => {
    for (const [key, value] of flat['en.default']!) {
      if (typeof value === 'string') continue;
      for (const text of Object.values(value)) expect(placeholders(text), key).toEqual(placeholders(value.other!));
    }
  });

  it.each(Object.keys(files))('%s.json has no empty or untrimmed strings', (name) => {
    for (const [key, value] of flat[name]!) {
      for (const text of typeof value === 'string' ? [value] : Object.values(value)) {
        expect(text.trim(), key).toBe(text);
        expect(text.length, key).toBeGreaterThan(0);
      }
    }
  });

  it.each(others)('%s.json is translated: only the listed strings read as in English', (name) => {
    const same = [...flat[name]!]
      .filter(([key, value]) => JSON.stringify(value) === JSON.stringify(flat['en.default']!.get(key)))
      .map(([key]) => key)
      .sort();
    expect(same).toEqual([...(SAME_AS_ENGLISH[name] ?? [])].sort());
  });

  it('every key the source uses is in en.default.json (beyond the MessageKey type check)', () => {
    const srcDir = join(root, 'src');
    const used = new Set<string>();
    for (const file of readdirSync(srcDir)) {
      const text = readFileSync(join(srcDir, file), 'utf8');
      for (const m of text.matchAll(/\bt\('([\w.]+)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(20);
    for (const key of used) expect(englishKeys, key).toContain(key);
    // and every key in the files is used somewhere
    expect([...used].sort()).toEqual(englishKeys);
  });
});

describe('translateFrom (the rules POS applies to the files)', () => {
  it('interpolates {{name}} and leaves unknown placeholders alone', () => {
    expect(translateFrom(files['en.default'], 'en', 'toast.added', { item: 'Coaster' })).toBe('Added Coaster to the cart');
    expect(translateFrom(files['en.default'], 'en', 'toast.added')).toBe('Added {{item}} to the cart');
    expect(translateFrom(files.ja, 'ja', 'toast.added', { item: 'コースター' })).toBe('「コースター」をカートに追加しました');
  });

  it.each<[string, number, string]>([
    ['en.default', 1, '1 suggestion'],
    ['en.default', 0, '0 suggestions'],
    ['en.default', 3, '3 suggestions'],
    ['fr', 0, '0 suggestion'],
    ['fr', 1, '1 suggestion'],
    ['fr', 2, '2 suggestions'],
    ['fr', 1000000, '1000000 de suggestions'],
    ['de', 1, '1 Vorschlag'],
    ['de', 2, '2 Vorschläge'],
    ['es', 1, '1 sugerencia'],
    ['es', 4, '4 sugerencias'],
    ['nl', 1, '1 suggestie'],
    ['nl', 5, '5 suggesties'],
    ['ja', 1, '1件のおすすめ'],
    ['ja', 7, '7件のおすすめ'],
  ])('%s: tile.count with count %i is "%s"', (name, count, expected) => {
    expect(translateFrom(files[name], language(name), 'tile.count', { count })).toBe(expected);
  });

  it('is undefined for a missing key or a group that is not a string', () => {
    expect(translateFrom(files['en.default'], 'en', 'tile.nope')).toBeUndefined();
    expect(translateFrom(files['en.default'], 'en', 'notice.error')).toBeUndefined();
    expect(PLURAL_CATEGORIES).toContain('other');
  });

  it('the fake POS translate resolves a regional locale to its language and unknown ones to English', () => {
    expect(fakeTranslate(() => 'fr-CA')('modal.retry')).toBe('Réessayer');
    expect(fakeTranslate(() => 'de-AT')('modal.retry')).toBe('Erneut versuchen');
    expect(fakeTranslate(() => 'pt-BR')('modal.retry')).toBe('Try again');
  });
});

describe('translatorFor', () => {
  const key: MessageKey = 'toast.added';

  it("uses POS's translate", () => {
    const translate = vi.fn(() => 'Ajouté au panier : Coaster');
    expect(translatorFor({ i18n: { formatCurrency: String, translate } })(key, { item: 'Coaster' })).toBe(
      'Ajouté au panier : Coaster',
    );
    expect(translate).toHaveBeenCalledWith(key, { item: 'Coaster' });
  });

  it.each([
    ['has no i18n', undefined],
    ['has no translate (POS before 10.19)', { formatCurrency: String }],
    ['returns the key unresolved', { formatCurrency: String, translate: (k: string) => k }],
    ['returns an empty string', { formatCurrency: String, translate: () => '' }],
    ['returns a non-string', { formatCurrency: String, translate: () => ['a', 'b'] }],
    [
      'throws',
      {
        formatCurrency: String,
        translate: () => {
          throw new Error('no locale data');
        },
      },
    ],
  ])('falls back to the bundled English when POS %s', (_case, i18n) => {
    expect(translatorFor({ i18n })(key, { item: 'Coaster' })).toBe('Added Coaster to the cart');
  });

  it('english() resolves every key of the default file', () => {
    for (const k of englishKeys) expect(english(k as MessageKey, { count: 2 }), k).not.toBe(k);
  });
});
