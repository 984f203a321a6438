"""Awaker2.5-VL (Qwen2-VL-7B + q/k/v LoRA + mixture of LoRA experts) on stock transformers 5.x.

Modules: ``settings`` (adapter hyper-parameters), ``adapters`` (the replaced Linears), ``routing`` (per-call routing
state, hook and records), ``prompt_pos`` (routing span), ``checkpoint`` (key mapping + strict loading), ``build``
(meta-device construction), ``convert`` / ``verify_golden`` (CLI), ``backend`` (harness model), ``tiny`` (the offline
tiny Awaker checkpoint, ``model=awaker_tiny``).
"""
