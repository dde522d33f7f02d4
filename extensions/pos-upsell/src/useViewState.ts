import { useEffect, useState } from 'preact/hooks';
import type { PosHost } from './host';
import { currentLocale, translatorFor, type Translate } from './i18n';
import { createRecommendationsController, type ControllerOptions, type RecommendationsController, type ViewState } from './state';

/**
 * Creates one controller for the lifetime of the component, starts it on mount
 * and stops it on unmount; re-renders on every state change.
 */
export function useRecommendations(
  options: ControllerOptions,
): { controller: RecommendationsController; state: ViewState } {
  const [controller] = useState(() => createRecommendationsController(options));
  const [state, setState] = useState<ViewState>(() => controller.getState());
  useEffect(() => {
    const unsubscribe = controller.subscribe(setState);
    controller.start();
    setState(controller.getState());
    return () => {
      unsubscribe();
      controller.stop();
    };
  }, [controller]);
  return { controller, state };
}

/**
 * The translator for the host (src/i18n.ts). Follows `shopify.locale.current`, so the
 * component re-renders in the new language when staff switch POS's language.
 */
export function useTranslate(host: Pick<PosHost, 'i18n' | 'locale'>): Translate {
  const [translate] = useState(() => translatorFor(host));
  const [, setLocale] = useState(() => currentLocale(host));
  useEffect(() => {
    const signal = host.locale?.current;
    if (!signal) return undefined;
    try {
      return signal.subscribe((value) => setLocale(value));
    } catch {
      return undefined;
    }
  }, [host]);
  return translate;
}
