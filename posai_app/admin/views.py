"""The embedded admin page (`GET /app`) and the htmx fragments it swaps.

Views parse the request, call services, commit, and render; fragments are `_*.html`.
Every fragment endpoint needs a session token (`Authorization: Bearer`, added to htmx's
XHRs by static/posai.js); `GET /app` also accepts the `id_token` Shopify appends.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from posai_app import inputs
from posai_app.admin import services
from posai_app.admin.charts import bar_chart, daily_impact_chart, trend_chart
from posai_app.admin.demo import demo_enabled, demo_shop, demo_token_ttl, mint_demo_session_token
from posai_app.auth.decorators import current_shop_id, fresh_token_may_cure, shop_required
from posai_app.auth.domains import is_valid_shop_domain
from posai_app.errors import NotFound, Unauthorized, ValidationFailed
from posai_app.extensions import db
from posai_app.impact import challenger, organic
from posai_app.impact import report as impact_report
from posai_app.ingest import catalog, summary
from posai_app.serving import rows
from posai_app.shops import lifecycle
from posai_app.shops import settings as shop_settings
from posai_app.training import report as training_report

bp = Blueprint("admin", __name__)

REPORT_CHANGED = "report-changed"
SETTINGS_CHANGED = "settings-changed"


def is_fragment_request() -> bool:
    """htmx asked for a fragment (history restores get the full page)."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


@bp.after_request
def _vary_and_no_store(response: Response) -> Response:
    response.vary.add("HX-Request")
    # Pages carry session tokens (demo) and merchant data: never cache them.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_template_filter("posai_int")
def format_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


@bp.app_template_filter("posai_pct")
def format_pct(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.1f}%"


