"""What an encoder reads and how it is scored: contexts and their caches (``encoding``), the
generic baseline context, local BEIR datasets, retrieval scoring, and the Python API's
adapted encoder (``load_encoder``)."""
