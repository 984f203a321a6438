"""The inference engine: batched, pipelined, crash-safe, resumable, data-parallel.

``runner.run_inference`` is the entry point; ``store`` holds predictions on disk, ``distributed`` the torchrun
glue, ``batching`` the token-budget planner, ``loader`` the DataLoader side, ``execute`` the model calls with
OOM/error isolation, ``choice`` the agreement helper, ``metadata`` run.json facts, ``perf`` the benchmark.
"""
