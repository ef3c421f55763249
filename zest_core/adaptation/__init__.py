"""Fitting an encoder to a domain without reading the target: zero-shot tuning of its
settings on synthetic queries, fine-tuning its dense model (``zest adapt``), the registry of
the models that made, and the experiment's adapted arms."""
