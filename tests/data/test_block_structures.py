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
from uruk_hf.schema import BLOCK_FIELDS, BOUNDS_FIELDS, STRUCTURE_CLASSES, StructureTokenLayout


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
    tokens[10] = tokens[9]  # the first block's size_x token where its size_y belongs
    with pytest.raises(ValueError, match="position 10 is not a 'size_y' token"):
        Structure.from_tokens(tokens)
    tokens = Structure("tower", blocks).to_tokens()
    tokens[3] = tokens[2]
    with pytest.raises(ValueError, match="position 3 is not a 'bounds_size_y' token"):
        Structure.from_tokens(tokens)
    with pytest.raises(ValueError, match="Block 1 .* lies outside the grid"):
        Structure("tower", [blocks[0], Block(0, 32, 0, 0, 1, 1, 1)]).to_tokens()


def _values(tokens: list[int], names) -> list[int]:
    """The bin values of `tokens`, each read in the range of its field in `names`."""
    layout = StructureTokenLayout()
    return [token - layout.field_range(name).start for token, name in zip(tokens, names)]


def test_the_bounds_come_first_then_each_block_is_its_extent_and_its_offset_from_the_previous_corner():
    layout = StructureTokenLayout()
    assert layout.blocks_start == 2 + len(BOUNDS_FIELDS) and layout.max_length == 9 + 7 * layout.max_blocks

    def values(structure):
        tokens = structure.to_tokens()[layout.blocks_start : -1]
        return [_values(tokens[7 * block : 7 * block + 7], BLOCK_FIELDS) for block in range(len(structure.blocks))]

    # The bounds: the box of the blocks, extent then lowest corner; the first block's offset starts there.
    tower = Structure("tower", [Block(0, 5, 0, 7, 4, 3, 4), Block(0, 5, 3, 7, 4, 2, 4)])
    assert _values(tower.to_tokens()[2 : layout.blocks_start], BOUNDS_FIELDS) == [4, 5, 4, 5, 0, 7]
    assert tower.bounds() == (5, 0, 7, 4, 5, 4)
    # A stacked block's y offset is the height below it, the same value as that block's size_y token.
    assert values(tower) == [[0, 4, 3, 4, 0, 0, 0], [0, 4, 2, 4, 0, 3, 0]]
    # A wall laid towards lower x: the first piece sits 5 cells into its box, the next one's offset is minus its
    # length, modulo the grid.
    wall = Structure("wall", [Block(1, 20, 0, 3, 6, 2, 1), Block(1, 15, 0, 3, 5, 2, 1)])
    assert wall.bounds() == (15, 0, 3, 11, 2, 1)
    assert values(wall) == [[1, 6, 2, 1, 5, 0, 0], [1, 5, 2, 1, 32 - 5, 0, 0]]
    whole = Structure("wall", [Block(2, 0, 0, 0, 32, 1, 1)])  # a full-grid extent is the token value 0
    assert values(whole) == [[2, 0, 1, 1, 0, 0, 0]] and Structure.from_tokens(whole.to_tokens()) == whole
    # A block past the grid's far side (a sampled one) is written; its bounds stop at the grid.
    past = Structure("wall", [Block(0, 30, 0, 0, 4, 1, 1)])
    assert past.bounds() == (30, 0, 0, 2, 1, 1) and Structure.from_tokens(past.to_tokens()) == past


def test_box_metrics_check_that_structures_keep_inside_and_fill_their_boxes():
    from uruk_hf.data.grammar.metrics import box_metrics

    rng = np.random.default_rng(5)
    structures = [build_structure(name, rng) for name in STRUCTURE_CLASSES]
    own = box_metrics(structures, [structure.bounds() for structure in structures])
    assert own == {"box_validity": 1.0, "box_class_adherence": 1.0, "box_inside": 1.0, "box_filled": 1.0}
    larger = [(x, y, z, sx + 1, sy, sz) for x, y, z, sx, sy, sz in (s.bounds() for s in structures)]
    assert box_metrics(structures, larger)["box_inside"] == 1.0 and box_metrics(structures, larger)["box_filled"] == 0
    shifted = [(x + 1, y, z, sx, sy, sz) for x, y, z, sx, sy, sz in (s.bounds() for s in structures)]
    assert box_metrics(structures, shifted)["box_inside"] == 0.0
    with pytest.raises(ValueError, match="one structure per box"):
        box_metrics(structures, larger[:2])


def test_a_prefix_carries_the_box_to_complete_it_in():
    layout = StructureTokenLayout()
    partial = Structure("house", [Block(0, 4, 0, 4, 6, 3, 1)])
    tokens = partial.to_tokens(end=False, bounds=(4, 0, 4, 6, 5, 6))
    assert _values(tokens[2 : layout.blocks_start], BOUNDS_FIELDS) == [6, 5, 6, 4, 0, 4]
    assert len(tokens) == layout.blocks_start + 7 and Structure.from_tokens(tokens) == partial
    assert partial.to_tokens(end=False)[2 : layout.blocks_start] == partial.to_tokens()[2 : layout.blocks_start]
    assert Structure("tower", []).to_tokens(end=False) == [layout.bos, layout.field_range("class")[0]]
    box_only = Structure("tower", []).to_tokens(end=False, bounds=(0, 0, 0, 4, 12, 4))
    assert len(box_only) == layout.blocks_start and Structure.from_tokens(box_only).blocks == []
    with pytest.raises(ValueError, match="do not hold the blocks"):
        partial.to_tokens(end=False, bounds=(5, 0, 4, 6, 5, 6))
    with pytest.raises(ValueError, match="inside the 32\\^3 grid"):
        partial.to_tokens(end=False, bounds=(4, 0, 4, 30, 5, 6))
    with pytest.raises(ValueError, match="needs at least one block"):
        Structure("tower", []).to_tokens()


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
