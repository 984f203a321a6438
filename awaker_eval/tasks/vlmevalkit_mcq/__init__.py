"""What VLMEvalKit's multiple-choice datasets share, used by both ``tasks/mmbench`` and ``tasks/mcq``: the MCQ
prompt constructions and their template text (``prompts.py``, ``templates.py``) and ``can_infer`` answer matching
with the optional judge (``extract.py``). Not a benchmark itself (no ``Benchmark`` object is registered here)."""
