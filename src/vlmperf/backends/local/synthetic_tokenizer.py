"""A stand-in tokenizer for model presets, built offline and deterministically.

The real tokenizers of hub models cannot be downloaded here, and random-weight replicas do not
need them to be right: they need a tokenizer with the model's vocabulary size, its special token
ids, and roughly word-sized tokens so prompt lengths stay realistic. This one is a word-level
vocabulary (common English words, punctuation, single characters) padded with filler tokens up
to the model's vocabulary size. Unknown words map to `<unk>`.
"""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

_COMMON_WORDS = [
    "a", "an", "the", "and", "or", "but", "of", "in", "on", "at", "to", "from", "with", "without", "by", "for", "about",
    "over", "under", "above", "below", "near", "into", "onto", "out", "up", "down", "left", "right", "front", "back",
    "top", "bottom", "middle", "center", "side", "inside", "outside", "between", "is", "are", "was", "were", "be",
    "been", "being", "has", "have", "had", "do", "does", "did", "can", "could", "will", "would", "should", "may",
    "might", "this", "that", "these", "those", "there", "here", "it", "its", "they", "them", "their", "he", "she",
    "his", "her", "we", "our", "you", "your", "i", "my", "me", "what", "which", "who", "whom", "whose", "where", "when",
    "why", "how", "many", "much", "some", "any", "all", "each", "every", "no", "not", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "ten", "first", "second", "third", "last", "few", "several", "more",
    "most", "less", "image", "picture", "photo", "photograph", "describe", "description", "caption", "sentence",
    "question", "answer", "short", "long", "word", "words", "briefly", "detail", "detailed", "provide", "give", "write",
    "list", "shown", "show", "shows", "showing", "see", "seen", "looking", "look", "looks", "appears", "appear",
    "visible", "background", "foreground", "scene", "view", "close", "closeup", "man", "woman", "person", "people",
    "child", "boy", "girl", "astronaut", "suit", "space", "helmet", "flag", "rocket", "launch", "pad", "sky", "cloud",
    "clouds", "smoke", "fire", "tower", "building", "house", "wall", "floor", "table", "chair", "cup", "coffee", "mug",
    "saucer", "spoon", "plate", "food", "drink", "cat", "kitten", "dog", "animal", "bird", "eagle", "horse", "fur",
    "whiskers", "eyes", "ear", "ears", "nose", "face", "head", "hand", "hands", "arm", "body", "tail", "wing", "wings",
    "feather", "feathers", "coin", "coins", "metal", "gold", "silver", "round", "old", "ancient", "star", "stars",
    "galaxy", "galaxies", "night", "dark", "light", "bright", "color", "colour", "colours", "colors", "red", "green",
    "blue", "yellow", "purple", "orange", "white", "black", "gray", "grey", "brown", "pink", "shape", "shapes",
    "circle", "circles", "square", "squares", "triangle", "triangles", "object", "objects", "thing", "things", "small",
    "large", "big", "tiny", "huge", "little", "flat", "brick", "bricks", "stone", "stones", "grass", "gravel",
    "texture", "pattern", "surface", "wood", "wooden", "glass", "water", "tree", "trees", "flower", "flowers", "leaf",
    "leaves", "plant", "plants", "field", "road", "street", "car", "window", "door", "sign", "text", "letters",
    "sitting", "standing", "lying", "holding", "wearing", "flying", "floating", "resting", "sleeping", "eating", "on",
    "top", "beside", "next", "behind", "against", "across", "along", "around", "through", "toward", "towards", "during",
    "before", "after", "while", "USER", "ASSISTANT", "SYSTEM", "User", "Assistant", "yes", "true", "false", "choice",
    "choices", "option", "options", "correct", "number", "count", "how", "many", "kind", "type",
]  # fmt: skip


def _base_vocabulary() -> list[str]:
    """Words, then single characters, in a fixed order (deterministic ids)."""
    seen: dict[str, None] = {}
    for word in _COMMON_WORDS:
        seen.setdefault(word, None)
        seen.setdefault(word.capitalize(), None)
    for char in string.ascii_letters + string.digits + string.punctuation:
        seen.setdefault(char, None)
    return list(seen)


def build_synthetic_tokenizer(
    vocab_size: int,
    *,
    image_token_id: int,
    pad_token_id: int,
    unk_token_id: int = 0,
    bos_token_id: int = 1,
    eos_token_id: int = 2,
    chat_template: str | None = None,
) -> PreTrainedTokenizerFast:
    """A left-padding word-level tokenizer with exactly `vocab_size` ids and the given special ids."""
    specials = {
        unk_token_id: "<unk>",
        bos_token_id: "<s>",
        eos_token_id: "</s>",
        image_token_id: "<image>",
        pad_token_id: "<pad>",
    }
    if len(specials) != 5 or max(specials) >= vocab_size:
        raise ValueError(f"special token ids {sorted(specials)} must be distinct and below vocab_size {vocab_size}")
    words = iter(_base_vocabulary())
    vocab: dict[str, int] = {}
    for token_id in range(vocab_size):
        if token_id in specials:
            vocab[specials[token_id]] = token_id
        else:
            vocab[next(words, f"<extra_{token_id}>")] = token_id
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", bos_token_id)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
        model_max_length=4096,
        extra_special_tokens={"image_token": "<image>"},
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer
