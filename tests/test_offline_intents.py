import pickle

import numpy as np
import pluggy
import pytest

from frontdesk import hookspecs
from frontdesk.plugin_manager import collect_registry
from frontdesk.plugins import offline_intents
from frontdesk.plugins.offline_intents import (
    MAX_CHARS,
    TfidfSvmClassifier,
    class_scores,
    fit_calibration,
    fit_svm,
    fit_vectorizers,
    name_example,
    normalize,
    sklearn_features,
    train,
    trim_suffix,
    word_ngrams,
    word_pairs,
)

EXAMPLES = [
    ("where is my order", "order_status"),
    ("my parcel has not arrived yet", "order_status"),
    ("track my delivery please", "order_status"),
    ("when will my package arrive", "order_status"),
    ("我的订单到哪了", "order_status"),
    ("快递怎么还没到", "order_status"),
    ("I want my money back", "refund"),
    ("please refund the payment", "refund"),
    ("how do I get a refund for this", "refund"),
    ("return the item and refund me", "refund"),
    ("我要退款", "refund"),
    ("退货退款怎么操作", "refund"),
    ("let me talk to a human", "human"),
    ("connect me with an agent", "human"),
    ("I need a real person", "human"),
    ("transfer me to customer service staff", "human"),
    ("转人工", "human"),
    ("找客服", "human"),
    ("your service is terrible, I am angry", "complaint"),
    ("this is the worst shop ever", "complaint"),
    ("I want to file a complaint", "complaint"),
    ("太差劲了我要投诉", "complaint"),
]

QUERIES = [
    "where is my order",
    "has my parcel arrived?",
    "refund refund refund!!",
    "我的快递到哪里了",
    "我要投诉你们",
    "Talk to a HUMAN agent now 🙏",
    "ＦＵＬＬＷＩＤＴＨ refund",
    "mixed 中文 and English 退款 please",
    "word\twith\ttabs   and\n\nnewlines",
    "x" * (MAX_CHARS + 500),
]

DEGENERATE = [
    "",
    "   ",
    "\x00\x01\x02\x1b[31m",
    "\ud800",
    "lone \udfff surrogate in text",
    "😀😀😀🙏🏽👨‍👩‍👧",
    "a" * 100_000,
    "refund " * 20_000,
    "مرحبا كيف حالك",
    "สวัสดีครับ",
    "\u200b\u200d\ufeff",
    "\u2028\u2029",
    "Ｈｅｌｌｏ ｗｏｒｌｄ",
    "ß ǅ İstanbul ﬁne",
]


@pytest.fixture(scope="module")
def classifier() -> TfidfSvmClassifier:
    return train(EXAMPLES)


def _assert_well_formed(result: list[tuple[str, float]], labels: list[str], top: int) -> None:
    assert len(result) == min(top, len(labels))
    for label, prob in result:
        assert label in labels
        assert isinstance(prob, float)
        assert 0.0 <= prob <= 1.0


def test_labels_are_the_intents(classifier: TfidfSvmClassifier) -> None:
    assert classifier.labels == sorted({label for _, label in EXAMPLES})


def test_probabilities_are_ordered_and_sum_at_most_one(classifier: TfidfSvmClassifier) -> None:
    for text in QUERIES:
        everything = classifier.predict(text, top=len(classifier.labels))
        probs = [p for _, p in everything]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) <= 1.0 + 1e-12
        assert sorted(label for label, _ in everything) == classifier.labels
        assert classifier.predict(text, top=2) == everything[:2]


def test_examples_and_paraphrases_get_their_intent(classifier: TfidfSvmClassifier) -> None:
    for text, label in EXAMPLES:
        assert classifier.predict(text, top=1)[0][0] == label
    assert classifier.predict("has my parcel arrived?", top=1)[0][0] == "order_status"
    # Chinese without segmentation: characters shared with 我的订单到哪了 / 快递怎么还没到
    assert classifier.predict("我的快递到哪里了", top=1)[0][0] == "order_status"
    assert classifier.predict("我要投诉你们", top=1)[0][0] == "complaint"


def test_out_of_scope_message_is_less_confident(classifier: TfidfSvmClassifier) -> None:
    in_scope = classifier.predict("where is my order", top=1)[0][1]
    unrelated = classifier.predict("what a lovely sunny afternoon for golf", top=1)[0][1]
    assert unrelated < in_scope
    assert unrelated < 0.45 <= in_scope


def test_lean_decision_equals_sklearn_pipeline() -> None:
    texts = [normalize(text) for text, _ in EXAMPLES]
    labels = [label for _, label in EXAMPLES]
    chars, words, pairs = fit_vectorizers(texts)
    svm = fit_svm(sklearn_features(chars, words, pairs, texts), labels)
    lean = TfidfSvmClassifier.from_svm(chars, words, pairs, svm, temperature=0.2, background=-0.3)
    for text in QUERIES + [t for t, _ in EXAMPLES]:
        reference = class_scores(svm, sklearn_features(chars, words, pairs, [normalize(text)]))[0]
        np.testing.assert_allclose(lean.decision(text), reference, rtol=1e-9, atol=1e-12)
    assert svm.predict(sklearn_features(chars, words, pairs, texts)).tolist() == [
        lean.labels[int(np.argmax(lean.decision(t)))] for t in texts
    ]


