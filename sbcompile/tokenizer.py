"""Text and token ids for `sbcompile run --text`. Byte-level models (vocab 256) read UTF-8 bytes.
A checkpoint that ships its tokenizer (the releases ship Qwen2.5's byte-level BPE: vocab.json,
merges.txt, tokenizer_config.json, added_tokens.json; or one tokenizer.json) has it carried into
the artifact as `tokenizer.json`, which the `tokenizers` package (the reference BPE) runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from sbcompile.ir import Module, SbirError

TOKENIZER_FILE = "tokenizer.json"
# Qwen2's pre-tokenizer split (its tokenizer's published pattern): contractions, letters with one
# leading non-letter, single digits, punctuation runs, newlines, other whitespace
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_CLASSES = ("Qwen2Tokenizer", "Qwen2TokenizerFast")
GPT2_CLASSES = ("GPT2Tokenizer", "GPT2TokenizerFast")


class TextCodec(Protocol):
    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids: list[int]) -> str: ...


class ByteCodec:
    """UTF-8 bytes are the token ids (byte-level models)."""

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.int32)

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


class TokenizerCodec:
    """A `tokenizers.Tokenizer`, used as it is configured (its own special-token handling)."""

    def __init__(self, tokenizer: object) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> np.ndarray:
        return np.array(self.tokenizer.encode(text).ids, np.int32)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SbirError(f"{path}: cannot read ({e})") from None


def bpe_from_files(folder: Path) -> object:
    """A byte-level BPE from vocab.json + merges.txt, set up as the class tokenizer_config.json
    names (Qwen2 when it names none, as the releases ship), with added_tokens.json's and
    tokenizer_config.json's added tokens at their stated ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    config = _read_json(folder / "tokenizer_config.json") if (folder / "tokenizer_config.json").exists() else {}
    cls = config.get("tokenizer_class", QWEN2_CLASSES[0])
    try:
        tok = Tokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
    except Exception as e:  # tokenizers raises its own exception kinds for bad files
        raise SbirError(f"{folder}: vocab.json/merges.txt are not a BPE vocabulary ({e})") from None
    if cls in QWEN2_CLASSES:
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    elif cls in GPT2_CLASSES:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=bool(config.get("add_prefix_space", False)))
    else:
        raise SbirError(f"{folder / 'tokenizer_config.json'}: tokenizer_class {cls!r} is not supported with vocab.json "
                        f"and merges.txt (supported: {', '.join(QWEN2_CLASSES + GPT2_CLASSES)}); give a tokenizer.json")
    tok.decoder = decoders.ByteLevel()
    added = {int(i): (t["content"], bool(t.get("special", True)))
             for i, t in config.get("added_tokens_decoder", {}).items()}
    if (folder / "added_tokens.json").exists():
        added.update({int(i): (content, added.get(int(i), (content, True))[1])
                      for content, i in _read_json(folder / "added_tokens.json").items()})
    for i in sorted(added):
        content, special = added[i]
        tok.add_tokens([AddedToken(content, special=special, normalized=False)])
        if tok.token_to_id(content) != i:
            raise SbirError(f"{folder}: added token {content!r} should have id {i} but follows the vocabulary at id "
                            f"{tok.token_to_id(content)}")
    return tok


def find_tokenizer(folder: Path) -> object | None:
    """The tokenizer a checkpoint directory or an artifact holds, or None."""
    from tokenizers import Tokenizer

    if (folder / TOKENIZER_FILE).exists():
        try:
            return Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        except Exception as e:  # tokenizers raises its own exception kinds for bad files
            raise SbirError(f"{folder / TOKENIZER_FILE}: not a tokenizers file ({e})") from None
    if (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
        return bpe_from_files(folder)
    return None


def attach_tokenizer(module: Module, folder: Path, vocab: int) -> None:
    """Note in the module that its input folder's tokenizer goes with it (checked now, so that a
    bad one fails before anything is written)."""
    tok = find_tokenizer(folder)
    if tok is None:
        return
    size = tok.get_vocab_size(with_added_tokens=True)
    if size > vocab:
        raise SbirError(f"{folder}: the tokenizer has {size} tokens, more than the model's vocab_size {vocab}")
    module.attrs["tokenizer"] = TOKENIZER_FILE


def save_tokenizer(codec: "TextCodec | None", out: Path) -> None:
    """Write a checkpoint's tokenizer into the artifact `out` (byte-level models need no file)."""
    if isinstance(codec, TokenizerCodec):
        (out / TOKENIZER_FILE).write_text(codec.tokenizer.to_str(pretty=True) + "\n")


def text_codec(folder: Path, module: Module) -> TextCodec | None:
    """How text becomes ids and back for this module, with the tokenizer in `folder` (an artifact,
    or the checkpoint it was compiled from); None for a model without text."""
    if module.attrs.get("tokenizer") == "bytes":
        return ByteCodec()
    if module.attrs.get("tokenizer") == TOKENIZER_FILE:
        tok = find_tokenizer(folder)
        if tok is None:
            raise SbirError(f"{folder}: module @{module.name} needs its {TOKENIZER_FILE}, which is missing")
        return TokenizerCodec(tok)
    return None
