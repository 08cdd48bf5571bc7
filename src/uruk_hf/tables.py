"""Plain-text and Markdown tables of metrics: one formatter for the CLI, the pipeline, the cards and benchmarks."""

__all__ = ["CELL_FORMATS", "baseline_table", "format_metric", "format_table", "metric_cells"]

CELL_FORMATS = {
    "psnr": (1.0, 2),
    "psnr_shadow_changed": (1.0, 2),
    "ssim": (1.0, 4),
    "ms_ssim": (1.0, 4),
    "flip": (1.0, 4),
    "material_accuracy": (100.0, 1),
    "material_miou": (100.0, 1),
    "temporal_error": (1.0, 4),
    "ms_per_frame": (1.0, 1),
    "state_accuracy": (100.0, 2),
    "transition_accuracy": (100.0, 2),
    "state_macro_f1": (100.0, 2),
    "move_accuracy": (100.0, 2),
    "closed_loop_agreement": (100.0, 1),
    "closed_loop_move_agreement": (100.0, 1),
    "rollout_error_degrees": (1.0, 3),
    "one_step_error_degrees": (1.0, 3),
    "rollout_60s_error_degrees": (1.0, 3),
    "foot_skate_cm": (1.0, 3),
    "velocity_tracking_error": (1.0, 3),
    "contact_accuracy": (100.0, 1),
    "memory_mb": (1.0, 1),
    "validity": (100.0, 1),
    "class_adherence": (100.0, 1),
    "box_validity": (100.0, 1),
    "box_inside": (100.0, 1),
    "novelty": (100.0, 1),
    "distinct_share": (100.0, 1),
    "diversity": (1.0, 3),
    "nll": (1.0, 3),
    "ms_per_structure": (1.0, 1),
    "ms_per_full_structure": (1.0, 1),
    "knob_error": (1.0, 4),
    "knob_error_standard_error": (1.0, 4),
    "knob_error_to_retrieval": (1.0, 3),
    "denoising_loss": (1.0, 4),
    "seconds_per_map": (1.0, 3),
    "seconds_per_map_25_steps": (1.0, 3),
    "inference_steps": (1.0, 0),
}
"""Scale and decimals of each metric in tables (fractions of pixels shown in percent)."""


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns (CLI output and benchmarks)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) for line in [headers, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def format_metric(key: str, value: float | None, percent_sign: bool = False) -> str:
    """`value` of metric `key` by `CELL_FORMATS` (`-` when missing); `percent_sign` appends `%` to percentages."""
    if value is None:
        return "-"
    scale, digits = CELL_FORMATS.get(key, (1.0, 4))
    suffix = "%" if percent_sign and scale == 100.0 else ""
    return f"{value * scale:.{digits}f}{suffix}"


def metric_cells(name: str, metrics: dict, keys: list[str], percent_sign: bool = False) -> list[str]:
    """One table row: `name`, the parameter count in millions and `keys` formatted by `CELL_FORMATS` (`-` where
    a metric does not apply); `percent_sign` appends `%` to the percentages."""
    params = metrics.get("params")
    cells = [name, "-" if params is None else f"{params / 1e6:.2f}M"]
    return cells + [format_metric(key, metrics.get(key), percent_sign) for key in keys]


def baseline_table(baselines: dict, columns: tuple[tuple[str, str], ...], markdown: bool = False) -> str:
    """`baselines` (`{name: metrics}`) as a plain-text table (or a Markdown one, for dataset cards), one column per
    `(metric, header)` of `columns`, cells by `CELL_FORMATS`."""
    headers = ["baseline", *(header for _, header in columns)]
    rows = [[name, *(format_metric(key, m.get(key)) for key, _ in columns)] for name, m in baselines.items()]
    if not markdown:
        return format_table(headers, rows)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
