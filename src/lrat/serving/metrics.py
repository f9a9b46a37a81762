"""The service's own Prometheus metrics, registered once per process.

Kept out of the service module: `lrat.serving.package.build_bento` imports that module afresh for every bento (its
model and limits are read at import), and registering a metric twice in one registry is an error.
"""

from prometheus_client import Counter, Histogram

BATCH_SIZES = Histogram("lrat_search_batch_size", "searches answered by one encode + FAISS search (adaptive "
                        "batching)", buckets=(1, 2, 4, 8, 16, 32, 64, 128))

# Capture (lrat.serving.capture): what tagged calls the service recorded, dropped (queue full) and sealed.
CAPTURE = {
    "recorded": Counter("lrat_capture_events_recorded", "tagged calls written to capture shards"),
    "dropped": Counter("lrat_capture_events_dropped", "tagged calls not recorded: the capture queue was full "
                       "(searches are never made to wait for it)"),
    "shards": Counter("lrat_capture_shards_sealed", "capture shards closed (fsync + rename)"),
    "finished": Counter("lrat_capture_trajectories_finished", "POST /finish calls recorded"),
}


def count_capture(name: str, n: int) -> None:
    CAPTURE[name].inc(n)
