"""The model card's sentences about the model and its data: architecture, training recipe, training folds.

Each sentence is built from the champion's evaluation record (``champion_eval.json``: ``model.architecture``,
``model.recipe``, ``split_counts``), every number a fact; a value the record lacks is said to be missing, never
filled in. Settings that do not apply to the model are left out (a randomly initialised model has no frozen
batch-norm statistics and no second learning rate).
"""

from __future__ import annotations

from .evidence import gradcam_seed_cells, gradcam_seed_verdict
from .facts import FactBook, FactError, resolve

#: Words for recorded setting values (the printed value is the recorded one, named).
POOLING_WORDS = {"gem": "GeM", "avg": "global average", "max": "global max"}
LOSS_WORDS = {"bce": "binary cross-entropy", "focal": "focal loss"}
SCHEDULE_WORDS = {
    "cosine": "the trainer ramps the rate up linearly over the first steps, then decays it along a cosine",
    "plateau": "the trainer halves the rate when validation plateaus",
}

#: Recipe keys the architecture sentence prints when the architecture is recorded (each fact is printed once).
IN_ARCHITECTURE = ("pooling", "dropout")


def _optional(book: FactBook, source: str):
    """The value a source names, or None when it is not recorded."""
    try:
        return resolve(source, book.root)
    except FactError:
        return None


def _head(book: FactBook, base: str, arch: dict) -> str:
    """``GeM pooling, dropout 0.1, one sigmoid unit`` from the recorded head."""
    pooling = POOLING_WORDS.get(arch.get("pooling"), arch.get("pooling") or "unrecorded")
    dropout = (
        f"dropout {book.md('card.arch.dropout', base + '.dropout', '.2g')}" if arch.get("dropout") else "no dropout"
    )
    return f"{pooling} pooling, {dropout}, one {book.md('card.arch.output', base + '.output', 'str')} unit"


def _filters(book: FactBook, base: str, widths: list) -> str:
    """``16, 32, 64 and 128`` (one fact per block width)."""
    texts = [book.md(f"card.arch.filters.{i}", f"{base}.filters.{i}", "int") for i in range(len(widths))]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def architecture_text(book: FactBook, src: str) -> str:
    """The architecture, e.g. ``from-scratch CNN: 4 blocks of 2 conv-BN-ReLU layers (3x3 kernels) and a 2x2
    max-pool, with 16, 32, 64 and 128 filters; GeM pooling, dropout 0.1, one sigmoid unit; 389,123 parameters``.

    Args:
        book: Facts.
        src: The champion's evaluation file (``model.architecture``, ``model.backbone``, ``model.recipe``).

    Returns:
        Markdown text (no trailing full stop); when the record holds no architecture, the backbone's name and what is
        missing.
    """
    base = f"{src}#model.architecture"
    arch = _optional(book, base)
    if not arch:
        name = book.md("card.backbone", src + "#model.backbone", "str")
        return (
            f"`{name}` (this evaluation records no layer structure or parameter count: rerun `mammo report`, which "
            "reads them from the export)"
        )
    params = f"{book.md('card.arch.parameters', base + '.parameters', 'int')} parameters"
    if arch.get("kind") == "transfer":
        weights = _optional(book, f"{src}#model.recipe.weights")
        start = (
            f"pretrained weights ({book.md('card.recipe.weights', f'{src}#model.recipe.weights', 'str')})"
            if arch.get("pretrained") and weights
            else "pretrained weights"
            if arch.get("pretrained")
            else "random initial weights"
        )
        return (
            f"`{book.md('card.arch.backbone', base + '.backbone', 'str')}` backbone with {start}, the grey image "
            f"copied to three channels and ImageNet-normalised inside the model; {_head(book, base, arch)}; {params}"
        )
    kernel = book.md("card.arch.kernel", base + ".kernel", "int")
    pool = book.md("card.arch.block_pool", base + ".block_pool", "int") if arch.get("block_pool") else None
    return (
        f"from-scratch CNN: {book.md('card.arch.blocks', base + '.blocks', 'int')} blocks of "
        f"{book.md('card.arch.convs', base + '.convs_per_block', 'int')} conv-BN-ReLU layers ({kernel}x{kernel} "
        f"kernels){f' and a {pool}x{pool} max-pool' if pool else ''}, with "
        f"{_filters(book, base, arch.get('filters', []))} filters; {_head(book, base, arch)}; {params}"
    )


