"""NPC Director decisions per second: one tick for 1, 64 and 1024 NPCs per call, as a game calls it (the exported
`step` on each NPC's fixed-size state of its last `window - 1` ticks), in ONNX Runtime fp32 and int8 and PyTorch
eager, beside the Python FSM it imitates, on this machine's threads.

    python benchmarks/bench_npc.py --model PIPELINE_DIR/hub/npc_director_v2 [--npcs 1 64 1024] [--repeats 20]
    python benchmarks/bench_npc.py --model PIPELINE_DIR/hub/npc_director_v2 --data PIPELINE_DIR/data
    python benchmarks/bench_npc.py --preset full   # random weights at the published size (latency only)

With `--data` (an `npc_episodes` folder) it first checks parity on the test split: ONNX Runtime stepping every
episode from its first tick against eager PyTorch over the whole episode (max logit difference, argmax agreement).

Median over `--repeats` timed calls after one warm-up. Inputs are random observations on a full state (every NPC
past its first `window` ticks; latency does not depend on the values). The FSM's figure is its `step` (the decision
alone, paths precomputed per map) over a simulated episode.
"""

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from bench_inference import median_ms

from uruk_hf import UrukNPCDirector, UrukNPCDirectorConfig, UrukORTNPCDirector
from uruk_hf.data.behaviour import simulator
from uruk_hf.data.behaviour.maps import generate_map
from uruk_hf.models.npc_director.modeling_npc_director import map_step_state
from uruk_hf.tables import format_table


def fsm_decisions_per_second(ticks: int = 2000) -> float:
    """Decisions per second of the FSM's `step` over simulated episodes."""
    spent = [0.0, 0]
    step = simulator.NPCStateMachine.step

    def timed(self, observation):
        start = time.perf_counter()
        decision = step(self, observation)
        spent[0] += time.perf_counter() - start
        spent[1] += 1
        return decision

    simulator.NPCStateMachine.step = timed
    try:
        for seed in range(max(1, ticks // 500)):
            simulator.run_episode(
                generate_map(np.random.default_rng([1, seed])), seed, simulator.EpisodeSettings(ticks=500)
            )
    finally:
        simulator.NPCStateMachine.step = step
    return spent[1] / spent[0]


def parity_table(model, runtimes: dict, data: str) -> str:
    """Max logit difference and argmax agreement of each ONNX runtime against eager on the test split."""
    from uruk_hf.training.tasks.npc_decisions import NPCEpisodes

    test = NPCEpisodes(data, "test")
    with torch.inference_mode():
        eager = model(torch.from_numpy(test.observations))
    rows = []
    for name, runtime in runtimes.items():
        found = runtime(test.observations)
        difference = max(
            float((found.state_logits - eager.state_logits).abs().max()),
            float((found.move_logits - eager.move_logits).abs().max()),
        )
        states = (found.state_logits.argmax(-1) == eager.state_logits.argmax(-1)).float().mean()
        moves = (found.move_logits.argmax(-1) == eager.move_logits.argmax(-1)).float().mean()
        rows.append([name, f"{test.states.size:,}", f"{difference:.2e}", f"{100 * states:.3f}", f"{100 * moves:.3f}"])
    headers = ["runtime (stepped) vs eager", "test ticks", "max logit difference", "state argmax %", "move argmax %"]
    return format_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="an exported NPC Director folder (model.onnx, config.json)")
    parser.add_argument("--preset", default="full", help="without --model: random weights at this preset")
    parser.add_argument("--npcs", nargs="+", type=int, default=[1, 64, 1024])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--data", default=None, help="an npc_episodes folder: check parity on its test split")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.model) if args.model else Path(scratch)
        if args.model is None:
            from uruk_hf.exporters.onnx import export_onnx

            torch.manual_seed(0)
            UrukNPCDirector(UrukNPCDirectorConfig.from_preset(args.preset)).save_pretrained(folder)
            export_onnx(folder, folder)
        model = UrukNPCDirector.from_pretrained(folder).eval()
        runtimes = {"ONNX Runtime fp32": UrukORTNPCDirector.from_pretrained(folder)}
        if (folder / "model.int8.onnx").is_file():
            runtimes["ONNX Runtime int8"] = UrukORTNPCDirector.from_pretrained(folder, file_name="model.int8.onnx")
        if args.data is not None:
            print(parity_table(model, runtimes, args.data), end="\n\n")
        window = model.config.window
        rows = []
        for npcs in args.npcs:
            generator = np.random.default_rng(0)
            observations = generator.random((npcs, 1, model.config.observation_size), dtype=np.float32)
            state = runtimes["ONNX Runtime fp32"].initial_state(npcs)
            state["past_key_values"] = tuple(
                tuple(generator.standard_normal(tensor.shape, dtype=np.float32) for tensor in layer)
                for layer in state["past_key_values"]
            )
            state["past_mask"][:] = 1.0
            state["past_ticks"][:] = 1000
            for name, runtime in runtimes.items():
                seconds = median_ms(args.repeats, partial(runtime.step, observations, **state)) / 1e3
                rows.append([name, str(npcs), f"{seconds * 1e3:.3f}", f"{npcs / seconds:,.0f}"])
            tensors = map_step_state(state, torch.from_numpy)
            with torch.inference_mode():
                seconds = median_ms(args.repeats, partial(model.step, torch.from_numpy(observations), **tensors)) / 1e3
            rows.append(["PyTorch eager fp32 (step)", str(npcs), f"{seconds * 1e3:.3f}", f"{npcs / seconds:,.0f}"])
        fsm = fsm_decisions_per_second()
        rows.append(["Python FSM (step)", "1", f"{1e3 / fsm:.3f}", f"{fsm:,.0f}"])
    params = sum(parameter.numel() for parameter in model.parameters())
    print(f"NPC Director {params / 1e6:.2f}M, window {window} per layer; {torch.get_num_threads()} threads")
    print(format_table(["runtime", "NPCs per call", "ms per call", "decisions / s"], rows))


if __name__ == "__main__":
    main()
