"""`lrat agent`: a real tool-calling LLM search agent (any OpenAI-compatible chat-completions endpoint) over any
retriever the project knows, writing BrowseComp-Plus run files that `lrat ingest` reads."""