def test_lean_decision_equals_sklearn_for_two_intents() -> None:
    examples = [(t, label) for t, label in EXAMPLES if label in {"refund", "human"}]
    texts = [normalize(text) for text, _ in examples]
    chars, words, pairs = fit_vectorizers(texts)
    svm = fit_svm(sklearn_features(chars, words, pairs, texts), [label for _, label in examples])
    lean = TfidfSvmClassifier.from_svm(chars, words, pairs, svm, temperature=0.2, background=-0.3)
    for text in QUERIES:
        # sklearn scores two classes with one column: positive means the second class
        reference = svm.decision_function(sklearn_features(chars, words, pairs, [normalize(text)]))[0]
        np.testing.assert_allclose(lean.decision(text), [-reference, reference], rtol=1e-9, atol=1e-12)


def test_word_ngrams_equal_sklearn_analyzer() -> None:
    _, words, _ = fit_vectorizers([normalize(text) for text, _ in EXAMPLES])
    analyze = words.build_analyzer()
    for text in QUERIES + DEGENERATE + ["charges charged, charging: the card's fees applied"]:
        assert word_ngrams(normalize(text)) == analyze(normalize(text))


def test_word_pairs_equal_sklearn_analyzer() -> None:
    _, _, pairs = fit_vectorizers([normalize(text) for text, _ in EXAMPLES])
    analyze = pairs.build_analyzer()
    for text in QUERIES + DEGENERATE:
        assert word_pairs(normalize(text)) == analyze(normalize(text))


def test_word_pairs_join_nearby_words_in_either_order() -> None:
    # function words are left out; either order and any inflection make the same pair
    assert word_pairs("card arrived") == word_pairs("the card arrives") == ["arriv~card"] * 2
    # "not" is a stop word of sklearn's list only: its pairs are made once
    assert sorted(word_pairs("the card has not arrived")) == ["arriv~card", "arriv~card", "arriv~not", "card~not"]
    assert word_pairs("arrived card") == word_pairs("card arrived")
    assert word_pairs("我的快递到哪了") == []
    assert word_pairs("card") == word_pairs("") == []


def test_word_pairs_come_from_the_first_words_of_a_long_message() -> None:
    cap = offline_intents.PAIR_WORDS
    words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(4 * cap)]  # distinct content words
    pairs = word_pairs(" ".join(words))
    window = offline_intents.PAIR_WINDOW - 1
    # two stop lists, each pairing its first `cap` words with up to `window` followers
    assert len(pairs) == 2 * sum(min(window, cap - 1 - i) for i in range(cap))
    assert not any(words[cap] in pair for pair in pairs)
    assert word_pairs(" ".join(words[:cap])) == pairs


def test_trim_suffix_joins_inflections_only() -> None:
    assert {trim_suffix(w) for w in ["charge", "charges", "charged", "charging"]} == {"charg"}
    assert {trim_suffix(w) for w in ["apply", "applies", "applied"]} == {"appli"}
    assert trim_suffix("cards") == trim_suffix("card") == "card"
    assert trim_suffix("address") == "address" and trim_suffix("status") == "status"
    for kept in ["is", "was", "bed", "退款了", "café", "x2s", ""]:
        assert trim_suffix(kept) == kept


def test_name_example_reads_intent_names() -> None:
    assert name_example("card_arrival") == "card arrival"
    assert name_example("Refund_not_showing_up") == "Refund not showing up"
    assert name_example("cardArrival") == "card Arrival"
    assert name_example("faq-2") == "faq"
    assert name_example("退款") == "退款"
    assert name_example("42") == ""


def test_intent_names_count_as_examples() -> None:
    # no example says "refund" or "complaint": only the intent names do
    examples = [("give me my money back", "refund"), ("I want it paid back", "refund")]
    examples += [("your service is terrible", "complaint"), ("this is unacceptable", "complaint")]
    classifier = train(examples)
    assert classifier.predict("refund", top=1)[0][0] == "refund"
    assert classifier.predict("I have a complaint", top=1)[0][0] == "complaint"


def test_text_sharing_no_feature_has_no_decision(classifier: TfidfSvmClassifier) -> None:
    assert classifier.decision("") is None
    assert classifier.predict("", top=2) == [(label, 0.0) for label in classifier.labels[:2]]


def test_pickle_round_trip(classifier: TfidfSvmClassifier) -> None:
    for text in QUERIES[:4]:
        classifier.predict(text)  # fill the word cache, which is not pickled
    restored = pickle.loads(pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL))
    assert restored.labels == classifier.labels
    for text in QUERIES + DEGENERATE:
        assert restored.predict(text) == classifier.predict(text)


