"""Benchmarks that print and save figures (never timed tests): the models alone, the engine's
stages, the node over DDS (and its soak), the deployment matrix (backends x precisions),
torch.compile on the CPU and the one-call GPU check. Every result records where it ran
(:mod:`frrn_seg_ros.core.machine`)."""
