"""Tiny random BERT token classifiers for tests (no download, built in well under a second)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEFAULT_TINY_VOCAB", "make_tiny_bert"]

_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

_WORD_TEXT = """
the of and to a in is was for on that with as by at from it he she they we you i his her
their its be are were been has have had not but or an this these those which who whom what
when where why how all any some no one two three four five six seven eight nine ten first
new old year years day days time people man woman city country state government company
president minister party group team club league match game season world cup war police court
bank market share shares percent million billion new york london paris berlin tokyo china
japan germany france britain england america american european united states nations union
u.s. u.k. e.u. uk us eu john paul mary peter david michael smith jones brown miller said
says told would could should will can may might also after before over under into out up
down about than more most other such only very just back then there here today monday
tuesday wednesday thursday friday saturday sunday january february march april may june july
august september october november december reuters news report reported official officials
national international north south east west prime chief home away win won lost beat against
between during since while again still even well good great big small high low work works
working make made take took go went come came see saw know knew think thought
"""

_PIECE_TEXT = """
##s ##es ##ed ##ing ##er ##ers ##est ##ly ##ion ##ions ##al ##an ##ian ##ia ##ic ##ist
##ment ##ness ##ful ##less ##able ##ity ##ous ##ive ##a ##e ##i ##o ##u ##y ##n ##t ##r ##l
##d ##k ##m ##h ##g ##c ##p ##b ##f ##w ##v ##x ##z ##j ##q ##0 ##1 ##2 ##3 ##4 ##5 ##6 ##7
##8 ##9 ##an ##en ##in ##on ##un ##ar ##or ##ur ##am ##om ##um ##ie ##ey ##son ##berg ##burg
##ton ##land ##ville ##stein ##ski ##ov ##ova
"""

_CJK = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着"
    "去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主"
    "行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二"
    "理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走"
    "电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市"
    "眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提"
    "感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它"
    "许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青"
    "管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步"
    "完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持"
    "音跑投注病科院职北京上海"
)

DEFAULT_TINY_VOCAB: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *_SPECIAL,
            *string.ascii_lowercase,
            *string.digits,
            *string.punctuation,
            *_WORD_TEXT.split(),
            *_PIECE_TEXT.split(),
            *_CJK,
        ]
    )
)
"""Default vocabulary of :func:`make_tiny_bert` (specials, characters, words, pieces, CJK)."""


def make_tiny_bert(
    path: Path,
    labels: Sequence[str],
    *,
    vocab: Sequence[str] | None = None,
    seed: int = 0,
    max_length: int = 128,
) -> Path:
    """Write a tiny random ``BertForTokenClassification`` and its fast tokenizer.

    The model has 2 layers, hidden size 32, 2 heads, intermediate size 64 and 128
    positions; the uncased WordPiece tokenizer uses ``vocab``. Both are written with
    ``save_pretrained`` so that ``from_pretrained(path)`` (and
    :func:`kgbuild.nlp.hf.load_token_classifier`) load them offline.

    Args:
        path: Directory to write (created if missing).
        labels: Label names, index = class id (e.g. ``["O", "B-PER", "I-PER"]``).
        vocab: WordPiece vocabulary; must start with the five special tokens
            ``[PAD] [UNK] [CLS] [SEP] [MASK]``. Defaults to :data:`DEFAULT_TINY_VOCAB`.
        seed: Seed of the random weights.
        max_length: Positions the model has (and its tokenizer's ``model_max_length``).

    Returns:
        Path: ``path``.
    """
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    tokens = list(DEFAULT_TINY_VOCAB if vocab is None else vocab)
    if tuple(tokens[: len(_SPECIAL)]) != _SPECIAL:
        raise ValueError(f"vocab must start with {list(_SPECIAL)}")
    if len(set(tokens)) != len(tokens):
        raise ValueError("vocab holds duplicate entries")
    label_list = list(labels)
    config = BertConfig(
        vocab_size=len(tokens),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
        id2label=dict(enumerate(label_list)),
        label2id={label: i for i, label in enumerate(label_list)},
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = BertForTokenClassification(config)
    # transformers 5: BertTokenizer is the fast (Rust) tokenizer; BertTokenizerFast aliases it.
    tokenizer = BertTokenizer(
        vocab={token: i for i, token in enumerate(tokens)},
        do_lower_case=True,
        model_max_length=max_length,
    )
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
