"""CLIP's BPE tokenizer, from a model's own ``vocab.json`` and ``merges.txt``, through Hugging
Face's ``tokenizers`` library (the Rust BPE transformers' fast CLIP tokenizer is built on).

As CLIP (and transformers' ``CLIPTokenizer``) does: NFC, runs of whitespace → one space,
lower case; split into words, numbers one digit at a time and punctuation runs; byte-level
BPE with ``</w>`` ending each word; then ``<|startoftext|>`` … ``<|endoftext|>``, truncated to
and padded to the context length. (The original also fixes mojibake with ``ftfy`` and splits
CJK characters one by one; neither is done here.)
"""

import json
import warnings
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

# A tokenizer_config.json key of LatentLab's own vocabularies (latentlab.train.text): a word
# the vocabulary holds whole is one token, before any merge (tokenizers' ignore_merges).
# Imported tokenizers do not have it and tokenize as CLIP's does.
WHOLE_WORDS = "latentlab_whole_words"
# CLIP's word pattern (Radford et al. 2021, simple_tokenizer.py), contractions first.
_WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


class CLIPTokenizer:
    """Prompts → ids [B, max_length] int32; see the module docstring."""

    def __init__(self, folder: str | Path, max_length: int | None = None):
        folder = Path(folder)
        for name in ("vocab.json", "merges.txt"):
            if not (folder / name).is_file():
                raise ValueError(f"{folder / name}: missing; a CLIP tokenizer folder holds "
                                 "vocab.json and merges.txt")
        settings = {}
        if (folder / "tokenizer_config.json").is_file():
            settings = json.loads((folder / "tokenizer_config.json").read_text())
        token = lambda key, default: _content(settings.get(key), default)
        self.bos, self.eos = token("bos_token", "<|startoftext|>"), token("eos_token", "<|endoftext|>")
        unk, pad = token("unk_token", "<|endoftext|>"), token("pad_token", "<|endoftext|>")
        bpe = models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                   unk_token=unk, end_of_word_suffix="</w>",
                                   continuing_subword_prefix="",
                                   ignore_merges=bool(settings.get(WHOLE_WORDS, False)))
        self._tokenizer = Tokenizer(bpe)
        self._tokenizer.normalizer = _normalizer()
        self._tokenizer.pre_tokenizer = _pre_tokenizer()
        vocab = self._tokenizer.get_vocab()
        for what, name in (("bos_token", self.bos), ("eos_token", self.eos), ("pad_token", pad)):
            if name not in vocab:
                raise ValueError(f"{folder / 'vocab.json'}: {what} {name!r} is not in the vocabulary")
        self.bos_id, self.eos_id, self.pad_id = vocab[self.bos], vocab[self.eos], vocab[pad]
        self.max_length = int(max_length or settings.get("model_max_length") or 77)

    def vocabulary(self) -> dict[str, int]:
        return self._tokenizer.get_vocab()

    def tokens(self, prompt: str) -> list[int]:
        """The BPE ids of one prompt, without start/end tokens or padding."""
        return self._tokenizer.encode(prompt, add_special_tokens=False).ids

    def encode(self, prompts, max_length: int | None = None) -> tuple[np.ndarray, list[int]]:
        """(ids [B, L] int32, how many tokens were cut from each prompt) of ``prompts`` (a
        string or a list), L = ``max_length`` or the tokenizer's: start, at most L - 2 BPE
        tokens, end, padding. An empty prompt gives start, end and padding (the unconditional
        input). Warns of nothing; :meth:`__call__` does."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        length = max_length or self.max_length
        rows, cuts = [], []
        for prompt in prompts:
            ids = self.tokens(prompt)
            cuts.append(max(0, len(ids) - (length - 2)))
            ids = [self.bos_id] + ids[:length - 2] + [self.eos_id]
            rows.append(ids + [self.pad_id] * (length - len(ids)))
        return np.asarray(rows, np.int32), cuts

    def __call__(self, prompts, max_length: int | None = None) -> np.ndarray:
        """ids [B, L] int32 of ``prompts`` (see :meth:`encode`); a prompt longer than L - 2
        tokens is cut, with a warning saying by how many."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        ids, cuts = self.encode(prompts, max_length)
        for prompt, cut in zip(prompts, cuts):
            if cut:
                warnings.warn(truncation_message(prompt, cut, ids.shape[1]), stacklevel=2)
        return ids


def _normalizer():
    return normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])


def _pre_tokenizer():
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(_WORDS), behavior="removed", invert=True),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def words(text: str) -> list[str]:
    """The words BPE merges within, as :class:`CLIPTokenizer` splits ``text``: normalised,
    split, each a string of byte-level characters (what ``vocab.json`` spells)."""
    normal = _normalizer().normalize_str(text)
    return [word for word, _ in _pre_tokenizer().pre_tokenize_str(normal)]


def byte_alphabet() -> list[str]:
    """The 256 byte-level characters every word is spelled in, sorted."""
    return sorted(pre_tokenizers.ByteLevel.alphabet())


def truncation_message(prompt: str, cut: int, length: int) -> str:
    """The warning of a prompt cut by ``cut`` tokens to fit a context of ``length``."""
    return (f"prompt {_short(prompt)}: {cut} token{'s' if cut != 1 else ''} cut "
            f"(the text encoder reads {length - 2} tokens)")


def _content(value, default: str) -> str:
    if isinstance(value, dict):
        return value.get("content", default)
    return value or default


def _short(prompt: str) -> str:
    return repr(prompt if len(prompt) <= 40 else prompt[:37] + "...")
