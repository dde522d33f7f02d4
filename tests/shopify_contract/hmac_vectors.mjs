// HMAC test vectors computed by Shopify's own Node library, never by our code.
//
//   node hmac_vectors.mjs <api secret>   →   JSON on stdout
//
// Signed queries (OAuth install link / code-grant callback): @shopify/shopify-api's
// generateLocalHmac signs each case (lib/utils/hmac-validator.ts + processed-query.ts:
// keys sorted, pairs URL-encoded by URLSearchParams, spaces as %20), and
// shopify.utils.validateHmac(new URLSearchParams(query)) gives the library's verdict on the
// exact query string a browser would send. Webhooks: the library's createSHA256HMAC signs
// raw bodies and shopify.webhooks.validate judges Request objects. Every case, tampered
// ones included, reports the library's verdict; the pytest side
// (test_hmac_vectors.py) checks that our verifiers agree with each one.
import crypto from 'node:crypto';
import {createRequire} from 'node:module';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

import '@shopify/shopify-api/adapters/web-api';
import {shopifyApi, ApiVersion, LogSeverity} from '@shopify/shopify-api';
import {createSHA256HMAC, HashFormat} from '@shopify/shopify-api/runtime';

const secret = process.argv[2];
if (!secret) {
  console.error('usage: node hmac_vectors.mjs <api secret>');
  process.exit(2);
}

// generateLocalHmac is the library's signer but not in its export map: load its own module file.
const require = createRequire(import.meta.url);
const libraryRoot = path.resolve(path.dirname(require.resolve('@shopify/shopify-api')), '../../..');
const {generateLocalHmac} = await import(
  pathToFileURL(path.join(libraryRoot, 'dist/esm/lib/utils/hmac-validator.mjs')).href
);
const {version: libraryVersion} = require(path.join(libraryRoot, 'package.json'));

const shopify = shopifyApi({
  apiKey: 'posai-contract-test',
  apiSecretKey: secret,
  apiVersion: ApiVersion.October25,
  hostName: 'posai.test',
  isEmbeddedApp: true,
  logger: {level: LogSeverity.Error, log: async () => {}},
});
const sign = generateLocalHmac(shopify.config);
const now = Math.trunc(Date.now() / 1000);
const ts = String(now);
// base64 of "admin.shopify.com/store/gamma-shop": Shopify's `host`, padded with `=`.
const host = Buffer.from('admin.shopify.com/store/gamma-shop').toString('base64');

async function libraryAccepts(query) {
  try {
    return await shopify.utils.validateHmac(new URLSearchParams(query));
  } catch {
    return false; // InvalidHmacError: no hmac, bad or stale timestamp
  }
}

function wire(pairs) {
  return new URLSearchParams(pairs).toString();
}

const queries = [];
async function signed(name, pairs, {signWith = Object.fromEntries(pairs), tamper} = {}) {
  const hmac = await sign(signWith);
  let query = `${wire(pairs)}&hmac=${hmac}`;
  if (tamper) query = tamper(query, hmac);
  queries.push({name, query, valid: await libraryAccepts(query)});
}

const callback = [
  ['code', '0907a61c0c8d55e99db179b68161bc00'],
  ['host', host],
  ['shop', 'gamma-shop.myshopify.com'],
  ['state', 'Zt3_-xY9'],
  ['timestamp', ts],
];
await signed('code-grant callback, host ending in =', callback);
await signed('install link', [['host', host], ['shop', 'gamma-shop.myshopify.com'], ['timestamp', ts]]);
await signed('embedded admin load', [
  ['embedded', '1'],
  ['host', host],
  ['id_token', 'eyJhbGciOiJIUzI1NiJ9.e30.sig'],
  ['locale', 'de-CH'],
  ['session', 'f0e1d2'],
  ['shop', 'gamma-shop.myshopify.com'],
  ['timestamp', ts],
]);
await signed('query in another order', [...callback].reverse());
await signed('values with & % = + and spaces', [
  ...callback,
  ['note', 'a&b=c %41 50% + more  two  spaces'],
]);
await signed('spaces sent as %20 instead of +', [...callback, ['note', 'two words']], {
  tamper: (query) => query.replace('two+words', 'two%20words'),
});
await signed('unicode and reserved characters', [
  ...callback,
  ['title', 'Crème brûlée ☕ 日本 🎉'],
  ['path', "/a/b?c=d#e;f:g@h!i'j(k)l*m~n"],
]);
await signed('keys with spaces, = and & ', [...callback, ['odd key=x&y', 'v']]);
// Sorted by key, not by "key=value": "a" comes before "a-b" although "a-b=" < "a=".
await signed('key that prefixes another', [...callback, ['a-b', '2'], ['a', '1']]);
await signed('empty value', [...callback, ['empty', '']]);
await signed('repeated key (the library joins values with a comma)', [...callback, ['tag', 'x'], ['tag', 'y']], {
  signWith: {...Object.fromEntries(callback), tag: 'x,y'},
});
await signed('ids[] repeated (URLSearchParams form)', [...callback, ['ids[]', '1'], ['ids[]', '2']], {
  signWith: {...Object.fromEntries(callback), 'ids[]': '1,2'},
});
await signed('ids array signed as ids[]=…&ids[]=… (not what the URLSearchParams path verifies)', [
  ...callback,
  ['ids[]', '1'],
  ['ids[]', '2'],
], {signWith: {...Object.fromEntries(callback), ids: ['1', '2']}});
await signed('a signature parameter is not signed', [...callback], {
  tamper: (query) => `${query}&signature=anything`,
});

