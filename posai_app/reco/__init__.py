"""The recommender engine: a pure library (numpy + scipy.sparse; no Flask, no database).

Names load lazily so that `import posai_app.reco` (e.g. by the CLI) costs nothing until used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from posai_app.reco.orders import Order, OrdersFileError, load_orders_csv

if TYPE_CHECKING:
    from posai_app.reco.evaluation import EvaluationReport, evaluate
    from posai_app.reco.index import NeighborIndex
    from posai_app.reco.scorers import BASIC, ORIGINAL, POPULARITY, SCORERS, SELECTION_ORDER, ScorerSpec
    from posai_app.reco.selection import TrainingResult, train
    from posai_app.reco.stats import History

_LAZY = {
    "evaluate": "posai_app.reco.evaluation",
    "EvaluationReport": "posai_app.reco.evaluation",
    "NeighborIndex": "posai_app.reco.index",
    "SCORERS": "posai_app.reco.scorers",
    "BASIC": "posai_app.reco.scorers",
    "ORIGINAL": "posai_app.reco.scorers",
    "POPULARITY": "posai_app.reco.scorers",
    "SELECTION_ORDER": "posai_app.reco.scorers",
    "ScorerSpec": "posai_app.reco.scorers",
    "History": "posai_app.reco.stats",
    "TrainingResult": "posai_app.reco.selection",
    "train": "posai_app.reco.selection",
}

__all__ = [
    "BASIC",
    "ORIGINAL",
    "POPULARITY",
    "SCORERS",
    "SELECTION_ORDER",
    "EvaluationReport",
    "History",
    "NeighborIndex",
    "Order",
    "OrdersFileError",
    "ScorerSpec",
    "TrainingResult",
    "evaluate",
    "load_orders_csv",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'posai_app.reco' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
