"""CPU thread policy: other processes' load and the workers leave the model fewer threads; runner.threads wins."""

from __future__ import annotations

import pytest
import torch

from awaker_eval.engine.loader import main_process_threads


def test_busy_cores_and_override_set_the_threads_of_a_run():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with main_process_threads("cpu", 0, cores=2, busy=1) as n:  # a loaded 2-core machine, no workers
            assert n == 1 == torch.get_num_threads()
        assert torch.get_num_threads() == 2
        with main_process_threads("cpu", 0, cores=2, busy=0) as n:
            assert n == 2
        with main_process_threads("cpu", 0, cores=8, busy=3) as n:  # never raised above the current setting
            assert n == 2
        with main_process_threads("cuda:0", 0, cores=2, busy=1, override=1) as n:  # runner.threads: any device
            assert n == 1 == torch.get_num_threads()
        with main_process_threads("cpu", 4, cores=2, busy=5, override=2) as n:
            assert n == 2
        with pytest.raises(ValueError, match="runner.threads must be >= 1, got 0"):
            with main_process_threads("cpu", 0, override=0):
                pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_runner_threads_is_validated_before_anything_loads():
    from awaker_eval.config.schema import RunConfig
    from awaker_eval.preflight import ConfigError, preflight

    cfg = RunConfig()
    cfg.runner.threads = 0
    with pytest.raises(ConfigError, match=r"runner.threads=0 is out of range: it must be >= 1 or null"):
        preflight(cfg)