def _stages(book: FactBook, source: str, recipe: dict, pretrained: bool) -> str:
    """How the epochs ran: head then fine-tuning for pretrained weights, one stage otherwise (as the trainer does)."""

    def fact(key: str, fmt: str) -> str:
        return book.md(f"card.recipe.{key}", f"{source}.{key}", fmt)

    lr = fact("learning_rate", ".3g")
    if pretrained:
        bn = "frozen" if recipe.get("freeze_bn") else "updated"
        return (
            f"{fact('epochs', 'int')} epochs on the head at learning rate {lr}, then {fact('finetune_epochs', 'int')} "
            f"on everything at {fact('finetune_lr', '.3g')} with the backbone's batch-norm statistics {bn}"
        )
    total = int(recipe["epochs"]) + int(recipe["finetune_epochs"])
    return (
        f"at most {total} epoch{'s' * (total != 1)} on the whole network at learning rate {lr}: without pretrained "
        f"weights there is no head-only stage, so the trainer runs the recipe's `epochs` ({fact('epochs', 'int')}) and "
        f"`finetune_epochs` ({fact('finetune_epochs', 'int')}) as one stage and leaves `finetune_lr` unused"
    )


def recipe_line(book: FactBook, src: str) -> str:
    """A Markdown bullet with the champion's training recipe (``model.recipe``), each setting once, only those that
    apply to its architecture; "" when no recipe is recorded.

    Args:
        book: Facts.
        src: The champion's evaluation file.

    Returns:
        ``"- Training recipe (from the run's configuration): ...\\n"`` or "".
    """
    source = f"{src}#model.recipe"
    recipe = _optional(book, source) or {}
    if not recipe:
        return ""
    arch = _optional(book, f"{src}#model.architecture") or {}
    pretrained = bool(arch.get("pretrained", recipe.get("weights") is not None))

    def fact(key: str, fmt: str) -> str:
        return book.md(f"card.recipe.{key}", f"{source}.{key}", fmt)

    have = {k for k, v in recipe.items() if v is not None}
    parts = [
        f"initialised from {fact('weights', 'str')}" if pretrained and "weights" in have else "random initialisation"
    ]
    if {"epochs", "finetune_epochs", "learning_rate"} <= have:
        parts.append(_stages(book, source, recipe, pretrained))
    if "lr_schedule" in have:
        words = SCHEDULE_WORDS.get(recipe["lr_schedule"])
        parts.append(f"learning-rate schedule `{fact('lr_schedule', 'str')}`" + (f" ({words})" if words else ""))
    if "batch_size" in have:
        parts.append(f"batch size {fact('batch_size', 'int')}")
    if "pos_ratio" in recipe:
        parts.append(
            f"{fact('pos_ratio', 'pct0')} cancer images per batch (balanced sampling)"
            if recipe["pos_ratio"] is not None
            else "batches at the data's own cancer rate"
        )
    if "loss" in have:
        parts.append(f"{LOSS_WORDS.get(recipe['loss'], fact('loss', 'str'))} loss")
    if "augment_strength" in have:
        strength = fact("augment_strength", ".2g")
        parts.append(f"augmentation strength {strength}" + (" (none)" if not recipe["augment_strength"] else ""))
    if not arch:  # the architecture sentence could not print the head
        parts += [f"{k.replace('_', ' ')} {fact(k, 'str')}" for k in IN_ARCHITECTURE if k in have]
    handled = {"weights", "epochs", "finetune_epochs", "learning_rate", "finetune_lr", "freeze_bn", "lr_schedule",
               "batch_size", "pos_ratio", "loss", "augment_strength", *IN_ARCHITECTURE}  # fmt: skip
    parts += [f"{k.replace('_', ' ')} {fact(k, 'str')}" for k in sorted(have - handled)]
    return "- Training recipe (from the run's configuration): " + "; ".join(parts) + ".\n"