@bp.app_template_filter("posai_dt")
def format_datetime(value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("posai_date")
def format_date(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d")


def _has_session_token() -> bool:
    return bool(request.headers.get("Authorization") or request.args.get("id_token"))


@bp.get("/")
def root():
    """Shopify may open the app at its origin: go to the embedded home, keeping the query."""
    query = request.query_string.decode()
    return redirect(url_for("admin.index") + (f"?{query}" if query else ""), code=302)


@bp.get("/app")
def index():
    if demo_enabled(current_app.config) and not _has_session_token():
        shop = demo_shop()
        if shop is not None:
            token = mint_demo_session_token(current_app.config, shop.domain)
            return _render_index(shop.id, shop.domain, demo_token=token)
    try:
        return _embedded_index()
    except Unauthorized as exc:
        if bounce := _bounce_url(exc):
            return redirect(bounce)
        raise


def _bounce_url(exc: Unauthorized) -> str | None:
    """For a document load from Shopify with a stale or missing id_token: App Bridge's bounce page.

    The page loads App Bridge, which fetches a fresh session token and reloads `shopify-reload`
    with it. The reload target is always this app's own /app (APP_URL), never a caller's URL.
    """
    shop_domain = request.args.get("shop", "")
    if not fresh_token_may_cure(exc) or request.headers.get("Authorization") or is_fragment_request():
        return None
    if not is_valid_shop_domain(shop_domain):
        return None
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("id_token", "shopify-reload")]
    reload_url = current_app.config["APP_URL"].rstrip("/") + "/app?" + urlencode(params)
    # urlencode, not url_for(**params): a query key such as `_scheme` must stay plain data.
    return url_for("admin.session_token_bounce") + "?" + urlencode([*params, ("shopify-reload", reload_url)])


@bp.get("/app/session-token-bounce")
def session_token_bounce():
    """A blank page with App Bridge only: it reloads `shopify-reload` with a fresh id_token."""
    return render_template("admin/bounce.html", api_key=current_app.config["SHOPIFY_API_KEY"])


@shop_required
def _embedded_index():
    shop = lifecycle.get_shop(current_shop_id())
    return _render_index(shop.id, shop.domain, demo_token=None)


def _render_index(shop_id: int, shop_domain: str, demo_token: str | None):
    context = {
        **_report_context(shop_id),
        # A big history takes a moment to count: the page then loads that card on its own.
        "summary": summary.data_summary(shop_id, cached_only=True),
        "pairs": rows.top_pairs(shop_id),
        "settings": shop_settings.current_settings(shop_id),
        "facets": catalog.product_facets(shop_id),
        **_pins_context(shop_id),
        **_status_context(shop_id),
        "shop_domain": shop_domain,
        "demo_token": demo_token,
        "api_key": current_app.config["SHOPIFY_API_KEY"],
        "limits": _limits(),
        "errors": {},
    }
    template = "admin/_content.html" if is_fragment_request() else "admin/index.html"
    return render_template(template, **context)


@bp.get("/app/demo-token")
def demo_token():
    """A fresh demo session token for the demo page's JavaScript (404 outside demo mode)."""
    if not demo_enabled(current_app.config):
        raise NotFound("Not found")
    shop = demo_shop()
    if shop is None:
        raise NotFound("The demo shop has not been imported")
    token = mint_demo_session_token(current_app.config, shop.domain)
    return jsonify({"token": token, "expiresIn": demo_token_ttl(current_app.config)})


# --- report sections --------------------------------------------------------------------------


def _report_context(shop_id: int) -> dict[str, Any]:
    report = training_report.evaluation_report(shop_id)
    history = training_report.run_history(shop_id)
    k = report["k"] if report else 2
    return {
        "live": training_report.live_config(shop_id),
        "report": report,
        "history": history,
        "bar_chart": bar_chart(report["rows"], k=k) if report else "",
        "trend_chart": trend_chart(history, k=k),
    }


@bp.get("/app/report")
@shop_required
def show_report():
    return render_template("admin/_report.html", **_report_context(current_shop_id()))


@bp.get("/app/summary")
@shop_required
def show_summary():
    return render_template("admin/_summary.html", summary=summary.data_summary(current_shop_id()))


@bp.get("/app/pairs")
@shop_required
def show_pairs():
    return render_template("admin/_pairs.html", pairs=rows.top_pairs(current_shop_id()))


def _impact_fragment(shop_id: int, days: int, **extra: Any) -> str:
    figures = impact_report.impact_report(shop_id, days)
    return render_template(
        "admin/_impact.html",
        impact=figures,
        periods=impact_report.PERIODS,
        impact_chart=daily_impact_chart(figures["daily"]),
        arms=challenger.arm_report(shop_id, days),
        **extra,
    )


@bp.get("/app/impact")
@shop_required
def show_impact():
    days = impact_report.period_days(request.args.get("days"))
    return _impact_fragment(current_shop_id(), days)


@bp.post("/app/challenger/live")
@shop_required
def make_challenger_live():
    """The merchant's "Make the challenger live": swap the arms, then show the Impact section again."""
    shop_id = current_shop_id()
    days = impact_report.period_days(request.form.get("days"))
    try:
        switch = challenger.make_challenger_live(shop_id, days=days)
    except ValidationFailed as exc:
        db.session.rollback()
        return _impact_fragment(shop_id, days, arms_error=exc.message), 422
    db.session.commit()
    response = make_response(
        _impact_fragment(
            shop_id,
            days,
            arms_message=f"{switch.to_metric} is live; {switch.from_metric} is now the challenger.",
        )
    )
    response.headers["HX-Trigger"] = REPORT_CHANGED  # the live method changed: report, pairs, preview
    return response


@bp.get("/app/impact/lift")
@shop_required
def show_impact_lift():
    days = impact_report.period_days(request.args.get("days"))
    return render_template("admin/_impact_lift.html", lift=organic.lift_for_period(current_shop_id(), days))


@bp.get("/app/impact.csv")
@shop_required
def export_impact():
    days = impact_report.period_days(request.args.get("days"))
    body = impact_report.attributed_lines_csv(current_shop_id(), days)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="posai-attributed-lines-{days}d.csv"'},
    )


