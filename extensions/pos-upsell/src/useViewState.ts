import { useEffect, useState } from 'preact/hooks';
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