def test_training_is_deterministic(classifier: TfidfSvmClassifier) -> None:
    again = train(list(EXAMPLES))
    assert (again.temperature, again.background) == (classifier.temperature, classifier.background)
    for text in QUERIES:
        assert again.predict(text) == classifier.predict(text)


def test_word_cache_is_bounded(classifier: TfidfSvmClassifier, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offline_intents, "MAX_CACHED_WORDS", 3)
    fresh = pickle.loads(pickle.dumps(classifier))
    text = "where is my order now please"
    assert fresh.predict(text) == classifier.predict(text)
    assert 0 < len(fresh._word_cache) <= 3
    assert fresh.predict(text) == classifier.predict(text)


@pytest.mark.parametrize(
    "examples",
    [
        EXAMPLES,
        [("refund please", "refund")],
        [("refund please", "refund"), ("human agent", "human")],
        [("a", "x"), ("b", "y"), ("c", "z")],
        [("", "empty"), ("😀", "emoji"), ("\ud800", "surrogate"), ("!!!", "punct")],
        [("same text", "one"), ("same text", "two"), ("other text", "two")],
        [("", "only_empty")],
        [],
    ],
    ids=["normal", "one-intent", "two-intents", "one-char", "no-words", "conflicting", "one-empty", "none"],
)
def test_degenerate_inputs_never_raise(examples: list[tuple[str, str]]) -> None:
    classifier = train(examples)
    labels = sorted({label for _, label in examples})
    assert classifier.labels == labels
    for text in DEGENERATE + QUERIES:
        for top in (0, 1, 3, 100):
            _assert_well_formed(classifier.predict(text, top=top), labels, top)


def test_single_intent_scores_resemblance() -> None:
    classifier = train([("where is my order", "order_status"), ("track my parcel", "order_status")])
    seen = classifier.predict("where is my order", top=1)[0][1]
    unrelated = classifier.predict("golf on sunday afternoon", top=1)[0][1]
    assert seen > 0.5 > unrelated


def test_single_intent_score_is_the_cosine_to_its_examples() -> None:
    # Chinese examples make no word pairs, English ones do: the score must not depend on an
    # assumption about which feature blocks a message fires
    examples = [("我的订单到哪了", "order_status"), ("查一下订单 where is my order", "order_status")]
    classifier = train(examples)
    texts = [normalize(text) for text, _ in examples] + [name_example("order_status")]
    chars, words, pairs = fit_vectorizers(texts)
    centroid = np.asarray(sklearn_features(chars, words, pairs, texts).mean(axis=0)).ravel()
    for query in ["我的订单到哪了", "where is my order", "订单 where is my parcel"]:
        x = sklearn_features(chars, words, pairs, [normalize(query)]).toarray().ravel()
        cosine = x @ centroid / (np.linalg.norm(x) * np.linalg.norm(centroid))
        assert classifier.predict(query, top=1)[0][1] == pytest.approx(cosine, rel=1e-9)


def test_normalize_is_stable_and_clean() -> None:
    assert normalize("  Ｈｅｌｌｏ\t\tWORLD\u200b \x00! ") == "hello world !"
    assert normalize("lone\ud800surrogate") == "lone surrogate"
    assert len(normalize("a" * 100_000)) == MAX_CHARS
    for text in DEGENERATE + QUERIES:
        assert normalize(normalize(text)) == normalize(text)
        normalize(text).encode("utf-8")  # no lone surrogate survives


def test_calibration_falls_back_to_defaults_without_held_out_data() -> None:
    texts = [normalize("refund"), normalize("human")]
    chars, words, pairs = fit_vectorizers(texts)
    features = sklearn_features(chars, words, pairs, texts)
    # one example per intent: no fold keeps two intents to train on
    assert fit_calibration(features, np.array(["refund", "human"]), ["human", "refund"]) == (
        offline_intents.DEFAULT_TEMPERATURE,
        offline_intents.DEFAULT_BACKGROUND,
    )


def test_calibration_learns_from_held_out_folds() -> None:
    texts = [normalize(text) for text, _ in EXAMPLES]
    labels = np.array([label for _, label in EXAMPLES])
    chars, words, pairs = fit_vectorizers(texts)
    temperature, background = fit_calibration(
        sklearn_features(chars, words, pairs, texts), labels, sorted(set(labels.tolist()))
    )
    assert 0.01 <= temperature <= 10.0 and -3.0 <= background <= 3.0
    assert (temperature, background) != (
        offline_intents.DEFAULT_TEMPERATURE,
        offline_intents.DEFAULT_BACKGROUND,
    )


def test_registered_through_the_hook() -> None:
    pm = pluggy.PluginManager("frontdesk")
    pm.add_hookspecs(hookspecs)
    pm.register(offline_intents)
    registry = collect_registry(pm)
    factory = registry.intent_classifiers["tfidf-svm"]
    assert factory([("hi", "greet"), ("bye", "leave")]).labels == ["greet", "leave"]
