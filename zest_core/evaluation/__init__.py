"""Encoders applied to contexts: contexts and their caches, the Python API's adapted
encoder, retrieval evaluation, tuning, experiments, reports and fidelity."""
