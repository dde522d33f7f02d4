/** Target pos.home.tile.render: the "Suggested add-ons" smart-grid tile. */
import '@shopify/ui-extensions/preact';
import { render } from 'preact';
import type { PosHost } from './host';
import { useRecommendations, useTranslate } from './useViewState';
import { tileModel } from './view';

export interface TileAppProps {
  host: PosHost;
  onOpen: () => void;
}

/**
 * `s-tile` takes no accessibilityLabel in the 2026.7 POS types (`TileJSXProps` picks
 * heading, id, itemCount, tone, subheading; components/Tile.d.ts): assistive
 * technology reads its heading and subheading, so the subheading always says the
 * state in words ("2 suggestions", "Offline – tap for details"), never only a badge.
 */
export function TileApp({ host, onOpen }: TileAppProps) {
  const t = useTranslate(host);
  const { state } = useRecommendations({ host, translate: t });
  const model = tileModel(state, t);
  return (
    <s-tile
      heading={model.heading}
      subheading={model.subheading}
      itemCount={model.itemCount}
      disabled={model.disabled}
      onClick={onOpen}
    />
  );
}

export default async () => {
  render(<TileApp host={shopify} onOpen={() => shopify.action.presentModal()} />, document.body);
};
