"""The service's own Prometheus metrics, registered once per process.

Kept out of the service module: `lrat.serving.package.build_bento` imports that module afresh for every bento (its
model and limits are read at import), and registering a metric twice in one registry is an error.
"""

from prometheus_client import Histogram

BATCH_SIZES = Histogram("lrat_search_batch_size", "searches answered by one encode + FAISS search (adaptive "
                        "batching)", buckets=(1, 2, 4, 8, 16, 32, 64, 128))
