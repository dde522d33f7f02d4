/**
 * What the cashier saw and added, reported to `POST {APP_URL}/api/events` in the background.
 *
 * - `shown`: the modal displayed suggestions for a recommendation (once per id in this JS
 *   context); `added`: Add put a suggestion in the cart (POS resolved to a line, not to "").
 * - Events wait in a bounded queue (kept in `shopify.storage` when POS offers it, so a
 *   restart does not lose them) and are sent in batches, later when the device is offline
 *   or the backend slow or failing: with backoff, never awaited by the UI, never throwing.
 * - Each event has its own id, kept across retries: the backend counts a resent batch once.
 * - The answer (200) is final for every event in the batch (accepted, duplicate or
 *   rejected); so is a 400/413 (a batch the backend will never take). 401: a fresh token
 *   next time. Anything else: the batch stays and is retried.
 * - When suggestions are shown, the cart gets the private property `_posai_shown` listing
 *   the last few recommendation ids shown on it, so the order says which suggestions its
 *   cart saw (the backend's live HitRate) even when none was tapped.
 *
 * Location and staff come from the POS session (`shopify.session.currentSession.locationId`,
 * `shopify.session.staffMember`); the shop from the session token.
 */
import { EVENTS_PATH, normalizeBaseUrl } from './config';
import type { PosHost } from './host';
import type { FetchLike } from './api';

export const SHOWN_PROPERTY = '_posai_shown';
export const SHOWN_IDS_KEPT = 5;
export const MAX_QUEUE = 500;
export const BATCH_SIZE = 50;
export const FLUSH_DELAY_MS = 1500;
export const MIN_BACKOFF_MS = 2000;
export const MAX_BACKOFF_MS = 5 * 60 * 1000;
export const SEND_TIMEOUT_MS = 10_000;
const STORAGE_KEY = 'posai-events';

export interface ShownEvent {
  id: string;
  type: 'shown';
  recommendationId: string;
  variantIds: string[];
  at: string;
  locationId?: string;
  staffMemberId?: string;
}

export interface AddedEvent {
  id: string;
  type: 'added';
  recommendationId: string;
  variantId: string;
  at: string;
  locationId?: string;
  staffMemberId?: string;
}

export type ImpactEvent = ShownEvent | AddedEvent;

export interface EventReporterOptions {
  host: PosHost;
  baseUrl: string;
  fetchImpl?: FetchLike;
  now?: () => number;
  random?: () => number;
}

export interface EventReporter {
  /** Suggestions the cashier sees now, grouped by their recommendation id. */
  shown(items: ReadonlyArray<{ variantId: string; recommendationId?: string }>): void;
  added(recommendationId: string, variantId: string): void;
  /** Sends what is queued now (tests, and when the device comes back online). */
  flush(): Promise<void>;
  pending(): number;
}

function positiveId(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? String(value) : undefined;
}

