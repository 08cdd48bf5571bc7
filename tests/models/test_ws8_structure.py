"""WS8 structure generator: the shared model tests, and what is special to a GPT-2 over block-structure tokens:
field-constrained `generate()` with the KV cache, completion of a prefix, packed training batches."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from uruk_hf import UrukWS8StructureGenerator, UrukWS8StructureGeneratorConfig
from uruk_hf.data.grammar.shapes import build_structure
from uruk_hf.data.grammar.structures import Block, Structure
from uruk_hf.models.ws8_structure.modeling_ws8_structure import ROOM_BINS
from uruk_hf.schema import BLOCK_FIELDS

from .test_modeling_common import ModelTesterMixin


class TestUrukWS8StructureGenerator(ModelTesterMixin):
    model_class = UrukWS8StructureGenerator
    config_class = UrukWS8StructureGeneratorConfig
    roles = (None,)

    def random_inputs(self, config, batch=2, seed=0):
        generator = torch.Generator().manual_seed(seed)
        return torch.randint(3, config.vocab_size, (batch, 23), generator=generator)

    def main_output(self, outputs) -> torch.Tensor:
        return outputs.logits

    def training_loss(self, model) -> torch.Tensor:
        inputs = self.random_inputs(model.config)
        return model(input_ids=inputs, labels=inputs).loss

    def test_auto_model_for_causal_lm(self, tmp_path):
        self.tiny_model().save_pretrained(tmp_path)
        assert type(AutoModelForCausalLM.from_pretrained(tmp_path)) is UrukWS8StructureGenerator

    def test_generate_keeps_every_token_in_its_field(self):
        model = self.tiny_model(seed=1)
        layout = model.config.token_layout()
        prompt = torch.tensor([[layout.bos, layout.field_range("class")[index]] for index in range(6)])
        torch.manual_seed(0)
        tokens = model.generate(prompt, do_sample=True, top_k=0, max_new_tokens=40)
        for row in tokens.tolist():
            for position, token in enumerate(row[2:], start=2):
                if token in (layout.eos, layout.pad):
                    assert layout.position_field(position) == "type" or token == layout.pad
                    break
                assert token in layout.field_range(layout.position_field(position)), (position, token)
            Structure.from_tokens(row)  # decodes without error
        unconstrained = model.generate(prompt, do_sample=True, top_k=0, max_new_tokens=40, constrain_fields=False)
        with pytest.raises(ValueError, match="is not a"):
            for row in unconstrained.tolist():
                Structure.from_tokens(row)

    def test_full_length_generation_ends_with_eos(self):
        model = self.tiny_model(seed=2)
        layout = model.config.token_layout()
        prompt = torch.tensor([[layout.bos, layout.field_range("class")[0]]])
        tokens = model.generate(prompt, do_sample=True, top_k=0, min_length=layout.max_length - 1)
        assert tokens.shape[1] == layout.max_length and tokens[0, -1] == layout.eos
        assert len(Structure.from_tokens(tokens[0]).blocks) == layout.max_blocks

    def room_model(self, seed: int) -> UrukWS8StructureGenerator:
        """A tiny model with the cursor-room embeddings on."""
        torch.manual_seed(seed)
        return UrukWS8StructureGenerator(
            UrukWS8StructureGeneratorConfig.from_preset("tiny", room_embeddings=True)
        ).eval()

    @pytest.mark.parametrize("rooms", [False, True])
    def test_cache_gives_the_same_logits_as_the_whole_sequence(self, rooms):
        model = self.room_model(3) if rooms else self.tiny_model(seed=3)
        tokens = torch.tensor(
            [Structure("wall", [Block(0, 1, 0, 2, 5, 2, 1), Block(1, 6, 0, 2, 4, 2, 1)]).to_tokens()]
        )
        extra = {"cursor_rooms": model.cursor_rooms(tokens)[:, 15:]} if rooms else {}
        with torch.no_grad():
            whole = model(tokens).logits
            first = model(tokens[:, :15], use_cache=True)
            rest = model(tokens[:, 15:], past_key_values=first.past_key_values, **extra).logits
            torch.testing.assert_close(rest, whole[:, 15:], rtol=1e-5, atol=1e-5)
            if rooms:
                with pytest.raises(ValueError, match="pass cursor_rooms"):
                    model(tokens[:, 15:], past_key_values=first.past_key_values)

    @pytest.mark.parametrize("rooms", [False, True])
    def test_generate_scores_equal_the_logits_of_the_whole_sampled_sequence(self, rooms):
        model = self.room_model(6) if rooms else self.tiny_model(seed=6)
        layout = model.config.token_layout()
        prompt = torch.tensor([[layout.bos, layout.field_range("class")[index]] for index in (1, 3, 5)])
        torch.manual_seed(1)
        out = model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=True,
            top_k=0,
            max_new_tokens=30,
            output_scores=True,
            return_dict_in_generate=True,
        )
        scores = torch.stack(out.scores, 1)  # after the field processor: -inf outside each field
        with torch.no_grad():
            whole = model(out.sequences).logits[:, prompt.shape[1] - 1 : -1]
        finite = torch.isfinite(scores)
        torch.testing.assert_close(scores[finite], whole[finite], rtol=1e-5, atol=1e-5)

    def test_cursor_rooms_are_the_cells_left_to_the_bounds_far_side(self):
        model = self.room_model(7)
        layout = model.config.token_layout()
        # Bounds x 15..26, y 0..3, z 3..4; the cursor moves to each block's corner as its offsets arrive.
        wall = Structure(
            "wall", [Block(1, 20, 0, 3, 6, 2, 1), Block(1, 15, 0, 3, 5, 2, 1), Block(1, 15, 2, 3, 1, 1, 1)]
        )
        rooms = model.cursor_rooms(torch.tensor([wall.to_tokens()]))[0]
        cells = (rooms - torch.arange(3) * ROOM_BINS - layout.grid_size).tolist()
        ready = layout.blocks_start - 1
        assert all(
            row == [ROOM_BINS - 1 - layout.grid_size] * 3 for row in cells[:ready]
        )  # before the bounds are whole
        assert cells[ready] == [11, 3, 1]  # at the bounds' corner
        first_x = layout.blocks_start + BLOCK_FIELDS.index("x")
        assert cells[first_x] == [6, 3, 1] and cells[first_x + 7] == [11, 3, 1] and cells[first_x + 15] == [11, 1, 1]
        # Packed rows give every sequence its own rooms.
        from uruk_hf.training.tasks.structure_generation import StructureGenerationTask

        structures = [build_structure(name, np.random.default_rng(2)) for name in ("house", "wall", "bridge")]
        batch = StructureGenerationTask(model.config).collate(
            [{"input_ids": np.asarray(s.to_tokens())} for s in structures]
        )
        packed, start = model.cursor_rooms(batch["input_ids"], batch["position_ids"])[0], 0
        for structure in sorted(structures, key=lambda s: -len(s.to_tokens())):
            alone = model.cursor_rooms(torch.tensor([structure.to_tokens()]))[0]
            assert torch.equal(packed[start : start + len(alone)], alone)
            start += len(alone)
        without = self.tiny_model()  # off by default
        assert without.room_embedding is None and "room_embedding.weight" not in without.state_dict()

    def test_a_prefix_is_completed_in_place(self):
        model = self.tiny_model(seed=4)
        partial = Structure("bridge", [Block(0, 4, 0, 10, 2, 5, 3)])
        prompt = torch.tensor([partial.to_tokens(end=False, bounds=(4, 0, 10, 20, 6, 3))])
        tokens = model.generate(prompt, do_sample=True, top_k=0, max_new_tokens=2 * len(BLOCK_FIELDS))
        completed = Structure.from_tokens(tokens[0])
        assert completed.class_name == "bridge" and completed.blocks[0] == partial.blocks[0]
        assert tokens[0, : prompt.shape[1]].tolist() == prompt[0].tolist()

    def test_coordinate_fields_share_one_value_embedding(self):
        from transformers import GPT2LMHeadModel

        model = self.tiny_model(seed=5)
        layout = model.config.token_layout()
        x5, size_x5, type0 = layout.field_range("x")[5], layout.field_range("size_x")[5], layout.field_range("type")[0]
        assert model.token_values[[x5, size_x5, type0, layout.bos]].tolist() == [5, 5, -1, -1]
        tokens = torch.tensor([[layout.bos, layout.field_range("class")[2], type0, x5, size_x5]])
        plain = GPT2LMHeadModel(model.config).eval()
        plain.load_state_dict(model.state_dict(), strict=False)  # the same weights without the value table
        with torch.no_grad():
            assert not torch.allclose(model(tokens).logits, plain(tokens).logits)
            model.value_embedding.weight.zero_()
            torch.testing.assert_close(model(tokens).logits, plain(tokens).logits)
        plain_config = UrukWS8StructureGeneratorConfig.from_preset("tiny", value_embeddings=False)
        without = UrukWS8StructureGenerator(plain_config)
        assert without.value_embedding is None and "value_embedding.weight" not in without.state_dict()

    def test_a_folder_saved_without_value_embeddings_is_refused_by_name(self, tmp_path):
        import json

        self.tiny_model().save_pretrained(tmp_path)
        saved = json.loads((tmp_path / "config.json").read_text())
        del saved["value_embeddings"]
        (tmp_path / "config.json").write_text(json.dumps(saved))
        with pytest.raises(ValueError, match="lacks the fields \\['value_embeddings'\\]"):
            UrukWS8StructureGenerator.from_pretrained(tmp_path)

    def test_config_refuses_a_vocabulary_that_does_not_match_its_layout(self):
        with pytest.raises(ValueError, match="does not match the token layout"):
            UrukWS8StructureGeneratorConfig(vocab_size=100)
        with pytest.raises(ValueError, match="below the longest sequence"):
            UrukWS8StructureGeneratorConfig(n_positions=100)


def test_packed_batches_give_each_sequence_its_own_loss():
    from uruk_hf.training.tasks.structure_generation import StructureGenerationTask

    config = UrukWS8StructureGeneratorConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = UrukWS8StructureGenerator(config).eval()
    task = StructureGenerationTask(config)
    structures = [
        Structure("tower", [Block(0, 3, 0, 3, 4, 5, 4), Block(0, 3, 5, 3, 4, 5, 4)]),
        Structure("wall", [Block(1, 0, 0, 0, 12, 3, 1)]),
        Structure("arch", [Block(0, 0, 0, 0, 1, 4, 2), Block(0, 3, 0, 0, 1, 4, 2), Block(2, 0, 4, 0, 4, 1, 2)]),
    ]
    items = [{"input_ids": torch.tensor(s.to_tokens()).numpy()} for s in structures]
    batch = task.collate(items)
    assert batch["input_ids"].shape[0] == 1  # all three fit in one row
    with torch.no_grad():
        packed = model(**batch).loss
        losses, counts = [], []
        for item in items:
            ids = torch.from_numpy(item["input_ids"])[None]
            losses.append(model(input_ids=ids, labels=ids).loss * (ids.shape[1] - 1))
            counts.append(ids.shape[1] - 1)
    torch.testing.assert_close(packed, sum(losses) / sum(counts), rtol=1e-5, atol=1e-6)


def test_padded_batches_give_the_packed_nll():
    """The NLL of ONNX Runtime's batches (one sequence per row, padded) equals that of the packed rows."""
    from uruk_hf.training.tasks.structure_generation import StructureGenerationTask

    config = UrukWS8StructureGeneratorConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = UrukWS8StructureGenerator(config).eval()
    task = StructureGenerationTask(config)
    classes = config.token_layout().classes
    structures = [build_structure(name, np.random.default_rng(seed)) for seed, name in enumerate(classes)]
    items = [{"input_ids": np.asarray(structure.to_tokens(), np.int64)} for structure in structures]
    packed = task._nll(model, items, None)
    task.collate = task.padded  # the batches `_nll` builds for a model that is not a torch module
    assert task._nll(model, items, None) == pytest.approx(packed, rel=1e-5)


