"""The embedded sample benchmark: procedurally drawn images with questions in MME-RealWorld's official
JSON schema, generated deterministically into the data cache (never committed) and then read through the
same official-JSON loader as the real benchmark.

Every item is a function of ``(seed, item number)`` only, so a larger set starts with the smaller one. As in the real
set, some images carry more than one question: every ``SHARED_EVERY``-th item asks again about the previous item's
image (vision reuse and image-clustered intervals then have something to work on).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from awaker_eval.build_once import build_once

GENERATOR_VERSION = 2  # 2: every 4th item shares the previous item's image
SHARED_EVERY = 4
SHARED_PREFIX = "Look at the image once more. "
JSON_NAME = "MME_RealWorld.json"
COLOURS = {
    "red": (220, 40, 40), "green": (40, 160, 60), "blue": (40, 80, 220),
    "yellow": (235, 200, 30), "purple": (140, 60, 180), "orange": (245, 140, 30),
}
SHAPES = ("circle", "square", "triangle")
WORDS = ("RIVER", "PLANE", "TOWER", "MAPLE", "STONE", "CLOUD", "BRICK", "OCEAN", "TRAIN", "LEMON", "NORTH", "PIANO")
LABELS = ("Alpha", "Bravo", "Delta", "Echo", "Kilo", "Lima", "Oscar", "Tango")
Size = tuple[int, int] | tuple[tuple[int, int], tuple[int, int]]
Item = tuple[Image.Image, str, list[str], str | None, str]  # image, question, 4 options, answer text, E text


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _canvas(rng: random.Random, w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    shade = rng.randint(225, 250)
    img = Image.new("RGB", (w, h), (shade, shade, shade - 8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):  # faint clutter so images are not flat
        y = rng.randrange(h)
        draw.line([(0, y), (w, rng.randrange(h))], fill=(shade - 25,) * 3, width=max(1, w // 400))
    return img, draw


def _shape(draw: ImageDraw.ImageDraw, kind: str, box: tuple[int, int, int, int], colour) -> None:
    x0, y0, x1, y1 = box
    if kind == "circle":
        draw.ellipse(box, fill=colour, outline=(0, 0, 0))
    elif kind == "square":
        draw.rectangle(box, fill=colour, outline=(0, 0, 0))
    else:
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=colour, outline=(0, 0, 0))


def _cells(rng: random.Random, w: int, h: int, k: int) -> list[tuple[int, int, int, int]]:
    """``k`` non-overlapping boxes on a 6x4 grid (at most 24)."""
    cw, ch = w // 6, h // 4
    side = int(min(cw, ch) * 0.7)
    boxes = []
    for c in rng.sample(range(24), k):
        x, y = (c % 6) * cw + (cw - side) // 2, (c // 6) * ch + (ch - side) // 2
        boxes.append((x, y, x + side, y + side))
    return boxes


def _numbers(rng: random.Random, true: int, lo: int = 0) -> list[str]:
    """The true number and three distinct distractors, shuffled."""
    pool = [x for x in range(max(lo, true - 4), true + 6) if x != true]
    opts = [true, *rng.sample(pool, 3)]
    rng.shuffle(opts)
    return [str(x) for x in opts]


def _pick(rng: random.Random, pool, true, k: int = 3) -> list[str]:
    opts = [true, *rng.sample([p for p in pool if p != true], k)]
    rng.shuffle(opts)
    return opts


def _count(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    kind, other = rng.sample(SHAPES, 2)
    n = 0 if rng.random() < 0.15 else rng.randint(1, 7)  # 0: the answer is E
    boxes = _cells(rng, w, h, n + rng.randint(1, 4))
    for j, box in enumerate(boxes):
        _shape(draw, kind if j < n else other, box, COLOURS[rng.choice(list(COLOURS))])
    true = n if n else rng.randint(1, 5)
    opts = _numbers(rng, true, lo=1)
    return img, f"How many {kind}s are there in the image?", opts, str(n) if n else None, \
        f"The image does not feature any {kind}s."


def _colour(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    kind, *others = rng.sample(SHAPES, 3)
    colour = rng.choice(list(COLOURS))
    boxes = _cells(rng, w, h, 4)
    _shape(draw, kind, boxes[0], COLOURS[colour])
    for box in boxes[1:]:
        _shape(draw, rng.choice(others), box, COLOURS[rng.choice(list(COLOURS))])
    return img, f"What is the colour of the {kind} in the image?", _pick(rng, list(COLOURS), colour), colour, \
        f"The image does not feature a {kind}."


def _word(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    word = rng.choice(WORDS)
    draw.text((w // 10, h // 3), word, fill=(20, 20, 20), font=_font(max(12, h // 5)))
    return img, "What is the word written in the image?", _pick(rng, WORDS, word), word, \
        "The image does not contain any text."


def _table(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    labels = rng.sample(LABELS, 4)
    values = rng.sample(range(100, 999), 4)
    font, row_h = _font(max(10, h // 10)), h // 6
    for r, (lab, val) in enumerate([("Name", "Value"), *zip(labels, values)]):
        y = row_h // 2 + r * row_h
        draw.rectangle([w // 10, y, 9 * w // 10, y + row_h], outline=(0, 0, 0), width=max(1, w // 300))
        draw.text((w // 8, y + row_h // 8), lab, fill=(0, 0, 0), font=font)
        draw.text((w // 2 + w // 20, y + row_h // 8), str(val), fill=(0, 0, 0), font=font)
    j = rng.randrange(4)
    return img, f"What is the value of {labels[j]} in the table?", _numbers(rng, values[j], lo=100), str(values[j]), \
        "This image doesn't feature the data."


def _vehicles(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    n = rng.randint(1, 6)
    for x0, y0, x1, y1 in _cells(rng, w, h, n):
        draw.rectangle([x0, y0 + (y1 - y0) // 4, x1, y1 - (y1 - y0) // 4], fill=COLOURS[rng.choice(list(COLOURS))])
        r = (x1 - x0) // 8
        for cx in (x0 + 2 * r, x1 - 2 * r):
            draw.ellipse([cx - r, y1 - (y1 - y0) // 4 - r, cx + r, y1 - (y1 - y0) // 4 + r], fill=(30, 30, 30))
    return img, "How many vehicles are there in the image?", _numbers(rng, n, lo=1), str(n), \
        "The image does not feature the vehicles."


def _traffic_light(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    lit = rng.choice(["red", "yellow", "green"])
    bw, x0, y0 = w // 8, w // 2 - w // 16, h // 8
    draw.rectangle([x0, y0, x0 + bw, y0 + 3 * bw], fill=(40, 40, 40))
    for k, name in enumerate(("red", "yellow", "green")):
        fill = COLOURS[name] if name == lit else (90, 90, 90)
        draw.ellipse([x0 + bw // 8, y0 + k * bw + bw // 8, x0 + 7 * bw // 8, y0 + k * bw + 7 * bw // 8], fill=fill)
    return img, "This image shows a traffic light in front of the ego car. Which lamp of the traffic light is lit?", \
        _pick(rng, ["red", "yellow", "green", "none"], lit), lit, "The image does not feature a traffic light."


def _bars(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    labels, heights = rng.sample(LABELS, 4), rng.sample(range(2, 10), 4)
    font, bw = _font(max(10, h // 14)), w // 9
    for k, (lab, v) in enumerate(zip(labels, heights)):
        x = w // 9 + 2 * k * bw
        draw.rectangle([x, h - h // 6 - v * h // 14, x + bw, h - h // 6], fill=COLOURS[list(COLOURS)[k]])
        draw.text((x, h - h // 7), lab, fill=(0, 0, 0), font=font)
    best = labels[heights.index(max(heights))]
    return img, "Which category has the highest value in the bar chart?", _pick(rng, labels, best, 3), best, \
        "The image does not feature the diagram."


def _difference(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    s = rng.randint(1, 4)
    c = s + rng.randint(1, 5)
    kinds = ["circle"] * c + ["square"] * s
    for kind, box in zip(kinds, _cells(rng, w, h, c + s)):
        _shape(draw, kind, box, COLOURS[rng.choice(list(COLOURS))])
    return img, "How many more circles than squares are there in the image?", _numbers(rng, c - s, lo=1), \
        str(c - s), "The image does not feature the shapes."


def _sum(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    a, b = rng.randint(10, 60), rng.randint(10, 39)
    font = _font(max(12, h // 6))
    draw.text((w // 10, h // 4), str(a), fill=(10, 10, 120), font=font)
    draw.text((6 * w // 10, h // 2), str(b), fill=(120, 10, 10), font=font)
    return img, "What is the sum of the two numbers written in the image?", _numbers(rng, a + b, lo=20), str(a + b), \
        "The image does not contain any numbers."


def _arrow(rng, w, h) -> Item:
    img, draw = _canvas(rng, w, h)
    moves = {"Turn left": (-1, 0), "Turn right": (1, 0), "Go straight": (0, -1)}
    move = rng.choice(list(moves))
    dx, dy = moves[move]
    cx, cy, ln = w // 2, h // 2, min(w, h) // 3
    tip = (cx + dx * ln, cy + dy * ln)
    draw.line([(cx, cy + ln // 2), (cx, cy), tip], fill=(20, 20, 20), width=max(3, w // 60))
    px, py, head = -dy, dx, ln // 4  # perpendicular to the arrow; arrow-head size
    bx, by = tip[0] - dx * head, tip[1] - dy * head
    draw.polygon([tip, (bx + px * head // 2, by + py * head // 2), (bx - px * head // 2, by - py * head // 2)],
                 fill=(20, 20, 20))
    return img, "The arrow shows the planned path of the ego car. What will the ego car do next?", \
        _pick(rng, [*moves, "Make a U-turn"], move), move, "The image does not feature a path."


# (Task, Subtask, Category, generator): official subtask spellings and real fine-category names.
TEMPLATES: tuple[tuple[str, str, str, Callable[..., Item]], ...] = (
    ("Perception", "Remote Sensing", "count", _count),
    ("Perception", "Remote Sensing", "color", _colour),
    ("Perception", "OCR with Complex Context", "text_recog", _word),
    ("Perception", "Diagram and Table", "table", _table),
    ("Perception", "Monitoring", "vehicle/counting", _vehicles),
    ("Perception", "Autonomous_Driving", "Attribute_Visual_TrafficSignal", _traffic_light),
    ("Reasoning", "Diagram and Table", "diagram", _bars),
    ("Reasoning", "Monitoring", "calculate", _difference),
    ("Reasoning", "OCR with Complex Context", "Character Identification", _sum),
    ("Reasoning", "Autonomous_Driving", "Prediction_Intention_Ego", _arrow),
)


def _size(rng: random.Random, image_size: Size) -> tuple[int, int]:
    w, h = image_size
    if isinstance(w, int) and isinstance(h, int):
        return w, h
    return rng.randint(*w), rng.randint(*h)


def make_item(i: int, seed: int, image_size: Size) -> tuple[dict, Image.Image]:
    """Item ``i``: its official-JSON record and its image (a pure function of ``seed`` and ``i``); a shared item
    repeats the previous item's image, taxonomy and options under its own id, with the question asked again."""
    if i % SHARED_EVERY == SHARED_EVERY - 1:
        record, img = make_item(i - 1, seed, image_size)
        return {**record, "Question_id": record["Question_id"].rsplit("/", 1)[0] + f"/{i:04d}",
                "Text": SHARED_PREFIX + record["Text"]}, img
    rng = random.Random(seed * 1_000_003 + i)
    task, subtask, category, make = TEMPLATES[i % len(TEMPLATES)]
    img, question, options, answer, e_text = make(rng, *_size(rng, image_size))
    letters = "ABCD"
    truth = "E" if answer is None else letters[options.index(answer)]
    record = {
        "Question_id": f"{task}/{subtask}/{category}/{i:04d}",
        "Image": f"synthetic/{i:04d}.jpg",
        "Text": question,
        "Question Type": "Multiple Choice",
        "Answer choices": [f"({x}) {t}" for x, t in zip("ABCDE", [*options, e_text])],
        "Ground truth": truth,
        "Task": task,
        "Subtask": subtask,
        "Category": category,
        "Dataset": "synthetic",
    }
    return record, img


