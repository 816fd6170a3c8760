"""bert_torch.py -- a plain torch.nn BERT, named and computed like Hugging Face's.

Two models share one encoder, the `bert.` submodule:

  BertClassifier   sequence classification: the BERT encoder and pooler
                   with a two-layer head (classifier.fc1 [128,C] -> ReLU ->
                   classifier.fc2 [K,128]) in place of HF's single
                   classifier Linear.
  BertForMLM       masked-language-model pretraining (what
                   tools/bert_pretrain.py trains): the encoder plus HF's
                   BertForMaskedLM head (cls.predictions.transform.dense,
                   cls.predictions.transform.LayerNorm, cls.predictions.bias;
                   the decoder weight is the word embedding matrix, tied, so
                   it is not a separate state_dict entry).

The `bert.*` state_dict keys are exactly those of Hugging Face's
BertForSequenceClassification (without the position_ids buffer):

  bert.embeddings.word_embeddings.weight            [V, C]
  bert.embeddings.position_embeddings.weight        [P, C]
  bert.embeddings.token_type_embeddings.weight      [2, C]
  bert.embeddings.LayerNorm.weight / .bias          [C]
  bert.encoder.layer.N.attention.self.{query,key,value}.weight [C, C], .bias [C]
  bert.encoder.layer.N.attention.output.dense.weight [C, C], .bias [C]
  bert.encoder.layer.N.attention.output.LayerNorm.weight / .bias [C]
  bert.encoder.layer.N.intermediate.dense.weight    [I, C], .bias [I]
  bert.encoder.layer.N.output.dense.weight          [C, I], .bias [C]
  bert.encoder.layer.N.output.LayerNorm.weight / .bias [C]
  bert.pooler.dense.weight [C, C], .bias [C]

so a BertForMLM checkpoint's `bert.*` tensors load into a BertClassifier
(the MLM model keeps a pooler too, untrained by MLM, so that the load can
be strict on the encoder).

Semantics are HF BERT's: embeddings = word + position(arange(T)) +
token_type (summed in that order, as examples/bert_cls.model does; HF adds
the position last, a rounding-level difference), LayerNorm (eps 1e-12),
dropout; self-attention with H heads of size C/H, scores q.k^T / sqrt(C/H)
+ (1 - attention_mask[:, None, None, :]) * -10000.0, softmax, dropout,
heads merged; attention output dense, dropout, LayerNorm(dense + input);
intermediate dense + GELU (erf form); output dense, dropout,
LayerNorm(dense + attention output); pooler tanh(dense(h[:, 0])); head
dropout, fc1, ReLU, fc2. Initialization is HF's: normal(0, 0.02) for
Linear and Embedding weights, zero biases, LayerNorm weight 1 and bias 0.
Dropout is a constructor argument (0 for parity checks).

Run it directly to print the classifier's state_dict keys and shapes:

  /usr/bin/python3 tests/parity/bert_torch.py [--hidden 128 --layers 2 ...]
"""
import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-12
HEAD_HIDDEN = 128       # width of the classifier head's hidden layer


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, hidden, max_pos, dropout, type_vocab=2):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(max_pos, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_ids, token_type_ids):
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device)
        # summed as examples/bert_cls.model does; HF sums (word + type) + position,
        # which differs only by rounding
        x = (self.word_embeddings(input_ids) + self.position_embeddings(pos)[None]
             + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of the {heads} heads")
        self.heads = heads
        self.head_size = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def split(self, x):                      # [B,T,C] -> [B,H,T,D]
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x, mask_add):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        scores = scores + mask_add
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v)                     # [B,H,T,D]
        b, _, t, _ = ctx.shape
        return ctx.permute(0, 2, 1, 3).reshape(b, t, self.heads * self.head_size)


class BertSelfOutput(nn.Module):
    def __init__(self, hidden, dropout):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertAttention(nn.Module):
    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.self = BertSelfAttention(hidden, heads, dropout)
        self.output = BertSelfOutput(hidden, dropout)

    def forward(self, x, mask_add):
        return self.output(self.self(x, mask_add), x)


class BertIntermediate(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.dense = nn.Linear(hidden, inter)

    def forward(self, x):
        return F.gelu(self.dense(x))                     # erf form


class BertOutput(nn.Module):
    def __init__(self, hidden, inter, dropout):
        super().__init__()
        self.dense = nn.Linear(inter, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h, x):
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, inter, dropout):
        super().__init__()
        self.attention = BertAttention(hidden, heads, dropout)
        self.intermediate = BertIntermediate(hidden, inter)
        self.output = BertOutput(hidden, inter, dropout)

    def forward(self, x, mask_add):
        a = self.attention(x, mask_add)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, hidden, layers, heads, inter, dropout):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(hidden, heads, inter, dropout)
                                    for _ in range(layers)])

    def forward(self, x, mask_add):
        for layer in self.layer:
            x = layer(x, mask_add)
        return x


