/** Target pos.home.tile.render: the "Suggested add-ons" smart-grid tile. */
import '@shopify/ui-extensions/preact';
import { render } from 'preact';
import type { PosHost } from './host';
import { useRecommendations } from './useViewState';
import { tileModel } from './view';

export interface TileAppProps {
  host: PosHost;
  onOpen: () => void;
}

export function TileApp({ host, onOpen }: TileAppProps) {
  const { state } = useRecommendations({ host });
  const model = tileModel(state);
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
