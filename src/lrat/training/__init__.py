"""Stage 4: weighted contrastive training of the bi-encoder (method doc §6)."""
