"""Experiments beyond the pipeline: how the retriever's gain grows with the number of trajectories
(`lrat experiment scaling`) and whether it holds as the agent sees more results per search (`lrat experiment
topk`). Neither is a DVC stage: each takes longer than `make run`'s budget, and both read what it leaves behind."""
