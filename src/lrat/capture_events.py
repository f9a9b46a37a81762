"""The capture event format, shared by the service that writes it (lrat.serving.capture), `lrat ingest` that reads
it (lrat.ingest.service) and callers that tag their calls; kept apart so neither side imports the other."""

HEADER = "x-trajectory-id"   # the request header that tags a call (or the field ``trajectory_id``)
MARKER = "lrat_capture"      # the key every event carries (its value is the event schema version)
VERSION = 1
CALLS = ("search", "search_batch", "get_document", "finish")
SEALED, OPEN = ".jsonl", ".jsonl.open"  # a shard's name when sealed / while it is written
