"""``kgbuild train calibrate``: fit a document relation model's calibration on chosen documents.

Training calibrates on its dev documents. That is right for a user's model, but a figure
measured at a calibrated operating point (``relations.min_precision``) on those same
documents is measured where its thresholds were fitted, and reads better than it is. This
re-fits the Platt map and the per-type precision thresholds on the documents given, read
as the relation stage reads them (same windows, same precision), so that the other dev
documents stay unseen by every choice, and records where the calibration comes from in the
manifest and the card. Training documents are refused: a model is over-confident on them.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from kgbuild.errors import InputError
from kgbuild.nlp.hf import KGBUILD_MODEL_FILE, load_doc_relation_model_ref, runs_bf16
from kgbuild.readers.docred import read_docred
from kgbuild.training.common import MODEL_CARD_FILE, read_json_object, sha256_file
from kgbuild.training.doc_re import docred_examples, predict_examples
from kgbuild.training.doc_re_train import LOWER_BOUND_Z, calibrate, readme_of

__all__ = ["RecalibrationResult", "recalibrate_doc_re"]


class RecalibrationResult(BaseModel):
    """What :func:`recalibrate_doc_re` fitted, and its figures cross-fitted on those documents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_dir: Path
    documents: int
    ece: float
    """Expected calibration error over candidates with p >= 0.1 (cross-fitted)."""
    at_target: dict[str, dict[str, float]]
    """Per target precision: cross-fitted precision, recall and F1."""


def _held_out_prefix(card: dict[str, Any], data: Path) -> int | None:
    """How many first documents of ``data`` training held out; None: not its training file.

    (A run trains on every document of its training file after those it holds out.)
    """
    train = card.get("data", {}).get("train", {})
    if not train.get("sha256") or train["sha256"] != sha256_file(data):
        return None
    return int(card.get("data", {}).get("dev", {}).get("first_documents", 0))


def _cards_behind(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The card, and for a soup the cards of its ingredients that can still be read."""
    cards = [card]
    for ingredient in card.get("ingredients", []):
        path = Path(str(ingredient.get("path", ""))) / MODEL_CARD_FILE
        if path.is_file():
            cards.append(read_json_object(path))
    return cards


def recalibrate_doc_re(
    model_dir: Path,
    data: Path,
    documents: slice,
    *,
    device: str | None = None,
    precision: str = "auto",
    z: float | None = None,
    command: str | None = None,
    encoding: str = "utf-8",
) -> RecalibrationResult:
    """Re-fit the calibration of ``model_dir`` on ``documents`` of the DocRED file ``data``.

    Args:
        model_dir: A folder written by ``kgbuild train re --format docred`` (rewritten).
        data: A DocRED-format file.
        documents: Which of its documents to calibrate on (e.g. ``slice(50, 100)``).
        device: Where to run the model (default: automatic).
        precision: ``auto``, ``bf16`` or ``fp32``: as the relation stage will run it.
        z: Thresholds must reach their target precision this many standard errors below
            the precision observed (0: at it; see :func:`kgbuild.nlp.calibration.threshold_for`).
            The card records it. Default: :data:`~kgbuild.training.doc_re_train.LOWER_BOUND_Z`.
        command: Command line recorded in the card (default: ``sys.argv``).
        encoding: The text encoding of ``data``.

    Raises:
        InputError: Not a document relation model, an empty or out-of-range document
            range, or documents the model (or, for a soup, an ingredient) was trained on.
    """
    manifest_file, card_file = model_dir / KGBUILD_MODEL_FILE, model_dir / MODEL_CARD_FILE
    manifest = read_json_object(manifest_file)
    card = read_json_object(card_file) if card_file.is_file() else {}
    if manifest.get("task") != "document-relation-classification":
        raise InputError(f"{model_dir} is not a document relation model")
    z = LOWER_BOUND_Z if z is None else z
    if z < 0:
        raise InputError(f"z must be at least 0, not {z}")
    every = read_docred(data, encoding=encoding)
    chosen = range(len(every))[documents]
    if not chosen or chosen.step != 1:
        raise InputError(f"no documents of the {len(every)} in {data} were chosen to calibrate on")
    first, last = chosen.start, chosen.stop
    prefixes = [_held_out_prefix(behind, data) for behind in _cards_behind(card)]
    held = min((prefix for prefix in prefixes if prefix is not None), default=None)
    if held is not None and last > held:
        raise InputError(
            f"{model_dir} was trained on the documents of {data} after the first {held}: "
            "calibrate on held-out documents"
        )
    examples = docred_examples(every[first:last])
    bf16 = runs_bf16(precision, device)
    loaded = load_doc_relation_model_ref(str(model_dir), device=device, bf16=bf16)
    predictions = predict_examples(
        loaded.model,
        loaded.tokenizer,
        examples,
        max_length=min(int(manifest.get("max_length", 512)), loaded.max_length),
        overlap=float(manifest.get("overlap", 0.25)),
        bf16=bf16,
    )
    fitted = calibrate(predictions, examples, [str(k) for k in manifest["labels"][1:]], z=z)
    fitted_on = {
        "path": str(data.resolve()),
        "sha256": sha256_file(data),
        "documents": f"{first}:{last}",
        "precision": "bf16" if bf16 else "fp32",
        "lower_bound_z": z,
        "command": command if command is not None else shlex.join(sys.argv),
    }
    manifest["calibration"] = {"scale": fitted.platt.scale, "bias": fitted.platt.bias}
    manifest["precision_thresholds"] = fitted.thresholds
    manifest["calibration_fitted_on"] = fitted_on
    manifest_file.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if card:
        card["calibration"] = {
            "platt": asdict(fitted.platt),
            "held_out_cross_fitted": fitted.held_out,
            "lower_bound_z": z,
            "fitted_on": fitted_on,
        }
        card_file.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        readme = readme_of(model_dir, card)
        if readme is not None:  # a card written by training or a soup: its README follows it
            (model_dir / "README.md").write_text(readme, encoding="utf-8")
    measured = fitted.held_out
    return RecalibrationResult(
        model_dir=model_dir,
        documents=len(examples),
        ece=float(measured["ece_p_ge_0.1"]),
        at_target={
            target: {k: float(v[k]) for k in ("precision", "recall", "f1")}
            for target, v in measured["at_target"].items()
        },
    )
