"""The user's own documents: one reader (``read_documents``) behind ``zest run --exemplars``,
``zest exemplars pick``, ``zest embed`` and the Python API, and the passages a long document
becomes for embedding and search (docs/your-documents.md)."""

from .passages import Passage, split_passages
from .readers import Document, DocumentReader, read_documents

__all__ = ["Document", "DocumentReader", "Passage", "read_documents", "split_passages"]
