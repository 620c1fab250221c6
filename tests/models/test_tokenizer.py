"""A checkpoint's own tokenizer travels into the artifact: `sbcompile run --text` encodes with it
(the same ids as the tokenizer itself) and prints generated text decoded by it. The tokenizer is
a small byte-level BPE trained by `tokenizers`, saved beside a random checkpoint either as one
tokenizer.json or as the release ships Qwen2.5's (vocab.json, merges.txt, tokenizer_config.json,
added_tokens.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from sbcompile.cli import main
from sbcompile.tokenizer import QWEN2_SPLIT, TOKENIZER_FILE

from . import release

CORPUS = ["def quicksort(items):\n    if len(items) <= 1:\n        return items\n",
          "    pivot = items[0]\n    left = [x for x in items[1:] if x < pivot]\n",
          "def main():\n    print(quicksort([3, 1, 2]))\n", "import os\nimport sys\n"] * 20
PROMPT = "def quicksort(items):"
SPECIAL = "<|endoftext|>"


def trained_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=290, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([SPECIAL])
    return tok


def save_as_release(tok: Tokenizer, folder: Path) -> None:
    """vocab.json + merges.txt + tokenizer_config.json + added_tokens.json, as the release ships them."""
    tok.model.save(str(folder))
    special = tok.token_to_id(SPECIAL)
    (folder / "added_tokens.json").write_text(json.dumps({SPECIAL: special}))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "Qwen2Tokenizer", "add_prefix_space": False, "model_max_length": 131072,
        "added_tokens_decoder": {str(special): {"content": SPECIAL, "special": True, "normalized": False}}}))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = release.official_config(layers=2, window=5)
    return release.write_checkpoint(tmp_path_factory.mktemp("tok") / "ckpt", cfg, release.random_checkpoint(cfg, "base", 7))


@pytest.mark.parametrize("form", ["tokenizer.json", "release files"])
def test_run_text_uses_the_checkpoints_tokenizer(checkpoint: Path, form: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    tok = trained_tokenizer()
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for f in checkpoint.iterdir():
        (ckpt / f.name).symlink_to(f)
    if form == "tokenizer.json":
        tok.save(str(ckpt / TOKENIZER_FILE))
    else:
        save_as_release(tok, ckpt)
    out = tmp_path / "out"
    assert main([str(ckpt), "-o", str(out)]) == 0
    assert (out / TOKENIZER_FILE).exists()
    ids = tok.encode(PROMPT).ids
    assert len(ids) < len(PROMPT.encode())  # merges apply: not bytes
    capsys.readouterr()
    assert main(["run", str(out), "--text", PROMPT, "--generate", "6", "--save-logits", str(tmp_path / "t.npy")]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "ids.txt").write_text(" ".join(map(str, ids)))
    assert main(["run", str(out), "--tokens", str(tmp_path / "ids.txt"), "--save-logits", str(tmp_path / "i.npy")]) == 0
    by_text, by_ids = np.load(tmp_path / "t.npy"), np.load(tmp_path / "i.npy")
    np.testing.assert_array_equal(by_text[: len(ids)], by_ids)  # run --text used exactly the tokenizer's ids
    generated = [int(np.argmax(row)) for row in by_text[len(ids) - 1:]]
    # the prompt is echoed, decoded by the same tokenizer, before the generated text
    assert printed == tok.decode(ids, skip_special_tokens=False) + tok.decode(generated, skip_special_tokens=False) + "\n"
    assert printed.strip() and not printed.strip().replace(" ", "").isdigit()


def test_carried_tokenizer_is_deterministic(checkpoint: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for f in checkpoint.iterdir():
        (ckpt / f.name).symlink_to(f)
    save_as_release(trained_tokenizer(), ckpt)
    assert main([str(ckpt), "-o", str(tmp_path / "a")]) == 0 and main([str(ckpt), "-o", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / TOKENIZER_FILE).read_bytes() == (tmp_path / "b" / TOKENIZER_FILE).read_bytes()


def test_no_tokenizer_means_tokens_only(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(checkpoint), "-o", str(tmp_path / "out")]) == 0
    assert main(["run", str(tmp_path / "out"), "--text", "x"]) == 1
    assert "has no tokenizer; give --tokens FILE" in capsys.readouterr().err


def test_gpt2_style_files_and_bad_tokenizers(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sbcompile.ir import SbirError
    from sbcompile.tokenizer import find_tokenizer

    gpt2 = Tokenizer(models.BPE())
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=280, show_progress=False,
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    folder = tmp_path / "gpt2"
    folder.mkdir()
    gpt2.model.save(str(folder))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    assert find_tokenizer(folder).encode(PROMPT).ids == gpt2.encode(PROMPT).ids
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer"}))
    with pytest.raises(SbirError, match="tokenizer_class 'LlamaTokenizer' is not supported"):
        find_tokenizer(folder)
    big = tmp_path / "big"
    big.mkdir()
    for f in checkpoint.iterdir():
        (big / f.name).symlink_to(f)
    trained = trained_tokenizer()
    trained.add_tokens([f"<extra_{i}>" for i in range(20)])  # 311 tokens for a vocabulary of 300
    trained.save(str(big / TOKENIZER_FILE))
    assert main([str(big), "-o", str(tmp_path / "out")]) == 1
    assert "the tokenizer has 311 tokens, more than the model's vocab_size 300" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
