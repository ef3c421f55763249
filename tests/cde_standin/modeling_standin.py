"""A tiny stand-in with the two-stage interface of CDE checkpoints (jxm/cde-small-v1/v2).

The real weights cannot be downloaded here; this module is saved into a checkpoint
directory and loaded through transformers ``trust_remote_code`` exactly like the real
``model.py``, so the cde plugin's plumbing (sizes, oversampling, caching, prefixes) is tested
for real. Its embeddings mean little: mean-pooled token vectors, shifted by the context.
Both stages record what they were given, so tests can see the exact inputs.
"""

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel


class StandinConfig(PretrainedConfig):
    model_type = "zest_cde_standin"

    def __init__(
        self,
        vocab_size=30522,
        hidden_size=16,
        transductive_corpus_size=512,
        embedder=None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.transductive_corpus_size = transductive_corpus_size
        self.embedder = embedder  # the tokenizer's source, as in the real config.json
        super().__init__(**kwargs)


def _mean_pool(embed: nn.Embedding, input_ids, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)


class FirstStage(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.rows = 0  # documents embedded so far: lets tests see the context cache work
        self.seen = []  # (input_ids, attention_mask) of every batch

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        # token_type_ids: the model card's recipe passes every tokenizer output (BERT ones).
        self.rows += input_ids.shape[0]
        self.seen.append((input_ids.clone(), attention_mask.clone()))
        return _mean_pool(self.embed, input_ids, attention_mask)


class SecondStage(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.corpus_size = config.transductive_corpus_size
        self.seen = []  # every batch of input ids, for the prefix tests
        self.contexts = []  # the dataset embeddings each batch was given

    def forward(self, input_ids, attention_mask, dataset_embeddings):
        if dataset_embeddings.shape[0] != self.corpus_size:
            raise ValueError(
                f"expected {self.corpus_size} dataset embeddings, got {dataset_embeddings.shape[0]}"
            )
        self.seen.append(input_ids.clone())
        self.contexts.append(dataset_embeddings.clone())
        return _mean_pool(self.embed, input_ids, attention_mask) - dataset_embeddings.mean(0)


class StandinCDE(PreTrainedModel):
    config_class = StandinConfig

    def __init__(self, config):
        super().__init__(config)
        self.first_stage_model = FirstStage(config)
        self.second_stage_model = SecondStage(config)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, generator=torch.Generator().manual_seed(0))
