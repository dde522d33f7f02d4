"""Training publishes its runner-up as the challenger, and keeps a scorer live traffic made live."""

from __future__ import annotations

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import EvaluationRun, RecommenderConfig, ServingIndexBlob
from posai_app.serving import store
from posai_app.training.jobs import train_shop
from tests.training.test_train_job import add_history


def _config(shop_id: int) -> RecommenderConfig:
    db.session.expire_all()
    return db.session.scalar(sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == shop_id))


def test_training_publishes_the_runner_up_beside_the_champion(app_ctx, shop, other_shop):
    add_history(shop.id)
    db.session.commit()
    run = db.session.get(EvaluationRun, (shop.id, train_shop(shop.id, "test")))
    runner_up = run.results["details"]["selection"]["runnerUp"]
    config = _config(shop.id)
    assert config.metric == run.chosen_metric
    assert config.challenger_metric == runner_up and runner_up != config.metric
    assert config.challenger_params is not None
    loaded = store.load(shop.id)
    assert loaded.challenger is not None and loaded.challenger.metric == runner_up
    assert loaded.challenger.index is not None and len(loaded.challenger.index)
    rows = dict(
        db.session.execute(
            sa.select(ServingIndexBlob.arm, ServingIndexBlob.metric).where(
                ServingIndexBlob.shop_id == shop.id
            )
        ).all()
    )
    assert rows == {"champion": config.metric, "challenger": runner_up}
    # The other shop has nothing of it.
    assert store.load(other_shop.id).challenger is None


def test_a_scorer_made_live_stays_live_while_it_is_one_of_the_two_best(app_ctx, shop):
    add_history(shop.id)
    db.session.commit()
    train_shop(shop.id, "test")
    offline, runner_up = _config(shop.id).metric, _config(shop.id).challenger_metric
    store.swap_arms(shop.id)
    _config(shop.id).live_choice = runner_up
    db.session.commit()
    train_shop(shop.id, "test")
    config = _config(shop.id)
    assert (config.metric, config.challenger_metric, config.live_choice) == (runner_up, offline, runner_up)
    assert store.load(shop.id).metric == runner_up and store.load(shop.id).challenger.metric == offline
    # A live choice that is no longer one of the run's two best gives way to training's choice.
    config.live_choice = "not-a-scorer"
    db.session.commit()
    train_shop(shop.id, "test")
    config = _config(shop.id)
    assert (config.metric, config.challenger_metric, config.live_choice) == (offline, runner_up, None)