# --- jobs: status, resync, retrain --------------------------------------------------------------


def _float_arg(name: str) -> float | None:
    return inputs.query_float(request.args.get(name))  # epoch seconds the page itself sent


def _int_arg(name: str) -> int | None:
    return inputs.query_int(request.args.get(name))  # a run id the page itself sent


def _status_context(
    shop_id: int, *, train_after: int | None = None, train_since: float | None = None, sync_since=None
) -> dict[str, Any]:
    status = services.job_status(
        shop_id, train_after=train_after, train_since=train_since, sync_since=sync_since
    )
    poll_args: dict[str, Any] = {"active": 1}
    if status["train_queued"]:
        poll_args.update(train_after=train_after, train_since=train_since)
    if status["sync_queued"]:
        poll_args["sync_since"] = sync_since
    return {"status": status, "poll_url": url_for("admin.show_status", **poll_args)}


def _status_response(context: dict[str, Any], *, was_active: bool, message: str | None = None):
    response = make_response(render_template("admin/_status.html", **context, message=message))
    if was_active and not context["status"]["active"]:
        # The job the page was following has finished: refresh the report sections once.
        response.headers["HX-Trigger"] = REPORT_CHANGED
    return response


@bp.get("/app/status")
@shop_required
def show_status():
    context = _status_context(
        current_shop_id(),
        train_after=_int_arg("train_after"),
        train_since=_float_arg("train_since"),
        sync_since=_float_arg("sync_since"),
    )
    return _status_response(context, was_active=request.args.get("active") == "1")


@bp.post("/app/retrain")
@shop_required
def retrain():
    shop_id = current_shop_id()
    before = training_report.max_run_id(shop_id)
    since = time.time()
    outcome = services.request_training(shop_id)
    db.session.commit()
    message = (
        "A training run is already in progress; showing its progress."
        if outcome.get("status") == "already_running"
        else "Retraining requested."
    )
    context = _status_context(shop_id, train_after=before, train_since=since)
    return _status_response(context, was_active=True, message=message)


@bp.post("/app/resync")
@shop_required
def resync():
    shop_id = current_shop_id()
    since = time.time()
    outcome = services.request_sync(shop_id)
    db.session.commit()
    message = (
        "A sync is already in progress; showing its progress."
        if outcome.get("status") == "already_running"
        else "Resync from Shopify requested."
    )
    context = _status_context(shop_id, sync_since=None if outcome["status"] == "already_running" else since)
    return _status_response(context, was_active=True, message=message)


# --- preview ------------------------------------------------------------------------------------


@bp.get("/app/products")
@shop_required
def search_products():
    purpose = request.args.get("purpose", "preview")
    if purpose not in SEARCH_PURPOSES:
        raise ValidationFailed(
            "purpose must be one of " + ", ".join(SEARCH_PURPOSES), details={"purpose": purpose[:20]}
        )
    query = request.args.get("q", "")
    shop_id = current_shop_id()
    product_id = None
    if purpose == "pin_target":
        ids = inputs.parse_ids(request.args.getlist("product_id"), "product_id")
        if len(ids) != 1:
            raise ValidationFailed("Pick exactly one product", details={"product_id": len(ids)})
        product_id = ids[0]
    if purpose == "preview":
        results = catalog.search_variants(shop_id, query)
    else:
        results = catalog.search_products(shop_id, query)
    return render_template(
        "admin/_search_results.html", results=results, purpose=purpose, query=query, product_id=product_id
    )


SEARCH_PURPOSES = ("preview", "exclude", "pin_source", "pin_target")