def write_synthetic_benchmark(root: str | Path, n: int = 40, seed: int = 0, image_size: Size = (448, 336)) -> Path:
    """Write ``n`` items (``MME_RealWorld.json`` + ``synthetic/*.jpg``) under ``root``; returns the JSON path.

    ``image_size`` is ``(w, h)`` or ``((w_min, w_max), (h_min, h_max))`` for realistic, varied sizes."""
    root = Path(root)
    (root / "synthetic").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        record, img = make_item(i, seed, image_size)
        if not (root / record["Image"]).exists():  # a shared item's image is already written
            img.save(root / record["Image"], format="JPEG", quality=90)
        records.append(record)
    path = root / JSON_NAME
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def ensure_synthetic_benchmark(
    cache_root: str | Path, n: int = 40, seed: int = 0, image_size: Size = (448, 336)
) -> Path:
    """The cached sample folder, generated once (atomically, safe against concurrent runs)."""
    tag = "x".join(map(str, image_size)) if all(isinstance(v, int) for v in image_size) else "var"
    final = Path(cache_root).expanduser() / f"mme_realworld_synthetic_v{GENERATOR_VERSION}_n{n}_s{seed}_{tag}"
    return build_once(final, JSON_NAME, lambda tmp: write_synthetic_benchmark(tmp, n, seed, image_size))
