"""Prompt text as data, byte-exact to benchmarks.md (sections 1.3, 2, 3.3); written as the spec's JSON
string literals. ``{question}`` / ``{options}`` are the only placeholders."""

from __future__ import annotations

# MME-RealWorld: official README = VLMEvalKit (2024 and HEAD), the leaderboard protocol.
MME_OFFICIAL_EN = (
    "{question} The choices are listed below:\n{options}\nSelect the best answer to the above multiple-choice "
    "question based on the image. Respond with only the letter (A, B, C, D, or E) of the correct option. "
    "\nThe best answer is:"
)
MME_OFFICIAL_CN = (
    "{question} 选项如下所示:\n{options}\n根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母"
    "（A, B, C, D 或 E）。\n最佳答案为："
)
# lmms-eval: no space before the last "\n", trailing space at the end.
MME_LMMS_EN = (
    "{question} The choices are listed below:\n{options}\nSelect the best answer to the above multiple-choice "
    "question based on the image. Respond with only the letter (A, B, C, D, or E) of the correct option."
    "\nThe best answer is: "
)
MME_LMMS_CN = (
    "{question} 选项如下所示:\n{options}\n根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母"
    "（A, B, C, D 或 E）。\n最佳答案为： "
)

# MMBench pieces.
EN_SUFFIX = "Please select the correct answer from the options above."
CN_SUFFIX = "请直接回答选项字母。"
DEFAULT_SUFFIX = "Please select the correct answer from the options above. \n"
LMMS_OPTS_HEAD = "There are several options:\n"
LMMS_POST_EN = "\nAnswer with the option's letter from the given choices directly."
LMMS_POST_CN = "\n请直接使用所提供的选项字母作为答案回答。"