// Tampered: the library must refuse each; so must we.
await signed('tampered value', callback, {
  tamper: (query) => query.replace('gamma-shop.myshopify.com', 'evil-shop.myshopify.com'),
});
await signed('raw-value signature (= not encoded)', callback, {
  signWith: {},
  tamper: (query) => query.replace(/hmac=[0-9a-f]+/, `hmac=${rawSignature(callback)}`),
});
await signed('added parameter', callback, {tamper: (query) => `${query}&extra=1`});
await signed('removed parameter', callback, {tamper: (query) => query.replace(/&state=[^&]*/, '')});
await signed('uppercase hmac', callback, {
  tamper: (query, hmac) => query.replace(hmac, hmac.toUpperCase()),
});
await signed('truncated hmac', callback, {tamper: (query, hmac) => query.replace(hmac, hmac.slice(0, 63))});
await signed('no hmac', callback, {tamper: (query) => query.replace(/&hmac=[0-9a-f]+/, '')});
await signed('stale timestamp', [...callback.slice(0, 4), ['timestamp', String(now - 200)]]);
await signed('future timestamp', [...callback.slice(0, 4), ['timestamp', String(now + 200)]]);
await signed('non-numeric timestamp', [...callback.slice(0, 4), ['timestamp', `${ts}x`]]);
await signed('no timestamp', callback.slice(0, 4));

// The pre-fix rule (raw values, only & and % escaped), signed here with node:crypto only to
// build a tampered case: the library must refuse it whenever a value needs encoding.
function rawSignature(pairs) {
  const message = [...pairs]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v.replace(/%/g, '%25').replace(/&/g, '%26')}`)
    .join('&');
  return crypto.createHmac('sha256', secret).update(message).digest('hex');
}

// Webhooks: base64 HMAC-SHA256 of the raw body in X-Shopify-Hmac-Sha256.
const webhooks = [];
async function webhook(name, body, {header, sentBody = body} = {}) {
  const hmac = header ?? (await createSHA256HMAC(secret, body, HashFormat.Base64));
  const request = new Request('https://posai.test/webhooks', {
    method: 'POST',
    body: sentBody,
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Hmac-Sha256': hmac,
      'X-Shopify-Topic': 'orders/create',
      'X-Shopify-Shop-Domain': 'gamma-shop.myshopify.com',
      'X-Shopify-API-Version': '2025-10',
      'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    },
  });
  const result = await shopify.webhooks.validate({rawBody: sentBody, rawRequest: request});
  webhooks.push({name, body: sentBody, hmac, valid: result.valid});
}

await webhook('orders/create payload', '{"id":820982911946154508,"name":"#9999","line_items":[]}');
await webhook('unicode, whitespace and a trailing newline', '{"title": "Crème brûlée ☕ 🎉",\n  "note": "a&b=c"}\n');
await webhook('tampered body', '{"id":1,"total":"10.00"}', {sentBody: '{"id":1,"total":"99.00"}'});
await webhook('signed by another secret', '{"id":2}', {
  header: await createSHA256HMAC(`${secret}-other`, '{"id":2}', HashFormat.Base64),
});
await webhook('hex instead of base64', '{"id":3}', {
  header: await createSHA256HMAC(secret, '{"id":3}', HashFormat.Hex),
});

process.stdout.write(JSON.stringify({library: `@shopify/shopify-api ${libraryVersion}`, queries, webhooks}));
