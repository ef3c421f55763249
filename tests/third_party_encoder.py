"""A third-party encoder, registered only by the tests (never shipped): a sentence-transformers
model of its own (a local folder, or ``adapted:ID``), a tuning grid and a trainable dense
model, all declared on the class, so that ``zest tune`` and ``[[encoder]] adapted = true``
work for it with no change to the core (tests/test_third_party_encoder.py)."""

import fake_plugin
import numpy as np

from zest_core import Encoder, Option, adapted_model_folder, hookimpl, require


class SharpEncoder(Encoder):
    """Cosine similarity raised to an odd power (``sharpness``): the same ranking, other
    scores; a grid of it is all ``zest tune`` needs."""

    name = "sharp"
    has_trainable_dense = True
    tuning_grid = {"sharpness": [1, 3, 5]}
    options = {
        "batch_size": Option(8, int, "Texts embedded per forward pass.", min=1),
        "sharpness": Option(1, int, "Odd power the cosine is raised to.", min=1),
    }

    def __init__(self, model=None, **options):
        super().__init__(model, **options)
        self._st = None

    def _embed(self, texts):
        if self._st is None:
            st = require("sentence_transformers", extra="embed", by="the sharp encoder")
            path = self.model
            if str(path).startswith("adapted:"):
                path = adapted_model_folder(path)
            self._st = st.SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return self._st.encode(
            list(texts), batch_size=self.options["batch_size"], normalize_embeddings=True
        )

    embed_queries = _embed
    embed_documents = _embed

    def scores(self, queries, query_vectors, documents, document_vectors):
        return np.power(query_vectors @ document_vectors.T, self.options["sharpness"])


@hookimpl
def register_encoders(register):
    register(SharpEncoder)


def register() -> None:
    fake_plugin.register(__name__, name="tests.third_party_encoder")
