"""The model registry and its gate: registered versions of the retriever, the `challenger`/`champion`/`previous`
aliases, and the promotion decision that moves them (only on a fresh, paired evaluation)."""
