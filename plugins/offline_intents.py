"""The offline intent classifier `tfidf-svm`: the embedded default when no LLM is configured.

Features are TF-IDF character n-grams (1-4, inside word boundaries: Chinese needs no
segmentation), word 1-2 grams of suffix-trimmed words (English inflections: "charged",
"charges" and "charging" meet as "charg"), and unordered pairs of nearby English words other
than function words ("card ... arrive" and "arrive ... card" are one pair): words that make
an intent together whatever stands between them, which matters most when examples are few.
The model is a multiclass (Crammer-Singer) LinearSVC: one joint problem ranks the labels
better than one-vs-rest when each intent has few examples. Each intent's name is one more
example ("card_arrival" reads "card arrival"): the ruleset author's own summary of it, which
helps most when examples are few. The scores become probabilities through a softmax over the
labels plus a "background" score that stands for "none of these"; temperature and background
are fitted on held-out folds, where labels left out of a fold's training play the
out-of-scope messages. So "top probability below the ruleset's threshold" is a usable
out-of-scope signal, and the probabilities of all labels sum to less than 1.

Training uses scikit-learn. Prediction does not: `vectorizer.transform` on one string
costs far more than the whole lean path below (dict lookups, then one gather-and-dot in
numpy), which gives the same scores (tests compare the two).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from math import exp, hypot, log

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import csr_matrix, hstack
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.svm import LinearSVC

from frontdesk.hookspecs import hookimpl
from frontdesk.types import Register

NAME = "tfidf-svm"
# Longer messages are cut: the intent shows early, and cost grows with length.
MAX_CHARS = 2000
# Word n-grams are sparser and noisier than character n-grams: weigh them down.
WORD_WEIGHT = 0.7
# Word pairs (see `word_pairs`) are sparser still, but add most with few examples per intent.
PAIR_WEIGHT = 0.65
SVM_C = 1.0
# Crammer-Singer converges slowly to tight tolerances that do not change its ranking.
SVM_TOL = 0.1
# Calibration used when there is too little data to fit one, and the centre of the
# prior that keeps a fit on a handful of held-out examples from going to extremes.
DEFAULT_TEMPERATURE = 0.15
DEFAULT_BACKGROUND = -0.3
CALIBRATION_PRIOR_WEIGHT = 5.0
# Share of out-of-scope messages the probabilities assume (measured trade-off, see ops/eval).
OOS_PRIOR = 0.25
CALIBRATION_FOLDS = 5
# Enough held-out scores to fit one number; more folds only cost training time.
CALIBRATION_SAMPLES = 1500

PAD_DOCUMENT = "A B"
# Per-classifier cache of each word's character n-grams: bounded, and skips odd long words.
MAX_CACHED_WORDS = 50_000
MAX_CACHED_WORD = 40
_TOKEN = re.compile(r"(?u)\b\w+\b")
# Inflections trimmed from English words (longest first); shorter words are kept whole.
_SUFFIXES = ("ings", "ing", "ed", "s")
MIN_STEM = 3
# Word pairs: words fewer than PAIR_WINDOW apart once function words are left out, each cut
# to PAIR_PREFIX letters after trimming ("verification" and "verify" meet as "verif").
PAIR_WINDOW = 8
PAIR_PREFIX = 5
# Pairs come from the first PAIR_WORDS words of each list: the intent shows early, and a long
# message would otherwise cost about 14 pairs per word (a 400-word message: 0.7 ms more).
PAIR_WORDS = 64
# Pairs are made twice: without sklearn's long English stop list (content words only) and
# without this short list of the emptiest words (so "why", "not", "how" and "when" pair too);
# a pair of content words is in both and so weighs more.
_FUNCTION_WORD_LIST = (
    "a an the i me my you your is are was were be been am to of in on for it this that and or do does"
    " did have has had can could would will should please so at with there as by from we our its if"
    " any some just im ve s t m ll d"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())
# An intent name's words: letters only ("faq_2" says nothing about "2"), camelCase split.
_NAME_WORD = re.compile(r"[^\W\d_]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# C0/C1 controls and lone surrogates (invalid text that still reaches us) become spaces.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Invisible format characters (zero-width, direction marks, BOM, soft hyphen) are dropped.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalize(text: str) -> str:
    """The one text normalization of training and prediction: NFKC, lowercase, single spaces."""
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", text[:MAX_CHARS]))
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def char_ngrams(text: str) -> list[str]:
    """Character 1-4 grams of each space-padded word: sklearn's `char_wb` analyzer."""
    grams: list[str] = []
    for word in text.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(1, 5):
            if size <= n:  # a short word counts once, as sklearn does
                grams.append(padded)
                break
            grams.extend([padded[i : i + n] for i in range(size - n + 1)])
    return grams


