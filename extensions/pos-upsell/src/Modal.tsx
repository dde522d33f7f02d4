/** Target pos.home.modal.render: the list of suggestions with "Add" buttons. */
import '@shopify/ui-extensions/preact';
import { render } from 'preact';
import type { Recommendation } from './api';
import { APP_URL } from './config';
import { sharedEventReporter } from './events';
import type { PosHost } from './host';
import type { Translate } from './i18n';
import type { RecommendationsController, ViewState } from './state';
import { useRecommendations, useTranslate } from './useViewState';
import { formatPrice, itemName, noticeFor, stockLabel, variantLabel } from './view';

export interface ModalAppProps {
  host: PosHost;
}

/*
 * Accessibility, within what the 2026.7 POS component types accept
 * (node_modules/@shopify/ui-extensions/build/ts/surfaces/point-of-sale/components/):
 * - `s-spinner` takes `accessibilityLabel` (Spinner.d.ts): set, localised.
 * - `s-button` does not (ButtonJSXProps picks id, disabled, command, commandFor,
 *   loading; Button.d.ts): its text is its accessible name, so each Add button names
 *   its item ("Add Coaster – Set of 4") instead of a bare, repeated "Add".
 * - `s-section` takes only `heading` (Section.d.ts): the product title names it.
 * - `s-banner` and `s-empty-state` carry their message as heading and text.
 */
export function ModalApp({ host }: ModalAppProps) {
  const t = useTranslate(host);
  const { controller, state } = useRecommendations({
    host,
    translate: t,
    events: sharedEventReporter({ host, baseUrl: APP_URL }),
    reportShown: true,
  });
  return (
    <s-page heading={t('title')}>
      <s-scroll-box>
        <s-stack direction="block" gap="base" padding="base">
          <ModalBody host={host} controller={controller} state={state} t={t} />
        </s-stack>
      </s-scroll-box>
    </s-page>
  );
}

function ModalBody({
  host,
  controller,
  state,
  t,
}: {
  host: PosHost;
  controller: RecommendationsController;
  state: ViewState;
  t: Translate;
}) {
  const retry = () => void controller.refresh({ force: true });

  if (state.status === 'loading' && state.recommendations.length === 0) {
    return (
      <s-stack direction="block" gap="base" alignItems="center">
        <s-spinner accessibilityLabel={t('modal.loadingLabel')} />
        <s-text color="subdued">{t('modal.loading')}</s-text>
      </s-stack>
    );
  }
  if (state.status === 'idle') {
    return <s-empty-state heading={t('modal.cartEmpty.heading')} subheading={t('modal.cartEmpty.body')} />;
  }
  if (state.status === 'empty') {
    return (
      <s-empty-state heading={t('modal.noSuggestions.heading')} subheading={t('modal.noSuggestions.body')} />
    );
  }
  const notice = noticeFor(state, t);
  if (notice) {
    return (
      <s-stack direction="block" gap="base">
        <s-banner heading={notice.heading} tone={notice.tone}>
          <s-text>{notice.body}</s-text>
        </s-banner>
        {notice.retry ? (
          <s-button variant="secondary" onClick={retry}>
            {t('modal.retry')}
          </s-button>
        ) : null}
      </s-stack>
    );
  }
  // ok, or loading while keeping the previous list of the same cart
  return (
    <s-stack direction="block" gap="base">
      {state.status === 'loading' ? <s-text color="subdued">{t('modal.updating')}</s-text> : null}
      {state.recommendations.map((rec) => (
        <RecommendationRow
          key={rec.variantId}
          rec={rec}
          t={t}
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
  t,
  price,
  adding,
  busy,
  onAdd,
}: {
  rec: Recommendation;
  t: Translate;
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
          {rec.reason ? <s-text>{rec.reason}</s-text> : null}
          <s-text type="small" color="subdued">
            {stockLabel(rec.inventoryQuantity, t)}
          </s-text>
        </s-stack>
        {/* Always addable: the API suggests only what may be sold, and POS itself warns before overselling. */}
        <s-button id={`posai-add-${rec.variantId}`} variant="primary" loading={adding} disabled={busy} onClick={onAdd}>
          {t('modal.add', { item: itemName(rec, t) })}
        </s-button>
      </s-stack>
    </s-section>
  );
}

export default async () => {
  render(<ModalApp host={shopify} />, document.body);
};
