"""Alert governance: stored feedback and outcomes, the per-rule override summary (API, CLI and
the /governance page), and the wiring of the site layer, store and operations into the app."""
