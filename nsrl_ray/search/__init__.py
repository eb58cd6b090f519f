"""Population search on Ray actors: a generic evaluator pool and program-space searches."""
