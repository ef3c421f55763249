"""Synthetic corpora: the store and its migrations, the generation pipeline, exemplars,
filter versions, export and comparison. Built on the plugin layer only."""