def test_the_exported_decoder_generates_what_eager_generates(tmp_path):
    """`export_onnx` validates Optimum's decoder-with-past export of the generator; on ONNX Runtime its `generate()`
    keeps the field ranges and decodes greedily the same tokens as PyTorch, from a class and inside a box; the
    dynamic int8 file loads and generates; a model with room embeddings is refused by name."""
    from uruk_hf import UrukORTWS8StructureGenerator
    from uruk_hf.exporters.onnx import export_onnx, quantize_onnx

    torch.manual_seed(0)
    config = UrukWS8StructureGeneratorConfig.from_preset("tiny")
    model = UrukWS8StructureGenerator(config).eval()
    model.save_pretrained(tmp_path)
    record = export_onnx(tmp_path, tmp_path)
    assert [check["batch_size"] for check in record["validation"]] == [2, 3]
    assert all(check["logits_max_difference"] <= 1e-4 for check in record["validation"])
    runtime = UrukORTWS8StructureGenerator.from_pretrained(tmp_path)
    layout = config.token_layout()
    prompts = [Structure("tower").to_tokens(layout, end=False)]
    prompts.append(Structure("wall").to_tokens(layout, end=False, bounds=(2, 0, 3, 12, 4, 1)))
    for prompt in prompts:
        prompt = torch.tensor([prompt])
        with torch.inference_mode():
            eager = model.generate(prompt, do_sample=False)
        onnx = runtime.generate(prompt, do_sample=False)
        assert torch.equal(onnx, eager)
        Structure.from_tokens(onnx[0].tolist(), layout)  # every field in range: it decodes
    quantize_onnx(tmp_path, None, operators=("MatMul", "Gemm"), float_modules=())
    quantized = UrukORTWS8StructureGenerator.from_pretrained(tmp_path, file_name="model.int8.onnx")
    sampled = quantized.generate(torch.tensor(prompts[:1]), do_sample=True, max_new_tokens=22)
    Structure.from_tokens(sampled[0].tolist(), layout)
    rooms = tmp_path / "rooms"
    with_rooms = UrukWS8StructureGeneratorConfig.from_preset("tiny", room_embeddings=True)
    UrukWS8StructureGenerator(with_rooms).save_pretrained(rooms)
    with pytest.raises(ValueError, match="room_embeddings=True"):
        export_onnx(rooms, rooms)


