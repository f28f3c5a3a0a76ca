import keras_hub
import numpy as np

from tune_widgets.data.tokenizer import Tokenizer

TEXTS = [
    "Héllo wörld, café crème!",
    "Driverless cars? See https://t.co/AbC123?x=1&y=2 #future @someone",
    "東京は晴れ 中文字符",
    "I can't   trust   it...   ",
    "",
]


def test_padded_arrays_match_the_hugging_face_tokenizer(minilm):
    tokenizer = Tokenizer.from_folder(minilm, sequence_length=24)
    arrays = tokenizer(TEXTS)
    reference = tokenizer.hf(TEXTS, padding="max_length", truncation=True, max_length=24)
    np.testing.assert_array_equal(arrays["token_ids"], reference["input_ids"])
    np.testing.assert_array_equal(arrays["padding_mask"], reference["attention_mask"])
    assert arrays["segment_ids"].shape == (5, 24) and not arrays["segment_ids"].any()


def test_the_wordpiece_file_gives_the_hugging_face_ids_at_every_length(minilm):
    """The shipped MiniLM runs through `tokenizers` alone (transformers' import costs most of a
    model load); its ids must be transformers' own, truncation included."""
    import tune_widgets as tw

    texts = [*TEXTS, *tw.load_tweets(n=300, seed=3).examples]
    for length in (8, 24, 64):
        tokenizer = Tokenizer.from_folder(minilm, sequence_length=length)
        reference = tokenizer.hf(texts, truncation=True, max_length=length)["input_ids"]
        assert tokenizer.token_ids(texts) == reference
        assert tokenizer.pad_id == tokenizer.hf.pad_token_id


def test_keras_hub_tokenizer_gives_identical_ids_with_strip_accents(minilm):
    tokenizer = Tokenizer.from_folder(minilm, sequence_length=64)
    hub = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=str(minilm / "vocab.txt"), lowercase=True, strip_accents=True
    )
    for text, ids in zip(TEXTS, tokenizer.token_ids(TEXTS)):
        assert np.asarray(hub(text)).tolist() == ids[1:-1], text  # HF adds [CLS] … [SEP]
    # Where they part: HF decomposes Hangul syllables into jamo and treats "…" differently.
    # That is why the HF tokenizer is the one tune-widgets uses.
    for text in ("한국어 문장", "wait…"):
        assert np.asarray(hub(text)).tolist() != tokenizer.token_ids([text])[0][1:-1]
    unstripped = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=str(minilm / "vocab.txt"), lowercase=True)
    assert np.asarray(unstripped(TEXTS[0])).tolist() != tokenizer.token_ids(TEXTS[:1])[0][1:-1]


def test_long_texts_are_truncated_to_the_sequence_length(minilm):
    tokenizer = Tokenizer.from_folder(minilm, sequence_length=8)
    arrays = tokenizer(["word " * 50])
    assert arrays["padding_mask"].sum() == 8 and arrays["token_ids"][0, -1] == tokenizer.hf.sep_token_id
