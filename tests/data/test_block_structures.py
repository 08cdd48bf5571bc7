"""The shape grammar and the `block_structures` dataset kind: every class valid and recognized, tokens round-trip,
the validity rules and classifier catch what they should, the dataset and its baselines at the tiny preset."""

import json

import numpy as np
import pytest

from uruk_hf.data.folder import generate_dataset, load_split
from uruk_hf.data.grammar.generator import BLOCK_STRUCTURES
from uruk_hf.data.grammar.metrics import BigramModel, sample_metrics, uniform_random_structures
from uruk_hf.data.grammar.shapes import build_structure
from uruk_hf.data.grammar.structures import Block, Structure, classify, structure_key
from uruk_hf.schema import BLOCK_FIELDS, STRUCTURE_CLASSES, StructureTokenLayout


@pytest.mark.parametrize("class_name", STRUCTURE_CLASSES)
def test_the_grammar_builds_valid_structures_its_classifier_recognizes(class_name):
    for index in range(150):
        structure = build_structure(class_name, np.random.default_rng([class_name.__len__(), index]))
        assert structure.is_valid, (index, structure.validity())
        assert classify(structure) == class_name, index
        assert Structure.from_tokens(structure.to_tokens()) == structure


def test_validity_rules_catch_floating_overlapping_and_out_of_bounds_blocks():
    base = Block(0, 2, 0, 2, 4, 3, 4)
    assert Structure("tower", [base, Block(0, 3, 3, 3, 2, 2, 2)]).is_valid
    floating = Structure("tower", [base, Block(0, 3, 4, 3, 2, 2, 2)]).validity()
    assert not floating["supported"] and not floating["valid"]
    beside = Structure("tower", [base, Block(0, 6, 3, 2, 2, 2, 2)]).validity()  # touches only at an edge
    assert not beside["supported"]
    assert not Structure("tower", [base, Block(0, 3, 1, 3, 2, 5, 2)]).validity()["no_overlap"]
    assert not Structure("wall", [Block(0, 30, 0, 0, 4, 1, 1)]).validity()["in_bounds"]
    assert not Structure("wall", []).validity()["valid"]


def test_order_does_not_change_identity_and_a_bad_token_is_named():
    blocks = [Block(0, 0, 0, 0, 2, 2, 2), Block(1, 0, 2, 0, 2, 2, 2)]
    assert structure_key(Structure("tower", blocks)) == structure_key(Structure("tower", blocks[::-1]))
    tokens = Structure("tower", blocks).to_tokens()
    tokens[4] = tokens[3]  # a size_x token where size_y belongs
    with pytest.raises(ValueError, match="position 4 is not a 'size_y' token"):
        Structure.from_tokens(tokens)
    with pytest.raises(ValueError, match="Block 1 .* lies outside the grid"):
        Structure("tower", [blocks[0], Block(0, 32, 0, 0, 1, 1, 1)]).to_tokens()


def test_a_block_is_its_extent_then_its_offset_from_the_previous_corner():
    layout = StructureTokenLayout()

    def values(structure):
        tokens = structure.to_tokens()[2:-1]
        return [
            [tokens[7 * block + i] - layout.field_range(name).start for i, name in enumerate(BLOCK_FIELDS)]
            for block in range(len(structure.blocks))
        ]

    # A stacked block's y offset is the height below it, the same value as that block's size_y token.
    tower = Structure("tower", [Block(0, 5, 0, 7, 4, 3, 4), Block(0, 5, 3, 7, 4, 2, 4)])
    assert values(tower) == [[0, 4, 3, 4, 5, 0, 7], [0, 4, 2, 4, 0, 3, 0]]
    # A wall laid towards lower x: the offset is minus the new piece's length, modulo the grid.
    wall = Structure("wall", [Block(1, 20, 0, 3, 6, 2, 1), Block(1, 15, 0, 3, 5, 2, 1)])
    assert values(wall)[1] == [1, 5, 2, 1, 32 - 5, 0, 0]
    whole = Structure("wall", [Block(2, 0, 0, 0, 32, 1, 1)])  # a full-grid extent is the token value 0
    assert values(whole) == [[2, 0, 1, 1, 0, 0, 0]] and Structure.from_tokens(whole.to_tokens()) == whole


