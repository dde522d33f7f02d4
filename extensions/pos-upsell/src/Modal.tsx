/** Target pos.home.modal.render: the list of suggestions with "Add" buttons. */
import '@shopify/ui-extensions/preact';
import { render } from 'preact';
import type { Recommendation } from './api';
import type { PosHost } from './host';
import type { RecommendationsController, ViewState } from './state';
import { useRecommendations } from './useViewState';
import { TILE_HEADING, formatPrice, noticeFor, stockLabel, variantLabel } from './view';

export interface ModalAppProps {
  host: PosHost;
}

export function ModalApp({ host }: ModalAppProps) {
  const { controller, state } = useRecommendations({ host });
  return (
    <s-page heading={TILE_HEADING}>
      <s-scroll-box>
        <s-stack direction="block" gap="base" padding="base">
          <ModalBody host={host} controller={controller} state={state} />
        </s-stack>
      </s-scroll-box>
    </s-page>
  );
}

function ModalBody({
  host,
  controller,
  state,
}: {
  host: PosHost;
  controller: RecommendationsController;
  state: ViewState;
}) {
  const retry = () => void controller.refresh({ force: true });

  if (state.status === 'loading' && state.recommendations.length === 0) {
    return (
      <s-stack direction="block" gap="base" alignItems="center">
        <s-spinner accessibilityLabel="Loading suggestions" />
        <s-text color="subdued">Finding add-ons for this cart…</s-text>
      </s-stack>
    );
  }
  if (state.status === 'idle') {
    return (
      <s-empty-state
        heading="The cart is empty"
        subheading="Add a product to the cart to see suggested add-ons."
      />
    );
  }
  if (state.status === 'empty') {
    return (
      <s-empty-state
        heading="No suggestions for this cart"
        subheading="Nothing in stock fits these products right now."
      />
    );
  }
  const notice = noticeFor(state);
  if (notice) {
    return (
      <s-stack direction="block" gap="base">
        <s-banner heading={notice.heading} tone={notice.tone}>
          <s-text>{notice.body}</s-text>
        </s-banner>
        {notice.retry ? (
          <s-button variant="secondary" onClick={retry}>
            Try again
          </s-button>
        ) : null}
      </s-stack>
    );
  }
  // ok, or loading while keeping the previous list of the same cart
  return (
    <s-stack direction="block" gap="base">
      {state.status === 'loading' ? <s-text color="subdued">Updating…</s-text> : null}
      {state.recommendations.map((rec) => (
        <RecommendationRow
          key={rec.variantId}
          rec={rec}
          price={formatPrice(rec.price, host)}
          adding={state.addingVariantId === rec.variantId}
          busy={state.addingVariantId !== null}
          onAdd={() => void controller.addToCart(rec)}
        />
      ))}
    </s-stack>
  );
}

function RecommendationRow({
  rec,
  price,
  adding,
  busy,
  onAdd,
}: {
  rec: Recommendation;
  price: string;
  adding: boolean;
  busy: boolean;
  onAdd: () => void;
}) {
  const variant = variantLabel(rec);
  return (
    <s-section heading={rec.productTitle}>
      <s-stack direction="inline" gap="base" justifyContent="space-between" alignItems="center">
        <s-stack direction="block" gap="small-100">
          {variant ? <s-text>{variant}</s-text> : null}
          {price ? <s-text type="strong">{price}</s-text> : null}
          <s-text type="small" color="subdued">
            {stockLabel(rec.inventoryQuantity)}
          </s-text>
        </s-stack>
        {/* Always addable: the API suggests only what may be sold, and POS itself warns before overselling. */}
        <s-button variant="primary" loading={adding} disabled={busy} onClick={onAdd}>
          Add
        </s-button>
      </s-stack>
    </s-section>
  );
}

export default async () => {
  render(<ModalApp host={shopify} />, document.body);
};