@bp.post("/app/preview")
@shop_required
def preview():
    shop_id = current_shop_id()
    cart = inputs.parse_ids(request.form.getlist("variant_id"), "variant_id")
    add = inputs.parse_ids(request.form.getlist("add"), "add")
    remove = set(inputs.parse_ids(request.form.getlist("remove"), "remove"))
    cart = [v for v in cart + [a for a in add if a not in cart] if v not in remove]
    if len(cart) > 100:
        raise ValidationFailed("A preview cart holds at most 100 items", details={"variant_id": len(cart)})
    explain = request.form.get("explain") in ("1", "on", "true")
    items = catalog.variants_by_ids(shop_id, cart)
    result = services.preview(shop_id, [i["variant_id"] for i in items], explain=explain) if items else None
    return render_template("admin/_preview.html", cart=items, result=result, explain=explain)


# --- settings -----------------------------------------------------------------------------------


def _limits() -> dict[str, int]:
    return {
        "limit_min": shop_settings.LIMIT_MIN,
        "limit_max": shop_settings.LIMIT_MAX,
        "interval_min": shop_settings.RETRAIN_INTERVAL_MIN,
        "interval_max": shop_settings.RETRAIN_INTERVAL_MAX,
        "challenger_shares": shop_settings.CHALLENGER_SHARES,
        "challenger_share_max": shop_settings.CHALLENGER_SHARE_MAX,
    }


@bp.get("/app/settings")
@shop_required
def show_settings():
    settings = shop_settings.current_settings(current_shop_id())
    return render_template("admin/_settings.html", settings=settings, limits=_limits(), errors={})


@bp.post("/app/settings")
@shop_required
def update_settings():
    shop_id = current_shop_id()
    try:
        settings = shop_settings.update_settings(shop_id, request.form.to_dict())
    except ValidationFailed as exc:
        db.session.rollback()
        # Re-show what the merchant typed next to the messages; htmx swaps this 422 (see base.html).
        typed = {**shop_settings.current_settings(shop_id), **request.form.to_dict()}
        typed["bestseller_fallback"] = request.form.get("bestseller_fallback") in ("1", "on", "true", "yes")
        if "challenger_share" in request.form:
            typed["challenger_auto_switch"] = request.form.get("challenger_auto_switch") in (
                "1",
                "on",
                "true",
                "yes",
            )
        body = render_template(
            "admin/_settings.html", settings=typed, limits=_limits(), errors=exc.details or {}, message=None
        )
        return body, 422
    db.session.commit()
    response = make_response(
        render_template(
            "admin/_settings.html", settings=settings, limits=_limits(), errors={}, message="Settings saved."
        )
    )
    response.headers["HX-Trigger"] = SETTINGS_CHANGED
    return response


def _exclusions_response(
    shop_id: int, message: str | None = None, error: str | None = None, status: int = 200
):
    settings = shop_settings.current_settings(shop_id)
    response = make_response(
        render_template(
            "admin/_exclusions.html",
            settings=settings,
            facets=catalog.product_facets(shop_id),
            message=message,
            error=error,
        ),
        status,
    )
    if status == 200:
        response.headers["HX-Trigger"] = SETTINGS_CHANGED
    return response


def _one_product_id() -> int:
    ids = inputs.parse_ids(request.form.getlist("product_id"), "product_id")
    if len(ids) != 1:
        raise ValidationFailed("Pick exactly one product", details={"product_id": len(ids)})
    return ids[0]


@bp.post("/app/settings/exclusions")
@shop_required
def add_exclusion():
    shop_id = current_shop_id()
    try:
        product_id = _one_product_id()
        shop_settings.add_excluded_product(shop_id, product_id)
    except ValidationFailed as exc:
        db.session.rollback()
        return _exclusions_response(shop_id, error=exc.message, status=422)
    db.session.commit()
    return _exclusions_response(shop_id, message="Product excluded from recommendations.")