def test_self_training_keeps_only_valid_samples_of_their_class(monkeypatch):
    from uruk_hf.training.tasks import structure_generation

    config = UrukWS8StructureGeneratorConfig.from_preset("tiny")
    tower = build_structure("tower", np.random.default_rng(0))
    floating = Structure("tower", [Block(0, 3, 0, 3, 4, 5, 4), Block(0, 3, 9, 3, 4, 5, 4)])
    samples = [tower, Structure("wall", tower.blocks), floating, Structure("tower", [])]
    monkeypatch.setattr(
        structure_generation, "sample_structures", lambda model, count, seed, logits_processor: (samples, 1.0)
    )
    kept, share = structure_generation.StructureGenerationTask(config).self_training_sequences(
        UrukWS8StructureGenerator(config), 4, seed=0
    )
    assert share == 0.25 and [sequence.tolist() for sequence in kept] == [tower.to_tokens()]


def test_self_training_rounds_stop_when_the_share_kept_falls_and_keep_the_best_round(tmp_path, monkeypatch):
    """Rounds are judged by the share of fresh samples kept: here 0.5 after Production, 0.6 after round 1, then
    four rounds in a row below it (one more than the patience of three), so round 1's weights are the model, its
    stage is the record, and no sixth round runs. The structures trained on are sampled at the temperature
    asked for."""
    import json

    from safetensors.torch import load_file

    from uruk_hf.data.folder import generate_dataset
    from uruk_hf.data.grammar.generator import BLOCK_STRUCTURES
    from uruk_hf.models.ws8_structure.recipe_ws8_structure import _read_kept, train_ws8
    from uruk_hf.training.run import Lifecycle
    from uruk_hf.training.tasks.structure_generation import StructureGenerationTask, StructureSequences

    data, run = tmp_path / "data", tmp_path / "run"
    generate_dataset(BLOCK_STRUCTURES, data, "tiny", seed=0, progress=False)
    grammar = StructureSequences(data, "train").sequences[:32]
    shares, temperatures = iter([0.5, 0.6, 0.55, 0.58, 0.57, 0.59, 0.9]), []
    monkeypatch.setattr(StructureGenerationTask, "share_kept", lambda self, model, count, seed: next(shares))

    def sampled(self, model, count, seed, geometry_temperature):
        temperatures.append(geometry_temperature)
        return grammar, 1.0

    monkeypatch.setattr(StructureGenerationTask, "self_training_sequences", sampled)
    trained_on, curriculum = [], Lifecycle.accelerate_curriculum

    def spied(self, *args, train_dataset=None, **settings):
        trained_on.append(train_dataset)
        return curriculum(self, *args, train_dataset=train_dataset, **settings)

    monkeypatch.setattr(Lifecycle, "accelerate_curriculum", spied)
    train_ws8(data, run, "tiny", False, seed=0, self_training_rounds="7", self_training_geometry_temperature="0.6")
    rounds = [dataset for dataset in trained_on if dataset is not None]
    assert len(rounds) == 5  # the pool learns everything, the grammar's share not its geometry
    assert all([part.learn_geometry for part in dataset.datasets] == [True, False] for dataset in rounds)
    record = json.loads((run / "lifecycle.json").read_text())["stages"]
    assert temperatures == [0.6] * 5 and record["self_training"]["geometry_temperature"] == 0.6
    assert record["self_training"]["share_kept"] == [0.5, 0.6, 0.55, 0.58, 0.57, 0.59]
    assert record["self_training"]["chosen_round"] == 1 and record["self_training"]["rounds_trained"] == 5
    assert record["self_training"]["patience"] == 3
    assert {"self_training_1", "self_training_5"} <= set(record) and "self_training_6" not in record
    saved = load_file(run / "models" / "ws8_structure_generator" / "model.safetensors")
    chosen = load_file(run / "self_training_1" / "best" / "model.safetensors")
    later = load_file(run / "self_training_5" / "best" / "model.safetensors")
    assert all(torch.equal(saved[name], chosen[name]) for name in chosen)
    assert any(not torch.equal(saved[name], later[name]) for name in later)
    training = json.loads((run / "models" / "ws8_structure_generator" / "training_record.json").read_text())
    assert [stage["stage"] for stage in training["stages"]] == ["production", "self_training_1"]  # its card's table
    assert training["self_training"]["share_kept"] == [0.5, 0.6, 0.55, 0.58, 0.57, 0.59]

    # Resumed, the rounds' shares and kept samples are read back from the run folder, not sampled again.
    def not_again(*args, **kwargs):
        raise AssertionError("a resumed run sampled a finished round again")

    monkeypatch.setattr(StructureGenerationTask, "share_kept", not_again)
    monkeypatch.setattr(StructureGenerationTask, "self_training_sequences", not_again)
    first_run, trained_on[:] = rounds, []
    train_ws8(data, run, "tiny", True, seed=0, self_training_rounds="7", self_training_geometry_temperature="0.6")
    resumed = [dataset for dataset in trained_on if dataset is not None]
    assert [[item.tolist() for item in dataset.datasets[0].sequences] for dataset in resumed] == [
        [item.tolist() for item in dataset.datasets[0].sequences] for dataset in first_run
    ]
    record = json.loads((run / "lifecycle.json").read_text())["stages"]["self_training"]
    assert record["share_kept"] == [0.5, 0.6, 0.55, 0.58, 0.57, 0.59] and record["chosen_round"] == 1
    resaved = load_file(run / "models" / "ws8_structure_generator" / "model.safetensors")
    assert all(torch.equal(resaved[name], chosen[name]) for name in chosen)
    # Samples drawn under other settings are not reused.
    kept_file = run / "self_training_rounds" / "kept_01.npz"
    assert _read_kept(kept_file, {"samples": 4000, "seed": 3, "geometry_temperature": 0.6}) is not None
    assert _read_kept(kept_file, {"samples": 4000, "seed": 3, "geometry_temperature": 0.5}) is None