class BertPooler(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    """The encoder: returns (sequence output [B,T,C], pooled output [B,C])."""

    def __init__(self, vocab, hidden, layers, heads, inter, max_pos, dropout):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, hidden, max_pos, dropout)
        self.encoder = BertEncoder(hidden, layers, heads, inter, dropout)
        self.pooler = BertPooler(hidden)

    def forward(self, input_ids, token_type_ids, attention_mask, pool=True):
        mask = attention_mask.to(self.embeddings.word_embeddings.weight.dtype)
        mask_add = (1.0 - mask[:, None, None, :]) * -10000.0
        h = self.encoder(self.embeddings(input_ids, token_type_ids), mask_add)
        return h, (self.pooler(h) if pool else None)


def init_weights(module):
    """HF BertPreTrainedModel._init_weights."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ClassifierHead(nn.Module):
    def __init__(self, hidden, classes, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(hidden, HEAD_HIDDEN)
        self.fc2 = nn.Linear(HEAD_HIDDEN, classes)

    def forward(self, pooled):
        return self.fc2(F.relu(self.fc1(self.dropout(pooled))))


class BertClassifier(nn.Module):
    """BERT for sequence classification with a two-layer head.

    forward(input_ids, token_type_ids, attention_mask, labels=None) ->
    (logits [B,K], loss), loss = F.cross_entropy(logits, labels), None
    without labels.
    """

    def __init__(self, vocab, hidden=128, layers=2, heads=2, inter=512, max_pos=64,
                 classes=2, dropout=0.1):
        super().__init__()
        self.bert = BertModel(vocab, hidden, layers, heads, inter, max_pos, dropout)
        self.classifier = ClassifierHead(hidden, classes, dropout)
        init_weights(self)

    def forward(self, input_ids, token_type_ids, attention_mask, labels=None):
        _, pooled = self.bert(input_ids, token_type_ids, attention_mask)
        logits = self.classifier(pooled)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss


class BertLMPredictionHead(nn.Module):
    """cls.predictions: transform (dense, GELU, LayerNorm), then the decoder
    whose weight is the (tied) word embedding matrix, plus its own bias."""

    def __init__(self, hidden, vocab):
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(hidden, hidden)
        self.transform.LayerNorm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, h, decoder_weight):
        h = self.transform.LayerNorm(F.gelu(self.transform.dense(h)))
        return F.linear(h, decoder_weight, self.bias)


class BertForMLM(nn.Module):
    """BERT masked-language-model pretraining (HF BertForMaskedLM's head).

    forward(input_ids, token_type_ids, attention_mask, labels=None,
    masked_only=False) -> (logits, loss). labels: [B,T] token ids, -100
    where not predicted; loss = mean cross entropy over the predicted
    positions. Logits are [B,T,V]; with masked_only (needs labels) they are
    [M,V] for the M positions whose label is not -100 (the same loss, far
    less work in the decoder).
    """

    def __init__(self, vocab, hidden=128, layers=2, heads=2, inter=512, max_pos=64,
                 dropout=0.1):
        super().__init__()
        self.bert = BertModel(vocab, hidden, layers, heads, inter, max_pos, dropout)
        self.cls = nn.Module()
        self.cls.predictions = BertLMPredictionHead(hidden, vocab)
        init_weights(self)

    def forward(self, input_ids, token_type_ids, attention_mask, labels=None,
                masked_only=False):
        h, _ = self.bert(input_ids, token_type_ids, attention_mask, pool=False)
        w = self.bert.embeddings.word_embeddings.weight
        if masked_only:
            sel = labels != -100
            logits = self.cls.predictions(h[sel], w)
            return logits, F.cross_entropy(logits, labels[sel])
        logits = self.cls.predictions(h, w)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                   ignore_index=-100)
        return logits, loss


def main():
    ap = argparse.ArgumentParser(description="Print BertClassifier's state_dict keys and shapes.")
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--inter", type=int, default=512)
    ap.add_argument("--max-pos", type=int, default=64)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--mlm", action="store_true", help="print BertForMLM's keys instead")
    a = ap.parse_args()
    if a.mlm:
        m = BertForMLM(a.vocab, a.hidden, a.layers, a.heads, a.inter, a.max_pos)
    else:
        m = BertClassifier(a.vocab, a.hidden, a.layers, a.heads, a.inter, a.max_pos, a.classes)
    for k, v in m.state_dict().items():
        print(k, list(v.shape))


if __name__ == "__main__":
    main()