@bp.post("/app/settings/exclusions/remove")
@shop_required
def remove_exclusion():
    shop_id = current_shop_id()
    try:
        product_id = _one_product_id()
    except ValidationFailed as exc:
        return _exclusions_response(shop_id, error=exc.message, status=422)
    shop_settings.remove_excluded_product(shop_id, product_id)
    db.session.commit()
    return _exclusions_response(shop_id, message="Product can be recommended again.")


@bp.post("/app/settings/exclusions/values")
@shop_required
def add_excluded_value():
    shop_id = current_shop_id()
    try:
        shop_settings.add_excluded_value(
            shop_id, request.form.get("field", ""), request.form.get("value", "")
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return _exclusions_response(shop_id, error=exc.message, status=422)
    db.session.commit()
    return _exclusions_response(shop_id, message="Those products are excluded from recommendations.")


@bp.post("/app/settings/exclusions/values/remove")
@shop_required
def remove_excluded_value():
    shop_id = current_shop_id()
    try:
        shop_settings.remove_excluded_value(
            shop_id, request.form.get("field", ""), request.form.get("value", "")
        )
    except ValidationFailed as exc:
        db.session.rollback()
        return _exclusions_response(shop_id, error=exc.message, status=422)
    db.session.commit()
    return _exclusions_response(shop_id, message="Those products can be recommended again.")


# --- pins -----------------------------------------------------------------------------------------


def _pins_context(shop_id: int, selected: int | None = None) -> dict[str, Any]:
    chosen = None
    if selected is not None:
        chosen = catalog.product_titles(shop_id, [selected])[0]
    return {
        "pins": shop_settings.current_pins(shop_id),
        "selected": chosen,
        "max_pins": shop_settings.MAX_PINS_PER_PRODUCT,
    }


def _pins_response(
    shop_id: int,
    selected: int | None = None,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
):
    html = render_template(
        "admin/_pins.html", **_pins_context(shop_id, selected), message=message, error=error
    )
    return make_response(html, status)


def _pin_pair() -> tuple[int, int]:
    product = inputs.parse_ids(request.form.getlist("product_id"), "product_id")
    pinned = inputs.parse_ids(request.form.getlist("pinned_product_id"), "pinned_product_id")
    if len(product) != 1 or len(pinned) != 1:
        raise ValidationFailed("Pick one product and one product to pair it with", details={})
    return product[0], pinned[0]


@bp.get("/app/pins")
@shop_required
def show_pins():
    shop_id = current_shop_id()
    ids = inputs.parse_ids(request.args.getlist("product_id"), "product_id", limit=1)
    if ids and not catalog.product_exists(shop_id, ids[0]):
        raise NotFound(f"Product {ids[0]} is not in this shop's catalog")
    return _pins_response(shop_id, ids[0] if ids else None)


@bp.post("/app/pins")
@shop_required
def add_pin():
    shop_id = current_shop_id()
    try:
        product_id, pinned = _pin_pair()
        shop_settings.add_pin(shop_id, product_id, pinned)
    except ValidationFailed as exc:
        db.session.rollback()
        return _pins_response(shop_id, error=exc.message, status=422)
    db.session.commit()
    return _pins_response(shop_id, product_id, message="Pairing saved: it is suggested first.")


@bp.post("/app/pins/remove")
@shop_required
def remove_pin():
    shop_id = current_shop_id()
    try:
        product_id, pinned = _pin_pair()
    except ValidationFailed as exc:
        return _pins_response(shop_id, error=exc.message, status=422)
    shop_settings.remove_pin(shop_id, product_id, pinned)
    db.session.commit()
    return _pins_response(shop_id, message="Pairing removed.")


@bp.post("/app/pins/import")
@shop_required
def import_pins():
    from posai_app.ingest.discovery import enqueue_discovery_import

    shop_id = current_shop_id()
    job = enqueue_discovery_import(shop_id)
    message = (
        "Importing your Search & Discovery pairings: reload in a moment to see them."
        if job
        else "Imported your Search & Discovery pairings."
    )
    return _pins_response(shop_id, message=message)