def test_the_latest_round_the_judge_cannot_tell_from_the_best_is_kept():
    """Seed 3's shares kept (5,000 samples each, `runs/s39/S3`): round 11's 96.52% is the best measurement, tied by
    round 14 and within a standard error (0.26 points) by round 15, which is kept; round 13 (95.68%) is not within
    reach. A clearly best round is kept however late others are."""
    from uruk_hf.models.ws8_structure.recipe_ws8_structure import chosen_round

    shares = [0.6746, 0.8166, 0.858, 0.884, 0.8892, 0.9122, 0.9276, 0.9446, 0.9398, 0.9494, 0.9576, 0.9652, 0.9598]
    assert chosen_round(shares, 5000) == 11
    assert chosen_round([*shares, 0.9568, 0.9652, 0.9644], 5000) == 15
    assert chosen_round([*shares, 0.9568, 0.9652, 0.9644], 500) == 15
    assert chosen_round([0.5, 0.9, 0.8, 0.85], 5000) == 1
    assert chosen_round([0.5, 0.9, 0.8, 0.85], 20) == 3  # 20 samples cannot tell 0.85 from 0.9


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_self_training_rounds_must_be_a_whole_number(value):
    from uruk_hf.models.ws8_structure.recipe_ws8_structure import _round_count

    with pytest.raises(ValueError, match="--self-training-rounds must be a whole number"):
        _round_count(value)


