"""MMBench prompt text as data, byte-exact to benchmarks.md (section 3.3); written as the spec's JSON
string literals. ``{question}`` / ``{options}`` are the only placeholders."""

from __future__ import annotations

# MMBench pieces.
EN_SUFFIX = "Please select the correct answer from the options above."
CN_SUFFIX = "请直接回答选项字母。"
DEFAULT_SUFFIX = "Please select the correct answer from the options above. \n"
LMMS_OPTS_HEAD = "There are several options:\n"
LMMS_POST_EN = "\nAnswer with the option's letter from the given choices directly."
LMMS_POST_CN = "\n请直接使用所提供的选项字母作为答案回答。"
