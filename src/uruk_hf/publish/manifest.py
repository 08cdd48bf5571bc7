"""The seed card's file layout: every file the published repo must hold at its exact path, and which family
makes it. Families not built yet are reported as missing, never faked."""

from pathlib import Path

__all__ = ["LEGACY_ONNX", "SEED_FILES", "manifest"]

SEED_FILES = {
    "v2_ultra/v2_ultra_global_best.pt": "v2_ultra",
    "v2_ultra/v2_ultra_best_stage1.pt": "v2_ultra",
    "v2_ultra/v2_ultra_best_stage2.pt": "v2_ultra",
    "onnx/uruk_v2_ultra_best.onnx": "v2_ultra",
    "v2_optimized/v2opt_global_best.pt": "v2_optimized",
    "workstreams/ws2_learned_world/ws2_best.pt": "ws2",
    "workstreams/ws3_world_authoring/ws3_best.pt": "ws3",
    "workstreams/ws4_world_remapper/ws4_best.pt": "ws4",
    "workstreams/ws4_world_remapper_v2/ws4_v2_best.pt": "ws4",
    "workstreams/ws5_cinematic_renderer/ws5_frontier_best.pt": "ws5",
    "workstreams/ws6_runtime_optimization/ws6_best.pt": "ws6",
    "workstreams/ws6_runtime_optimization_v2/ws6_v2_best.pt": "ws6",
    "workstreams/ws7_scene_to_world_v2/ws7_v2_best.pt": "ws7",
    "distillation/ws2_student_best.pt": "ws2",
    "distillation/ws3_student_best.pt": "ws3",
    "distillation/ws4_student_best.pt": "ws4",
    "distillation/ws5_student_best.pt": "ws5",
    "distillation/ws6_student_best.pt": "ws6",
    "distillation/ws2_student_final.pt": "ws2",
    "distillation/ws3_student_final.pt": "ws3",
    "distillation/ws4_student_final.pt": "ws4",
    "distillation/ws5_student_final.pt": "ws5",
    "distillation/ws6_student_final.pt": "ws6",
    "npc_director_v2/best.pt": "npc_director",
    "animation_director/best.pt": "animation_director",
    "ws8_structure_generator/best_model.pt": "ws8",
    "onnx/npc_director.onnx": "npc_director",
}
"""Every file of the seed card's tables (and the `*_student_final.pt` its note mentions), by producing family."""

LEGACY_ONNX = {
    "v2_ultra": "onnx/uruk_v2_ultra_best.onnx",
    "v2_optimized": "onnx/uruk_v2_optimized_best.onnx",
    "ws5_cinematic_renderer": "onnx/uruk_ws5_cinematic_best.onnx",
}
"""Published model key -> its ONNX file under the seed's `onnx/` names (DESIGN §5); `.int8.onnx` beside each."""


def manifest(folder: str | Path) -> list[dict]:
    """One row per seed file: `path`, `family`, `present` and `bytes` (0 when missing)."""
    folder = Path(folder)
    rows = []
    for path, family in SEED_FILES.items():
        file = folder / path
        rows.append(
            {
                "path": path,
                "family": family,
                "present": file.is_file(),
                "bytes": file.stat().st_size if file.is_file() else 0,
            }
        )
    return rows