def test_block_geometry_temperature_cools_only_extents_and_offsets():
    from uruk_hf.models.ws8_structure import BlockGeometryTemperatureLogitsProcessor

    layout = UrukWS8StructureGeneratorConfig.from_preset("tiny").token_layout()
    tokens = build_structure("tower", np.random.default_rng(0)).to_tokens(layout)
    processor = BlockGeometryTemperatureLogitsProcessor(0.5, layout)
    scores = torch.randn(1, layout.vocab_size)
    for length in range(1, len(tokens)):
        cooled = processor(torch.tensor([tokens[:length]]), scores)
        field = layout.position_field(length)
        expected = scores / 0.5 if field in ("size_x", "size_y", "size_z", "x", "y", "z") else scores
        assert torch.equal(cooled, expected), (length, field)
    with pytest.raises(ValueError, match="geometry temperature must be above 0"):
        BlockGeometryTemperatureLogitsProcessor(0.0, layout)


def test_sequences_that_teach_no_geometry_label_only_the_class_bounds_and_block_types():
    """Self-training's grammar sequences (`SequenceList(learn_geometry=False)`) are labelled at every token but the
    blocks' extents and offsets; packed beside a sequence that learns everything, that one keeps all its labels."""
    from uruk_hf.training.tasks.structure_generation import SequenceList, StructureGenerationTask

    config = UrukWS8StructureGeneratorConfig.from_preset("tiny")
    layout = config.token_layout()
    tokens = np.asarray(build_structure("tower", np.random.default_rng(0)).to_tokens(layout)[:30])
    items = [SequenceList([tokens])[0], SequenceList([tokens], learn_geometry=False)[0]]
    labels = StructureGenerationTask(config).collate(items)["labels"]
    assert labels.shape == (1, 60)
    learned = [labels[0, 30 + position] != -100 for position in range(30)]
    for position in range(30):
        field = layout.position_field(position)
        assert labels[0, position] == (tokens[position] if position else -100)
        assert learned[position] == (position > 0 and field not in ("size_x", "size_y", "size_z", "x", "y", "z"))
