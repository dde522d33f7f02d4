"""Each shop's serving index: stored and loaded by `store` (the one owner of its tables),
written row by row by `rows`. The policy that answers a cart from it is posai_app.reco.serving."""
