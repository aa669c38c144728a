"""Synthetic images whose ground truth is exact because we drew them.

Real photos need human references, which are fuzzy and few. Here each image is a plain background
with one to three coloured shapes, so captions, the answer to a question and the right multiple
choice follow from the scene itself. Any number of samples can be made, at any resolution, and the
same ``(n, seed, size)`` always gives byte-identical images.

Sample ``i`` depends only on ``(seed, i, size)``, not on ``n``: asking for more samples extends the
list without changing the ones before.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

from PIL import Image, ImageDraw

from vlmperf.errors import InputError
from vlmperf.workloads.sample import References, Sample

MIN_SIZE = 16
MAX_SHAPES = 3
ANSWER_REPEATS = 10  # VQA-style scorers expect ten human answers; here all ten agree.

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 80, 220),
    "yellow": (240, 210, 30),
    "purple": (130, 50, 170),
    "orange": (245, 130, 20),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
SHAPE_KINDS = ("circle", "square", "triangle")
DISTRACTOR_KIND = "star"  # never drawn; fills the fourth slot of shape choices
COUNT_WORDS = ("one", "two", "three", "four")
QUESTION_KINDS = ("count", "colour_of_shape", "shape_of_colour", "background")


@dataclass(frozen=True)
class Shape:
    """One drawn shape; it fits inside the circle of ``radius`` around ``center``."""

    kind: str
    colour: str
    center: tuple[int, int]
    radius: int

    @property
    def phrase(self) -> str:
        article = "an" if self.colour[0] in "aeiou" else "a"
        return f"{article} {self.colour} {self.kind}"


def generate_samples(n: int, seed: int = 0, size: int = 224) -> list[Sample]:
    """Make ``n`` square ``size`` x ``size`` RGB samples with exact references, reproducibly."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"the number of procedural samples must be a whole number >= 1, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise InputError(f"the procedural image size must be a whole number of pixels >= {MIN_SIZE}, got {size!r}")
    return [_make_sample(seed, index, size) for index in range(n)]


def _make_sample(seed: int, index: int, size: int) -> Sample:
    """Draw scene ``index`` of ``seed`` and derive its captions and question from it."""
    # A string seed is hashed with SHA-512 by random.Random, so it is stable across processes.
    rng = random.Random(f"vlmperf-procedural:{seed}:{index}:{size}")
    background, shapes = _compose_scene(rng, size)
    image = _draw(background, shapes, size)
    question, answer, choices = _question(rng, index, background, shapes)
    references = References(
        captions=_captions(background, shapes),
        question=question,
        answers=(answer,) * ANSWER_REPEATS,
        choices=tuple(choices),
        answer_index=choices.index(answer),
    )
    meta = {
        "source": "procedural",
        "seed": seed,
        "index": index,
        "background": background,
        "shapes": [asdict(shape) for shape in shapes],
    }
    return Sample(id=f"proc-{seed}-{index}", images=(image,), references=references, meta=meta)


def _compose_scene(rng: random.Random, size: int) -> tuple[str, list[Shape]]:
    """Pick a background and 1-3 shapes of distinct kinds and colours, none matching the background.

    Distinct kinds and colours keep "what colour is the circle?" and "which shape is red?"
    unambiguous. Each shape gets its own vertical strip of the canvas, so shapes never overlap and
    their left-to-right order is the list order.
    """
    background = rng.choice(list(COLOURS))
    count = rng.randint(1, MAX_SHAPES)
    kinds = rng.sample(SHAPE_KINDS, count)
    colours = rng.sample([name for name in COLOURS if name != background], count)
    strip = size / count
    margin = max(1, size // 32)
    max_radius = max(1, int(min(strip, size) / 2) - margin)
    shapes = []
    for slot, (kind, colour) in enumerate(zip(kinds, colours, strict=True)):
        radius = max(1, round(max_radius * rng.uniform(0.55, 1.0)))
        left, right = slot * strip + margin + radius, (slot + 1) * strip - margin - radius
        top, bottom = margin + radius, size - margin - radius
        center = (
            round(rng.uniform(left, max(left, right))),
            round(rng.uniform(top, max(top, bottom))),
        )
        shapes.append(Shape(kind, colour, center, radius))
    return background, shapes


def _draw(background: str, shapes: list[Shape], size: int) -> Image.Image:
    """Render the scene; every shape stays inside its bounding circle."""
    image = Image.new("RGB", (size, size), COLOURS[background])
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        (x, y), r, fill = shape.center, shape.radius, COLOURS[shape.colour]
        if shape.kind == "circle":
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        elif shape.kind == "square":
            half = r / math.sqrt(2)  # corners on the bounding circle
            draw.rectangle((x - half, y - half, x + half, y + half), fill=fill)
        else:  # triangle: equilateral, pointing up, vertices on the bounding circle
            angles = (-90, 30, 150)
            points = [(x + r * math.cos(math.radians(a)), y + r * math.sin(math.radians(a))) for a in angles]
            draw.polygon(points, fill=fill)
    return image


def _join(phrases: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def _captions(background: str, shapes: list[Shape]) -> tuple[str, ...]:
    """Several phrasings of the same scene, so caption metrics are not tied to one wording."""
    listed = _join([shape.phrase for shape in shapes])
    count = len(shapes)
    noun = "shape" if count == 1 else "shapes"
    verb = "is" if count == 1 else "are"
    if count == 1:
        layout = f"A plain {background} image showing a single {shapes[0].colour} {shapes[0].kind}."
    else:
        layout = f"From left to right: {', '.join(shape.phrase for shape in shapes)}."
    return (
        f"{listed[0].upper()}{listed[1:]} on a {background} background.",
        f"{COUNT_WORDS[count - 1].capitalize()} {noun} on a {background} background: {listed}.",
        f"On a plain {background} background there {verb} {listed}.",
        layout,
    )


def _question(rng: random.Random, index: int, background: str, shapes: list[Shape]) -> tuple[str, str, list[str]]:
    """A question with one exact answer, plus four choices; question kinds rotate with ``index``."""
    kind = QUESTION_KINDS[index % len(QUESTION_KINDS)]
    if kind == "count":
        return "How many shapes are in the image?", COUNT_WORDS[len(shapes) - 1], list(COUNT_WORDS)
    if kind == "background":
        return "What colour is the background?", background, _colour_choices(rng, background)
    shape = rng.choice(shapes)
    if kind == "colour_of_shape":
        question = f"What colour is the {shape.kind}?"
        return question, shape.colour, _colour_choices(rng, shape.colour)
    choices = [*SHAPE_KINDS, DISTRACTOR_KIND]
    rng.shuffle(choices)
    return f"Which shape is {shape.colour}?", shape.kind, choices


def _colour_choices(rng: random.Random, answer: str) -> list[str]:
    """The answer and three other colour names, in a seeded random order."""
    choices = [answer, *rng.sample([name for name in COLOURS if name != answer], 3)]
    rng.shuffle(choices)
    return choices