def trim_suffix(word: str) -> str:
    """A crude English stem: drop one inflection, then a final "e", and spell a final "y"
    as "i", so that charge/charged/charges/charging and apply/applied/applies each meet.
    Not a linguistic stemmer: the same word always gives the same key, which is all a
    feature needs. Words with non-letters or non-ASCII (Chinese...) are kept."""
    if len(word) <= MIN_STEM or not (word.isascii() and word.isalpha()):
        return word
    for suffix in _SUFFIXES:
        # "ss"/"us" endings are not plurals: address, status
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM and not (suffix == "s" and word[-2] in "su"):
            word = word[: -len(suffix)]
            break
    if len(word) > MIN_STEM and word[-1] in "ey":
        word = word[:-1] if word[-1] == "e" else word[:-1] + "i"
    return word


def trim_words(text: str) -> str:
    """Every word of `text` through `trim_suffix`: the word vectorizer's preprocessor."""
    return _TOKEN.sub(lambda match: trim_suffix(match.group()), text)


def word_ngrams(text: str) -> list[str]:
    """Word 1-2 grams of trimmed words: sklearn's `word` analyzer with `trim_words` as
    preprocessor and the token pattern `\\b\\w+\\b`."""
    return stem_ngrams([trim_suffix(token) for token in _TOKEN.findall(text)])


def stem_ngrams(stems: list[str]) -> list[str]:
    """`word_ngrams` of a text's trimmed words (the lean path trims each word once)."""
    return stems + [f"{a} {b}" for a, b in pairwise(stems)]


def word_pairs(text: str) -> list[str]:
    """Unordered pairs ("a~b", a < b) of nearby words (see PAIR_WINDOW): the pair
    vectorizer's analyzer."""
    words = _TOKEN.findall(text)
    return stem_pairs(words, [trim_suffix(word) for word in words])


def stem_pairs(words: list[str], stems: list[str]) -> list[str]:
    """`word_pairs` of a text's words and their `trim_suffix` stems. English words only
    (ASCII): the stop lists are English, and a Chinese "word" is a whole clause."""
    english = [(word, stem[:PAIR_PREFIX]) for word, stem in zip(words, stems, strict=True) if word.isascii()]
    pairs: list[str] = []
    for skip in (ENGLISH_STOP_WORDS, _FUNCTION_WORDS):
        kept = [prefix for word, prefix in english if word not in skip][:PAIR_WORDS]
        for i, a in enumerate(kept):
            for b in kept[i + 1 : i + PAIR_WINDOW]:
                if a < b:
                    pairs.append(a + "~" + b)
                elif b < a:
                    pairs.append(b + "~" + a)
    return pairs


def name_example(label: str) -> str:
    """An intent name as an example sentence ("card_arrival" -> "card arrival"); "" if it
    has no letters."""
    return " ".join(_NAME_WORD.findall(_CAMEL.sub(" ", label)))


def fit_vectorizers(texts: Sequence[str]) -> tuple[TfidfVectorizer, TfidfVectorizer, TfidfVectorizer]:
    """The reference feature extractors, fitted on normalized texts."""
    common = {"sublinear_tf": True, "lowercase": False, "dtype": np.float64}
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), **common)
    words = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), token_pattern=_TOKEN.pattern, preprocessor=trim_words, **common
    )
    pairs = TfidfVectorizer(analyzer=word_pairs, **common)
    # Examples with no word token (emoji only, empty) or no two words would leave a vectorizer
    # with an empty vocabulary, which sklearn refuses. A pad document "A B" always gives each a
    # vocabulary, and its features never fire: normalized text has no capital letters.
    chars.fit([*texts, PAD_DOCUMENT])
    words.fit([*texts, PAD_DOCUMENT])
    pairs.fit([*texts, PAD_DOCUMENT])
    return chars, words, pairs


def sklearn_features(
    chars: TfidfVectorizer, words: TfidfVectorizer, pairs: TfidfVectorizer, texts: Sequence[str]
) -> csr_matrix:
    """Feature rows of normalized texts through the fitted sklearn vectorizers."""
    blocks = [chars.transform(texts), WORD_WEIGHT * words.transform(texts), PAIR_WEIGHT * pairs.transform(texts)]
    return hstack(blocks).tocsr()


def fit_svm(features: csr_matrix, labels: Sequence[str]) -> LinearSVC:
    with warnings.catch_warnings():
        # an unconverged fit on a tiny or noisy set still ranks usefully; not the analyst's concern
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LinearSVC(C=SVM_C, multi_class="crammer_singer", tol=SVM_TOL, random_state=0).fit(features, labels)


def class_scores(svm: LinearSVC, features: csr_matrix) -> np.ndarray:
    """Decision scores with one column per class, also for two classes (sklearn gives one)."""
    scores = svm.decision_function(features)
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


class TfidfSvmClassifier:
    """Picklable; `predict` returns up to `top` (label, probability) pairs, most likely first.

    With a single intent there is nothing to tell apart: the score is then the cosine
    similarity of the message to that intent's examples (0..1), not a probability.
    """

    def __init__(
        self,
        labels: list[str],
        chars: TfidfVectorizer,
        words: TfidfVectorizer,
        pairs: TfidfVectorizer,
        weights: np.ndarray,
        bias: np.ndarray,
        temperature: float,
        background: float,
    ) -> None:
        self.labels = labels
        self.temperature = temperature
        # the score of "none of these labels": probabilities sum to less than 1
        self.background = background
        self._char_vocab: dict[str, int] = {g: int(i) for g, i in chars.vocabulary_.items()}
        offset = len(self._char_vocab)
        self._word_vocab = {g: int(i) + offset for g, i in words.vocabulary_.items()}
        offset += len(self._word_vocab)
        self._pair_vocab = {g: int(i) + offset for g, i in pairs.vocabulary_.items()}
        # a Python list: indexing it one by one is faster than numpy for short messages
        self._idf: list[float] = np.concatenate([chars.idf_, words.idf_, pairs.idf_]).tolist()
        self._word_cache: dict[str, list[int]] = {}
        # Rows are features, so a message's features gather into one small block; the
        # last row is the bias, gathered with weight 1 so one product gives the scores.
        self._weights = np.ascontiguousarray(np.vstack([weights, bias]), dtype=np.float64)
        self._bias_row = len(self._idf)

    @classmethod
    def from_svm(
        cls,
        chars: TfidfVectorizer,
        words: TfidfVectorizer,
        pairs: TfidfVectorizer,
        svm: LinearSVC,
        temperature: float,
        background: float,
    ) -> TfidfSvmClassifier:
        """The lean equivalent of fitted vectorizers + LinearSVC (see `class_scores`)."""
        coef, bias = svm.coef_, svm.intercept_
        if coef.shape[0] == 1:
            coef, bias = np.vstack([-coef, coef]), np.concatenate([-bias, bias])
        labels = [str(c) for c in svm.classes_]
        return cls(labels, chars, words, pairs, coef.T, bias, temperature, background)

    def decision(self, text: str) -> np.ndarray | None:
        """Raw linear scores per label (the SVM's decision function); None when the
        message shares no feature with the training examples."""
        idx, values = self._features(normalize(text))
        return self._scores(idx, values) if idx else None

    def _scores(self, idx: list[int], values: list[float]) -> np.ndarray:
        return np.array([*values, 1.0]) @ self._weights.take(np.array([*idx, self._bias_row]), axis=0)

    def _features(self, norm: str) -> tuple[list[int], list[float]]:
        """Feature indexes and values of a normalized text: sublinear TF-IDF, each block
        L2-normalised then weighted, as `sklearn_features` computes them."""
        char_ids: list[int] = []
        cache = self._word_cache
        for word in norm.split():
            ids = cache.get(word)
            if ids is None:
                ids = self._char_ids(word)
            char_ids += ids
        words = _TOKEN.findall(norm)
        stems = [trim_suffix(word) for word in words]
        get = self._word_vocab.get
        word_ids = [i for i in map(get, stem_ngrams(stems)) if i is not None]
        get = self._pair_vocab.get
        pair_ids = [i for i in map(get, stem_pairs(words, stems)) if i is not None]
        idf = self._idf
        idx: list[int] = []
        values: list[float] = []
        for ids, weight in ((char_ids, 1.0), (word_ids, WORD_WEIGHT), (pair_ids, PAIR_WEIGHT)):
            if ids:
                counts = Counter(ids)
                block = [idf[i] if c == 1 else idf[i] * (1.0 + log(c)) for i, c in counts.items()]
                scale = weight / hypot(*block)
                idx += counts
                values += [v * scale for v in block]
        return idx, values

    def _char_ids(self, word: str) -> list[int]:
        """Known character n-grams of one word; cached, as most words recur."""
        get = self._char_vocab.get
        ids = [i for i in map(get, char_ngrams(word)) if i is not None]
        if len(word) <= MAX_CACHED_WORD:
            if len(self._word_cache) >= MAX_CACHED_WORDS:
                self._word_cache.clear()
            self._word_cache[word] = ids
        return ids

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_word_cache": {}}

    def predict(self, text: str, top: int = 3) -> list[tuple[str, float]]:
        top = min(top, len(self.labels))
        if top < 1:
            return []
        idx, values = self._features(normalize(text))
        if not idx:  # no evidence for any intent
            return [(label, 0.0) for label in self.labels[:top]]
        scores = self._scores(idx, values)
        if len(self.labels) == 1:
            # cosine: the weights are the examples' unit centroid, and the message's own length
            # depends on which blocks fired (Chinese text makes no word pairs)
            return [(self.labels[0], min(max(float(scores[0]) / hypot(*values), 0.0), 1.0))]
        order = scores.argsort()[::-1][:top].tolist()
        # softmax over the labels and the background, computed for the labels returned only
        peak = max(float(scores[order[0]]), self.background)
        odds = np.exp((scores - peak) / self.temperature)
        total = float(odds.sum()) + exp((self.background - peak) / self.temperature)
        labels = self.labels
        return [(labels[i], float(odds[i]) / total) for i in order]


