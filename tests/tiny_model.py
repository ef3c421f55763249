"""A tiny stand-in sentence-transformers model for tests that train or score with one
(tests/test_adapt.py, tests/test_adapt_experiment.py)."""

from pathlib import Path


def tiny_model(root: Path, words) -> str:
    """A sentence-transformers model of one 32-wide BERT layer, randomly initialised, over a
    WordPiece vocabulary of ``words`` (built here: no download, and small, so a training step
    takes milliseconds). Returns its folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(special + sorted(set(words)) + [".", ","])}
    core = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        **{f"{name}_token": f"[{name.upper()}]" for name in ("unk", "pad", "cls", "sep", "mask")},
    )
    tokenizer.save_pretrained(root / "hf")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,  # learns the pairs in fewer steps
        attention_probs_dropout_prob=0.0,
    )
    BertModel(config).save_pretrained(root / "hf")
    transformer = Transformer(str(root / "hf"), max_seq_length=64)
    SentenceTransformer(modules=[transformer, Pooling(32, "mean")]).save(str(root / "st"))
    return str(root / "st")