def _part(book: FactBook, src: str, name: str) -> str:
    """``12 images of 3 patients (6 breasts, 2 with cancer)`` of one recorded part of the split."""
    base = f"{src}#split_counts.{name}"
    return (
        f"{book.md(f'card.{name}.images', base + '.images', 'int')} images of "
        f"{book.md(f'card.{name}.patients', base + '.patients', 'int')} patients "
        f"({book.md(f'card.{name}.breasts', base + '.breasts', 'int')} breasts, "
        f"{book.md(f'card.{name}.cancers', base + '.cancer_breasts', 'int')} with cancer)"
    )


def training_data_text(book: FactBook, src: str, data_name: str) -> str:
    """What the model was trained and selected on: the training folds' and the validation fold's counts.

    Args:
        book: Facts.
        src: The champion's evaluation file (``split_counts``).
        data_name: How the data set is named (e.g. "the embedded synthetic RSNA-layout set").

    Returns:
        A Markdown sentence, or one saying the counts are not recorded in this evaluation.
    """
    if _optional(book, f"{src}#split_counts.train") is None:
        return (
            f"Trained on the training folds of {data_name}; their counts and the validation fold's are not recorded "
            "in this champion evaluation (rerun `mammo report` to record them)."
        )
    fold = book.md("card.fold", f"{src}#split_counts.fold", "int")
    return (
        f"Trained on the training folds of {data_name}: {_part(book, src, 'train')}. The checkpoint and the decision "
        f"threshold were chosen on validation fold {fold}: {_part(book, src, 'validation')}."
    )


def gradcam_seeds_md(book: FactBook, src: str, key: str = "card.d07.cs") -> str:
    """The Grad-CAM pointing game on every seed of the champion's arm as a Markdown table, and the verdict.

    Args:
        book: Facts.
        src: 07's results file (``gradcam_seeds``).
        key: Fact-key prefix.

    Returns:
        An introduction, a table (seed | hits k of n, rate [95% CI] | margin over chance [CI] | peaks off the breast
        on lesion and on lesion-free images [CI], or over all test images when 07 recorded no split) and
        ``Grad-CAM beats chance on k of n seeds (…)``; "" when fewer than two seeds were scored.
    """
    cells = gradcam_seed_cells(book, src, book.md, key)
    if not cells:
        return ""
    split = all(c["off_lesion"] and c["off_free"] for c in cells)
    off_head = (
        "peaks off the breast: lesion images | lesion-free images |"
        if split
        else "peaks off the breast (all test images) |"
    )
    rows = "\n".join(
        f"| {c['seed']} | {c['hits']}, {c['rate']} | {c['margin']} | "
        + (f"{c['off_lesion']} | {c['off_free']} |" if split else f"{c['off'] or 'not recorded'} |")
        for c in cells
    )
    return (
        "Grad-CAM pointing game on each seed of the champion's arm (07): a hit is a map whose peak falls inside a "
        "lesion box; chance is the share of the breast the lesion boxes cover; the margin is the hit rate minus "
        "chance; intervals are 95% patient bootstrap.\n\n"
        f"| seed | hits, rate [95% CI] | margin over chance [95% CI] | {off_head}\n"
        f"|---|---|---|---|{'---|' if split else ''}\n"
        f"{rows}\n\n{gradcam_seed_verdict(book, src, book.md, key)}.\n"
    )
