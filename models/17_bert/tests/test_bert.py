"""BERT: the masking, packing, padding, learning, resume, the no-leak guarantee and the config.

The blocks are the Transformer's EncoderBlock, tested there against nn.TransformerEncoderLayer
with padding masks, post- and pre-norm, GELU (models/15_transformer/tests).
"""

from __future__ import annotations

import builtins
import math
from pathlib import Path
from unittest import mock

import pytest
import torch

from data_utils import DatasetSplits, load_dataset
from data_utils.checksums import SOURCES
from data_utils.text import SENTENCE_SOURCES, Vocabulary, read_labelled_sentences, tokenize
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    needs_data,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("bert")
m = mods.model
SPEC = mods.train.SPEC
V = 50  # words 2..49, [CLS] 50, [MASK] 51


def bert(task="mlm", dropout=0.0, dtype=torch.float64, **changes) -> m.Bert:
    torch.manual_seed(0)
    options = dict(num_layers=2, d_model=16, n_heads=2, dropout=dropout, task=task)
    return m.Bert(V, 20, **{**options, **changes}).to(dtype)


def sentences(lengths: list[int], width: int = 20, seed: int = 1) -> torch.Tensor:
    """Word ids (B, width): sentence i has lengths[i] words in [2, V), then padding."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, V, (len(lengths), width), generator=gen)
    for i, n in enumerate(lengths):
        ids[i, n:] = m.PAD
    return ids


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


# ---------------------------------------------------------------------------------- masking


def test_masking_chooses_15_percent_splits_80_10_10_and_never_touches_padding():
    ids = sentences([20, 15, 3, 0] * 500)  # 19,000 words, 21,000 padding positions
    ids[:, 1] = m.UNK  # <unk> is never chosen either
    gen = torch.Generator().manual_seed(0)
    corrupted, targets = m.mask_tokens(ids, V, V + 1, 0.15, gen)
    chosen = targets != m.IGNORE
    words = ids >= 2
    assert not chosen[~words].any() and torch.equal(corrupted[~words], ids[~words])
    assert torch.equal(targets[chosen], ids[chosen])
    assert chosen.sum() / words.sum() == pytest.approx(0.15, abs=0.01)
    masked = (corrupted == V + 1) & chosen
    kept = (corrupted == ids) & chosen  # kept, or replaced by the same word (1 in 48)
    assert masked.sum() / chosen.sum() == pytest.approx(0.8, abs=0.02)
    assert kept.sum() / chosen.sum() == pytest.approx(0.1 + 0.1 / 48, abs=0.02)
    assert ((corrupted[chosen & ~masked] >= 2) & (corrupted[chosen & ~masked] < V)).all()
    assert not ((corrupted == V + 1) & ~chosen).any()
    again = m.mask_tokens(ids, V, V + 1, 0.15, torch.Generator().manual_seed(0))
    other = m.mask_tokens(ids, V, V + 1, 0.15, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], corrupted) and torch.equal(again[1], targets)
    assert not torch.equal(other[1], targets)


def test_evaluation_masks_the_same_words_every_time():
    net = bert().eval()
    batch = (sentences([12, 7, 19]), torch.zeros(3, dtype=torch.long))
    assert net.step(batch).loss.item() == net.step(batch).loss.item()


# ------------------------------------------------------------------------- padding, packing


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_does_not_change_the_cls_output(pooling):
    net = bert(task="classify", pooling=pooling).eval()
    ids = sentences([6, 2, 8], width=8)
    wide = torch.cat([ids, torch.zeros(3, 12, dtype=torch.long)], dim=1)  # 12 more padding
    torch.testing.assert_close(net(wide)[:, 0], net(ids)[:, 0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(net.classify(wide), net.classify(ids), rtol=1e-12, atol=1e-12)
    changed = ids.clone()
    changed[1, 1] = 7 if changed[1, 1] != 7 else 8  # a real word does change it
    assert not torch.allclose(net(changed)[1, 0], net(ids)[1, 0])


def test_packed_rows_give_each_sentence_what_it_gives_alone():
    net = bert().eval()
    ids = sentences([12, 3, 19, 1, 7, 20, 5])
    targets = torch.where(ids >= 2, ids, torch.full_like(ids, m.IGNORE))
    tokens, where, segments, packed = net.pack(ids, targets)
    assert tokens.shape[1] == 21 and tokens.shape[0] < len(ids)  # rows of max_len + 1
    hidden = net.packed_hidden(tokens, where, segments)  # (R, L, D)
    alone = net(ids)[:, 1:][ids >= 2]  # every word of every sentence, in order
    torch.testing.assert_close(hidden[packed != m.IGNORE], alone, rtol=1e-10, atol=1e-10)
    assert torch.equal(packed[packed != m.IGNORE], ids[ids >= 2])


# ----------------------------------------------------------------------------------- learning


@pytest.mark.parametrize("task", ["mlm", "classify"])
def test_loss_falls_on_a_fixed_batch(task):
    net = bert(task=task, dtype=torch.float32)
    ids = sentences([12, 7, 19, 4, 16, 9, 20, 11])
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for step in range(150):
        torch.manual_seed(step % 5)  # mlm: five fixed maskings, seen again and again
        optimizer.zero_grad()
        loss = net.step((ids, y)).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.9 * math.log(2 if task == "classify" else V + 2)
    last = sum(losses[-5:]) / 5  # mlm: 10% of the chosen words are random, and predicted
    assert last < (0.05 if task == "classify" else 0.3 * losses[0])


def test_the_mlm_output_layer_is_the_word_embedding_and_decay_skips_vectors():
    net = bert(dtype=torch.float32)
    names = [name for name, _ in net.named_parameters()]
    assert not any("decoder" in name or "mlm_out" in name for name in names)  # tied
    optimizer = net.configure_optimizers(config())
    decay, rest = optimizer.param_groups
    assert decay["weight_decay"] == 0.01 and rest["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in rest["params"])
    assert len(decay["params"]) + len(rest["params"]) == len(names)


@pytest.mark.parametrize(
    "part, fixed",
    [
        ("embeddings", ("embed.", "positions.", "embed_norm.")),
        ("encoder", ("embed", "positions", "blocks", "final_norm")),
    ],
)
def test_freezing_keeps_the_part_and_trains_the_rest(part, fixed):
    net = bert(task="classify", dtype=torch.float32)
    net.freeze(part)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = net.configure_optimizers(config())
    ids, y = sentences([12, 7, 19, 4]), torch.tensor([0, 1, 1, 0])
    for _ in range(3):
        optimizer.zero_grad()
        net.step((ids, y)).loss.backward()
        optimizer.step()
    for name, p in net.named_parameters():
        if not name.startswith("mlm"):  # the MLM head has no part in classifying
            assert torch.equal(p, before[name]) == name.startswith(fixed), name
    assert not torch.equal(net.classifier.weight, before["classifier.weight"])


def tiny_splits() -> DatasetSplits:
    ids = sentences([12, 7, 19, 4, 16, 9, 20, 11] * 3)
    y = torch.tensor([0, 1] * 12)
    vocab = Vocabulary(["<pad>", "<unk>"] + [f"w{i}" for i in range(2, V)])
    return DatasetSplits(
        "tiny", ids, y, ids[:8], y[:8], ids[:8], y[:8], 2, ["neg", "pos"], metadata={"vocab": vocab}
    )


@pytest.mark.parametrize("task", ["mlm", "classify"])
def test_training_with_dropout_resumes_exactly_from_a_checkpoint(task, tmp_path):
    """Straight through 2 epochs vs stopped at step 3 (mid-epoch 1), saved, resumed: identical
    weights, optimizer state and history, with dropout 0.1 and (mlm) random masks all along."""
    splits = tiny_splits()
    dataset = "sentences" if task == "mlm" else "sst2"
    monitor = "val_loss" if task == "mlm" else "val_accuracy"
    cfg = config(
        task=task,
        dataset=dataset,
        monitor=monitor,
        epochs=2,
        max_steps=None,
        dropout=0.1,
        batch_size=4,
        scheduler="warmup_cosine",
        warmup_steps=2,
    )

    def make():
        return m.create_model(cfg, splits)

    def loaders():
        train, val, _ = splits.loaders(cfg.batch_size, seed=cfg.seed)
        return train, val

    straight = assert_resumes_exactly(make, cfg, loaders, 3, tmp_path, steps=6)
    assert straight.global_step == 12


# ------------------------------------------------------------------------------- the no-leak


def test_the_sentence_sources_leave_out_mr_and_subj():
    files = {file for _, file in SENTENCE_SOURCES.values()}
    listed = {spec.name for source in SOURCES.values() for spec in source.files}
    for name in ("rt-polarity", "subj.all"):
        assert not any(name in file for file in files | listed)


@needs_data
def test_no_pretraining_sentence_is_an_sst2_test_sentence_and_mr_subj_are_never_read():
    opened: list[str] = []
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    config = load_config(SPEC.config_cls, SPEC.experiments_file, "pretrain")
    with mock.patch("builtins.open", recording_open), mock.patch("io.open", recording_open):
        corpus = load_dataset(
            "sentences", val_fraction=0.05, test_fraction=0.05, **config.data_options
        )
        sst2 = load_dataset(
            "sst2", **load_config(SPEC.config_cls, SPEC.experiments_file, "finetune").data_options
        )
    assert any("custrev.all" in f for f in opened) and any("mpqa.all" in f for f in opened)
    assert not any("rt-polarity" in f or "subj.all" in f for f in opened)
    pretraining = {" ".join(tokenize(s)) for s in corpus.metadata["sentences"]}
    scored = {" ".join(tokenize(s)) for s in sst2.metadata["sentences"]["test"]}
    scored |= {" ".join(tokenize(s)) for s in sst2.metadata["sentences"]["val"]}
    assert len(pretraining) == 18914 and len(scored) > 2600
    assert not pretraining & scored
    assert corpus.metadata["vocab"].itos == sst2.metadata["vocab"].itos  # the same word ids


def test_an_empty_line_of_cr_is_skipped_only_when_asked(tmp_path):
    path = tmp_path / "custrev.all"
    path.write_text("1 good phone .\n0 \n0 bad screen\n")
    assert read_labelled_sentences(path, skip_empty=True)[0] == ["good phone .", "bad screen"]
    with pytest.raises(Exception, match="expected '<label> <sentence>'"):
        read_labelled_sentences(path)


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"n_heads": 3}, ["d_model (16) must be a multiple of n_heads (3)"]),
        ({"dropout": 1.0}, ["dropout must be in [0, 1)"]),
        ({"mask_prob": 0.0}, ["mask_prob must be in (0, 1)"]),
        ({"num_classes": 1}, ["num_classes must be >= 2"]),
        ({"optimizer": "sgd"}, ["a Transformer is trained with adam or adamw"]),
        ({"task": "mlm"}, ["task 'mlm' does not read dataset 'sst2'"]),
        ({"dataset": "mnist"}, ["dataset must be 'sentences'"]),
        ({"task": "tagging"}, ["task"]),
        ({"freeze": "all"}, ["freeze"]),
        (
            {"task": "mlm", "dataset": "sentences", "monitor": "val_loss", "freeze": "encoder"},
            ["freeze is for fine-tuning"],
        ),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads():
    for name in ("pretrain", "finetune", "scratch", "smoke"):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


@needs_data
def test_smoke_trains_and_evaluates_from_the_command_line(tmp_path):
    metrics = train_and_evaluate_smoke(copy_model(MODEL_DIR, tmp_path), "epoch 2 |")
    assert metrics["model"] == "bert" and 0.0 <= metrics["accuracy"] <= 1.0