def train(examples: list[tuple[str, str]]) -> TfidfSvmClassifier:
    """The `tfidf-svm` factory: fit on (text, label) pairs. Deterministic for a given input.

    No examples (intents described for an LLM only) give a classifier with no labels.
    """
    # each intent's name is one more of its examples (see the module docstring)
    names = [(name_example(label), label) for label in sorted({label for _, label in examples})]
    examples = examples + [(text, label) for text, label in names if text]
    texts = [normalize(text) for text, _ in examples]
    labels = [label for _, label in examples]
    chars, words, pairs = fit_vectorizers(texts)
    classes = sorted(set(labels))
    if not classes:
        size = len(chars.vocabulary_) + len(words.vocabulary_) + len(pairs.vocabulary_)
        return TfidfSvmClassifier([], chars, words, pairs, np.zeros((size, 0)), np.zeros(0), 1.0, 0.0)
    features = sklearn_features(chars, words, pairs, texts)
    if len(classes) == 1:
        centroid = np.asarray(features.mean(axis=0)).ravel()
        length = np.linalg.norm(centroid)
        # cosine = x.c / (|x| |c|): `predict` divides by |x|
        weights = (centroid / (length or 1.0))[:, None]
        return TfidfSvmClassifier(classes, chars, words, pairs, weights, np.zeros(1), 1.0, 0.0)
    svm = fit_svm(features, labels)
    temperature, background = fit_calibration(features, np.array(labels), list(svm.classes_))
    return TfidfSvmClassifier.from_svm(chars, words, pairs, svm, temperature, background)


