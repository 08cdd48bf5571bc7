"""The `accelerate launch` prefix that starts two CPU processes (a gloo group) on a machine without a GPU."""

TWO_CPU_PROCESSES = [
    "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
    "--mixed_precision", "no", "--dynamo_backend", "no",
]  # fmt: skip
