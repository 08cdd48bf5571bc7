"""WS8 samples with and without the validity-constrained decoding of `StructureValidityLogitsProcessor`, the same
model, seeds and classes: validity (100% by construction when constrained: the constraint, not the model, makes
it), class adherence, novelty, diversity and time per structure.

    python benchmarks/bench_ws8_constrained.py --run PIPELINE_DIR [--samples 300]
    python benchmarks/bench_ws8_constrained.py --model MODEL_DIR --data DATASET_DIR [--samples 300]

`--run` reads the model a `uruk pipeline` folder published and the dataset it trained on; `--model` any saved
WS8 model (a `uruk train` run's `models/ws8_structure_generator`), with `--data` its `block_structures` folder
(novelty is counted against its training split).

The unconstrained row is what the issue's metrics measure (no repair, no constraint); the constrained row is a
decoding option for users who need valid structures, reported beside it and never in its place.
"""

import argparse
import json
from pathlib import Path

from uruk_hf import UrukWS8StructureGenerator
from uruk_hf.data.grammar.constrained import StructureValidityLogitsProcessor
from uruk_hf.data.grammar.generator import train_keys
from uruk_hf.data.grammar.metrics import sample_metrics
from uruk_hf.file_utils import path_from_record
from uruk_hf.tables import format_table
from uruk_hf.training.tasks.structure_generation import sample_structures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a `uruk pipeline` folder that trained the ws8 family")
    source.add_argument("--model", help="a saved WS8 model folder (give its dataset with --data)")
    parser.add_argument("--data", help="with --model: the block_structures folder it was trained on")
    parser.add_argument("--samples", type=int, default=300, help="structures per row (the classes in turn)")
    args = parser.parse_args()
    if args.run is not None and args.data is not None:
        parser.error("--data goes with --model: --run reads its dataset from the pipeline's results.json")
    if args.run is not None:
        run = Path(args.run)
        results = json.loads((run / "results.json").read_text())
        data = path_from_record(results["data"]["block_structures"], run)
        folder = run / "hub" / "ws8_structure_generator"
    elif args.data is None:
        parser.error("--model needs --data: the block_structures folder the model was trained on")
    else:
        folder, data = Path(args.model), Path(args.data)
    model = UrukWS8StructureGenerator.from_pretrained(folder).eval()
    known = set(train_keys(data))
    rows = []
    for name, processors in (
        ("unconstrained (the issue's metrics)", None),
        ("validity-constrained decoding", [StructureValidityLogitsProcessor(model.config.token_layout())]),
    ):
        structures, seconds = sample_structures(model, args.samples, logits_processor=processors)
        metrics = sample_metrics(structures, known)
        rows.append(
            [
                name,
                f"{100 * metrics['validity']:.1f}",
                f"{100 * metrics['class_adherence']:.1f}",
                f"{100 * metrics['novelty']:.1f}",
                f"{metrics['diversity']:.3f}",
                f"{1000 * seconds / len(structures):.1f}",
            ]
        )
    print(f"{args.samples} samples at temperature 1, the same seeds and classes")
    print(format_table(["sampling", "valid %", "class adherence %", "novel %", "diversity", "ms/structure"], rows))


if __name__ == "__main__":
    main()
