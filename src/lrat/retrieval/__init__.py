"""Retrievers the agent, the evaluation and the service share: ``search(query, k)`` and ``get_document(docid)``."""