def fit_calibration(features: csr_matrix, labels: np.ndarray, classes: list[str]) -> tuple[float, float]:
    """(temperature, background score) minimising held-out log loss, pulled towards defaults.

    In-scope targets: held-out examples of labels the fold's model was trained on.
    Out-of-scope targets: examples of labels left out of the fold's training entirely,
    which is what a message about something else looks like to the model. The two
    kinds weigh in proportion to OOS_PRIOR, whatever their counts.
    """
    folds = _stratified_folds(labels, CALIBRATION_FOLDS)
    order = np.random.default_rng(0).permutation(len(classes))
    left_out_in_fold = {classes[j]: rank % CALIBRATION_FOLDS for rank, j in enumerate(order)}
    left_out_fold = np.array([left_out_in_fold[label] for label in labels])
    column = {c: j for j, c in enumerate(classes)}
    in_scores, in_targets, out_scores = [], [], []
    for fold in range(CALIBRATION_FOLDS):
        train_mask = (folds != fold) & (left_out_fold != fold)
        fold_classes = np.unique(labels[train_mask])
        if len(fold_classes) < 2:
            continue
        svm = fit_svm(features[train_mask], labels[train_mask])
        columns = [column[c] for c in svm.classes_]
        held_in = (folds == fold) & np.isin(labels, fold_classes)
        if held_in.any():
            in_scores.append(_scores_in(svm, features[held_in], columns, len(classes)))
            in_targets.extend(column[c] for c in labels[held_in])
        if (left_out_fold == fold).any():
            out = features[left_out_fold == fold]
            out_scores.append(_scores_in(svm, out, columns, len(classes)))
        if len(in_targets) >= CALIBRATION_SAMPLES:
            break
    prior = np.array([np.log(DEFAULT_TEMPERATURE), DEFAULT_BACKGROUND])
    if not in_targets:
        return DEFAULT_TEMPERATURE, DEFAULT_BACKGROUND
    scores_in = np.vstack(in_scores)
    target = np.array(in_targets)
    scores_out = np.vstack(out_scores) if out_scores else None
    weight_in = 1.0 - OOS_PRIOR if scores_out is not None else 1.0
    n_data = len(target) + (len(scores_out) if scores_out is not None else 0)

    def objective(params: np.ndarray) -> float:
        temperature, background = np.exp(params[0]), params[1]
        log_norm = _log_norm(scores_in, temperature, background)
        loss = weight_in * float(np.mean(log_norm - scores_in[np.arange(len(target)), target] / temperature))
        if scores_out is not None:
            log_norm = _log_norm(scores_out, temperature, background)
            loss += OOS_PRIOR * float(np.mean(log_norm - background / temperature))
        return n_data * loss + CALIBRATION_PRIOR_WEIGHT * float(((params - prior) ** 2).sum())

    bounds = [(np.log(0.01), np.log(10.0)), (-3.0, 3.0)]
    best = minimize(objective, prior, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(best.x[0])), float(best.x[1])


def _scores_in(svm: LinearSVC, features: csr_matrix, columns: list[int], n: int) -> np.ndarray:
    """A fold model's scores placed in the full model's columns; -inf where it has no class."""
    scores = np.full((features.shape[0], n), -np.inf)
    scores[:, columns] = class_scores(svm, features)
    return scores


def _log_norm(scores: np.ndarray, temperature: float, background: float) -> np.ndarray:
    """log(exp(background/T) + sum exp(scores/T)) per row, computed stably."""
    z = scores / temperature
    top = np.maximum(z.max(axis=1), background / temperature)
    total = np.exp(z - top[:, None]).sum(axis=1) + np.exp(background / temperature - top)
    return top + np.log(total)


def _stratified_folds(labels: np.ndarray, k: int) -> np.ndarray:
    """Fold number per example: each label's examples are dealt round-robin, in a
    seeded shuffle, continuing where the previous label stopped so singletons spread."""
    rng = np.random.default_rng(0)
    folds = np.empty(len(labels), dtype=np.int64)
    start = 0
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        folds[idx] = (start + np.arange(len(idx))) % k
        start += len(idx)
    return folds


@hookimpl
def register_intent_classifiers(register: Register) -> None:
    register(NAME, train)
