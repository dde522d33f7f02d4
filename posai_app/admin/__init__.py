"""The merchant's embedded admin page: report, charts, preview, settings, resync/retrain."""
