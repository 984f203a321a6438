"""The names a model config may take, for the checks that run before anything loads (``preflight``).

Light on purpose: it imports nothing, so ``preflight`` and the run record read these lists without torch; the
modules that act on each value (``qwen2_vl``, ``padding``, ``greedy_right``, ``awaker/build``, ``awaker/routing``)
import them from here.
"""

MODEL_DTYPES = ("bfloat16", "float32", "float16")  # model.dtype (torch dtypes of the same name)
CHOICE_PADDINGS = ("right", "left")  # model.choice_padding (models/padding.py)
GENERATE_PADDINGS = ("left", "right")  # model.generate_padding (models/greedy_right.py)
ROUTING_MODES = ("fork", "consistent")  # model.routing_mode (models/awaker/routing.py)
ADAPTER_DTYPE_MODES = ("parity", "fast")  # model.adapter_dtype_mode (models/awaker/build.py)
GOLDEN_RUNS = {"float32": "fp32", "bfloat16": "bf16"}  # verify-golden --dtype -> the fixture's run (golden_io.py)
TINY_CHECKPOINT = "tiny"  # the model.checkpoint value of the offline tiny Awaker (models/awaker/tiny.py)