def test_baselines_score_what_they_should():
    rng = np.random.default_rng(0)
    grammar = [build_structure(STRUCTURE_CLASSES[i % 6], rng) for i in range(60)]
    scores = sample_metrics(grammar, {structure_key(s) for s in grammar[:30]})
    assert scores["validity"] == 1.0 and scores["class_adherence"] == 1.0 and scores["novelty"] == 0.5
    random_blocks = sample_metrics(uniform_random_structures(60, np.array([5, 8]), rng))
    assert random_blocks["validity"] < 0.1
    bigram = BigramModel([s.to_tokens() for s in grammar[:30]])
    assert bigram.sample("house", rng).class_name == "house"
    held_out = [s.to_tokens() for s in grammar[30:]]
    random_tokens = [s.to_tokens() for s in uniform_random_structures(20, np.array([5]), rng)]
    assert bigram.nll(held_out) < bigram.nll(random_tokens) - 1.0  # it learned the grammar's token statistics


def test_dataset_is_deterministic_with_card_and_baselines(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    generate_dataset(BLOCK_STRUCTURES, first, "tiny", seed=0, progress=False)
    generate_dataset(BLOCK_STRUCTURES, second, "tiny", seed=0, progress=False)
    for split in ("train", "test"):
        a, b = load_split(first, split), load_split(second, split)
        assert all(np.array_equal(x, y) for x, y in zip(a["tokens"], b["tokens"]))
    baselines = json.loads((first / "baselines.json").read_text())
    assert baselines["unit"] == "structures"
    assert baselines["baselines"]["shape_grammar"]["validity"] == 1.0
    assert baselines["baselines"]["bigram"]["nll"] > 0
    assert "shape grammar" in (first / "README.md").read_text()


def test_structure_scene_has_one_box_per_block():
    structure = build_structure("house", np.random.default_rng(3))
    spec = structure.to_scene(seed=2, frames=2)
    boxes = [obj for obj in spec.objects if obj.name.startswith("block_")]
    assert len(boxes) == len(structure.blocks) and spec.num_frames == 2
    lowest = min(obj.mesh[0][:, 1].min() for obj in boxes)
    assert lowest == 0.0  # the structure stands on the ground plane
    with pytest.raises(ValueError, match="without blocks"):
        Structure("house", []).to_scene()


def test_valid_placements_agree_with_the_validity_rules():
    from uruk_hf.data.grammar.constrained import occupancy_sums, valid_placements

    rng = np.random.default_rng(0)
    for class_name in ("house", "bridge", "tower"):
        structure = build_structure(class_name, rng)
        table = occupancy_sums(structure)
        for size in ((1, 1, 1), (3, 2, 4), (1, 5, 2)):
            placements = valid_placements(table, size)
            for x, y, z in rng.integers(0, 32, (150, 3)):
                added = Structure(class_name, [*structure.blocks, Block(0, int(x), int(y), int(z), *size)])
                assert placements[x, y, z] == added.is_valid, (class_name, size, (x, y, z))
            assert placements.any() and not placements[:, 0].all()  # room, and not everywhere


def test_validity_constrained_decoding_samples_only_valid_structures():
    from uruk_hf import UrukWS8StructureGenerator, UrukWS8StructureGeneratorConfig
    from uruk_hf.data.grammar.constrained import StructureValidityLogitsProcessor

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = UrukWS8StructureGenerator(UrukWS8StructureGeneratorConfig.from_preset("tiny")).eval()
    layout = model.config.token_layout()
    prompt = torch.tensor([[layout.bos, layout.field_range("class")[index % 6]] for index in range(12)])

    def sample(processors):
        torch.manual_seed(1)
        tokens = model.generate(prompt, do_sample=True, top_k=0, max_new_tokens=7 * 6, logits_processor=processors)
        return [Structure.from_tokens(row.tolist()) for row in tokens]

    constrained = sample([StructureValidityLogitsProcessor(layout)])
    assert all(structure.is_valid for structure in constrained)
    assert sum(len(structure.blocks) for structure in constrained) > 12  # it does not just stop
    assert not all(structure.is_valid for structure in sample(None))  # an untrained model alone is not valid
