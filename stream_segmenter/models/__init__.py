"""spaCy pipelines: how one is loaded (loader) and which are held in memory (pool)."""
