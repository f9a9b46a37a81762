"""A tiny BERT SentenceTransformer built offline, for tests that need a real (but fast) trainable model.

    from tests.training.tiny import tiny_model
    model = tiny_model()                  # in memory
    model = tiny_model(tmp_path / "st")   # also saved as a folder that SentenceTransformer(str(path)) loads

Deterministic: the weights come from a fixed seed (the global RNG is left untouched) and dropout is off, so two
calls give the same model and a forward pass in train mode is repeatable.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
from transformers import BertConfig, BertModel, BertTokenizerFast

HIDDEN = 32
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a of in is was to and on by for with from at which who what where when how island ferry harbour "
         "town boat mainland museum academy founder scholar records lighthouse built oldest organisation passenger "
         "query document agent search answer retrieve trajectory relevant passage ocean river castle bridge").split()


def _vocab() -> list[str]:
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    return SPECIAL + chars + [f"##{c}" for c in string.ascii_lowercase + string.digits] + WORDS


def tiny_model(path: Path | None = None, seed: int = 0) -> SentenceTransformer:
    """A 2-layer, 32-dim BERT with mean pooling; any lowercase text tokenizes (unknown words fall back to letters)."""
    with tempfile.TemporaryDirectory() as tmp:
        vocab = _vocab()
        BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True).save_pretrained(tmp)
        config = BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            BertModel(config).save_pretrained(tmp)
        model = SentenceTransformer(modules=[Transformer(tmp, max_seq_length=64), Pooling(HIDDEN, "mean")],
                                    device="cpu")
    model.model_card_data.generate_widget_examples = False  # no hub look-ups while writing a model card
    if path is not None:
        model.save_pretrained(str(path))
    return model
