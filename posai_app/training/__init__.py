"""Per-shop training: turn a shop's line items into baskets, run the engine
(posai_app.reco), and publish the result (evaluation_runs, recommender_configs,
variant_neighbors, variant_stats) in one transaction so readers never see a
half-built index.
"""