export function createEventReporter(options: EventReporterOptions): EventReporter {
  const { host } = options;
  const now = options.now ?? (() => Date.now());
  const random = options.random ?? Math.random;
  const url = normalizeBaseUrl(options.baseUrl) + EVENTS_PATH;
  let queue: ImpactEvent[] = [];
  const reportedShown = new Set<string>();
  let shownOnCart: string[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let sending = false;
  let backoff = 0;

  function eventId(): string {
    let out = '';
    for (let i = 0; i < 32; i++) out += Math.floor(random() * 16).toString(16);
    return out;
  }

  function context(): { locationId?: string; staffMemberId?: string } {
    const out: { locationId?: string; staffMemberId?: string } = {};
    try {
      const session = host.session;
      const location = positiveId(session.currentSession?.locationId);
      const staff = positiveId(session.staffMember?.value?.id) ?? positiveId(session.currentSession?.staffMemberId);
      if (location) out.locationId = location;
      if (staff) out.staffMemberId = staff;
    } catch {
      // a POS without these: the backend records none
    }
    return out;
  }

  async function load(): Promise<void> {
    try {
      const stored = await host.storage?.get(STORAGE_KEY);
      if (Array.isArray(stored)) {
        // What an earlier run left (this run's own events may already be stored too).
        const mine = new Set(queue.map((e) => e.id));
        const left = (stored as ImpactEvent[]).filter((e) => e && typeof e.id === 'string' && !mine.has(e.id));
        queue = [...left, ...queue].slice(-MAX_QUEUE);
      }
    } catch {
      // storage unavailable: memory only
    }
  }

  // What an earlier run left is read first, so this run's writes never overwrite it unread.
  const ready = load();

  function persist(): void {
    void ready
      .then(() => host.storage?.set(STORAGE_KEY, queue))
      .catch(() => {
        // storage unavailable or full: memory only
      });
  }

  function push(event: ImpactEvent): void {
    queue.push(event);
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    persist();
    schedule(FLUSH_DELAY_MS);
  }

  function schedule(delay: number): void {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      void flush();
    }, delay);
  }

  function tagCart(ids: string[]): void {
    shownOnCart = [...shownOnCart.filter((id) => !ids.includes(id)), ...ids].slice(-SHOWN_IDS_KEPT);
    try {
      void host.cart.addCartProperties?.({ [SHOWN_PROPERTY]: shownOnCart.join(' ') })?.catch?.(() => {});
    } catch {
      // a POS without cart properties: the backend only misses this cart's live hit
    }
  }

  async function sendBatch(batch: ImpactEvent[]): Promise<'done' | 'retry'> {
    let token: string | null | undefined;
    try {
      token = await host.session.getSessionToken();
    } catch {
      token = null;
    }
    if (!token) return 'retry';
    const fetchImpl: FetchLike = options.fetchImpl ?? ((input, init) => fetch(input, init));
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort(), SEND_TIMEOUT_MS);
    try {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ events: batch }),
        signal: controller.signal,
      });
      // 200: every event got its final answer; 400/413: this batch will never be taken.
      if (response.status === 200 || response.status === 400 || response.status === 413) return 'done';
      return 'retry';
    } catch {
      return 'retry';
    } finally {
      clearTimeout(deadline);
    }
  }

  async function flush(): Promise<void> {
    await ready;
    if (sending || queue.length === 0) return;
    try {
      if (host.connectivity?.current.value.internetConnected === 'Disconnected') {
        backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, backoff * 2));
        schedule(backoff);
        return;
      }
    } catch {
      // no connectivity API: try
    }
    sending = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, BATCH_SIZE);
        const outcome = await sendBatch(batch);
        if (outcome === 'retry') {
          backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, backoff * 2));
          schedule(backoff);
          return;
        }
        const sent = new Set(batch.map((e) => e.id));
        queue = queue.filter((e) => !sent.has(e.id));
        backoff = 0;
        persist();
      }
    } finally {
      sending = false;
    }
  }

  try {
    // A new sale starts with an empty cart: its `_posai_shown` starts empty too.
    host.cart.current.subscribe((cart) => {
      if ((cart?.lineItems?.length ?? 0) === 0) shownOnCart = [];
    });
  } catch {
    // no cart signal
  }
  try {
    host.connectivity?.current.subscribe((value) => {
      if (value.internetConnected === 'Connected' && queue.length > 0) {
        backoff = 0;
        void flush();
      }
    });
  } catch {
    // no connectivity API
  }

  return {
    shown(items) {
      const groups = new Map<string, string[]>();
      for (const item of items) {
        if (!item.recommendationId) continue;
        const list = groups.get(item.recommendationId) ?? [];
        list.push(item.variantId);
        groups.set(item.recommendationId, list);
      }
      const fresh = [...groups.keys()].filter((id) => !reportedShown.has(id));
      if (fresh.length === 0) return;
      const at = new Date(now()).toISOString();
      for (const recommendationId of fresh) {
        reportedShown.add(recommendationId);
        push({ id: eventId(), type: 'shown', recommendationId, variantIds: groups.get(recommendationId)!, at, ...context() });
      }
      if (reportedShown.size > 1000) reportedShown.clear();
      tagCart(fresh);
    },
    added(recommendationId, variantId) {
      push({
        id: eventId(),
        type: 'added',
        recommendationId,
        variantId,
        at: new Date(now()).toISOString(),
        ...context(),
      });
    },
    flush,
    pending: () => queue.length,
  };
}

let shared: EventReporter | null = null;

/** The reporter shared by every controller in this JS context (one queue, one sender). */
export function sharedEventReporter(options: EventReporterOptions): EventReporter {
  shared ??= createEventReporter(options);
  return shared;
}

/** For tests: forget the shared reporter. */
export function clearSharedEventReporter(): void {
  shared = null;
}
