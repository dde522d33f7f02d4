"""Bounded fuzzing of the JSON API against docs/openapi.yaml (schemathesis), in every test run.

Cases are generated from the spec, valid and invalid alike, with a fixed seed and a bounded
count (POSAI_FUZZ_EXAMPLES, 150 by default; `make fuzz` runs many more). Every answer must be
what the spec promises: never a 5xx, documented status codes, headers and bodies.
"""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
EXAMPLES = int(os.environ.get("POSAI_FUZZ_EXAMPLES", "150"))

schema = schemathesis.openapi.from_path(SPEC)
recommendations = schema["/api/recommendations"]["POST"]

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@seed(20261201)
@FUZZ_SETTINGS
@given(
    case=st.one_of(
        recommendations.as_strategy(GenerationMode.POSITIVE),
        # Invalid bodies under a valid token: forged and expired tokens are covered in tests/auth.
        recommendations.as_strategy(GenerationMode.NEGATIVE, headers={"Authorization": "Bearer set-below"}),
    )
)
def test_recommendations_answer_as_the_spec_says(app, small_shop, auth_headers, case):
    schema.app = app  # in-process WSGI: schemathesis's follow-up probes go to the app too, never a socket
    case.headers = {**(case.headers or {}), **auth_headers(small_shop)}
    case.call_and_validate(app=app, base_url="http://localhost")
