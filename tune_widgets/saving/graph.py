"""What a deployed model carries inside itself, so that an app needs neither Python nor us:

- `deploy_model`: a plain Keras model from the numbers a runtime feeds (token ids, or pixels
  0–255 at the network's size) to class probabilities (or the regression score), with the
  network's image preprocessing inside. ONNX and LiteRT are converted from it.
- `WordPieceTokenizer`: a Hugging Face BERT tokenizer rebuilt from TensorFlow Text ops (the
  checkpoint's own vocab.txt and normaliser settings), for a SavedModel that takes strings.
  Each step mirrors one of the `tokenizers` library's (BertNormalizer, BertPreTokenizer,
  WordPiece, the [CLS]/[SEP] template); the tests check the ids are the session tokenizer's.
- `resize`: pictures of any size to the network's, as `data.encode` resizes them.
"""

import importlib
import json

import keras
import tensorflow as tf

from ..errors import ExportError
from ..models.head import input_names
from ..models.predict import outputs_logits

TEXT_INPUTS = ("token_ids", "padding_mask", "segment_ids")
# BertPreTokenizer's cuts (as TF Text's BasicTokenizer writes them): ASCII and Unicode punctuation
# and CJK ideographs become words of their own, whitespace (Unicode Zs too) separates words.
PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]"
CJK = ("[\\x{4E00}-\\x{9FFF}]|[\\x{3400}-\\x{4DBF}]|[\\x{20000}-\\x{2A6DF}]|[\\x{2A700}-\\x{2B73F}]|"
       "[\\x{2B740}-\\x{2B81F}]|[\\x{2B820}-\\x{2CEAF}]|[\\x{F900}-\\x{FAFF}]|[\\x{2F800}-\\x{2FA1F}]")
WHITESPACE = r"[\s\p{Zs}]+"


def deploy_model(session, model):
    """`model` (the session's, or its LoRA-merged copy) from runtime inputs to probabilities."""
    backbone = session.backbone
    if backbone.tokenizer is not None:
        inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in input_names(model)}
        x = inputs
    else:
        shape = backbone.input_shape
        if shape is None or len(shape) != 3 or None in shape:
            raise ExportError(f"Deploy exports take pictures of a fixed size; this model takes {shape}. "
                              f"Use format='keras'.")
        inputs = keras.Input(shape, dtype="float32", name="pixels")
        x = Preprocess(backbone.preprocessing)(inputs)
    y = model(x, training=False)
    if outputs_logits(session):
        y = keras.layers.Softmax(name="probabilities")(y)
    deploy = keras.Model(inputs, y, name="deploy")
    deploy(keras.tree.map_structure(lambda spec: keras.ops.zeros((1, *(d or 8 for d in spec.shape[1:])), spec.dtype),
                                    inputs), training=False)  # called once: Keras' ONNX export asks for it
    return deploy


def check_preprocessing(backbone):
    """The reason a backbone's image preprocessing cannot go inside an artifact, or ""."""
    preprocessing = backbone.preprocessing
    if preprocessing is None or preprocessing.startswith("keras.applications."):
        return ""
    return (f"the image preprocessing {preprocessing!r} (a checkpoint's ImageConverter) is not carried into "
            f"deploy exports yet. Use format='keras'.")


class Preprocess(keras.layers.Layer):
    """A keras.applications network's preprocess_input, as a layer (None: pixels pass as they are)."""

    def __init__(self, module=None, **kwargs):
        super().__init__(**kwargs)
        self.module = module

    def call(self, pixels):
        if self.module is None:
            return pixels
        return importlib.import_module(self.module).preprocess_input(pixels)

    def get_config(self):
        return {**super().get_config(), "module": self.module}


def resize(pictures, shape):
    """uint8 (n, h, w, c) pictures of any size → float32 at the network's (height, width, channels)."""
    height, width, channels = shape
    pictures = tf.cast(pictures, tf.float32)
    if channels == 3:
        pictures = tf.cond(tf.shape(pictures)[-1] == 1, lambda: tf.repeat(pictures, 3, axis=-1), lambda: pictures)
    return tf.image.resize(pictures, (height, width))


def tokenizer_refusal(tokenizer):
    """Why `tokenizer` cannot be rebuilt in the graph, or "" (a Hugging Face BERT WordPiece one can)."""
    hf = tokenizer.hf
    if hf is None:
        return f"its tokenizer is KerasHub's ({type(tokenizer.library).__name__}), which is not carried into the graph yet"
    backend = hf.backend_tokenizer
    normalizer = json.loads(backend.normalizer.__getstate__()) if backend.normalizer is not None else {}
    if (normalizer.get("type") != "BertNormalizer" or type(backend.pre_tokenizer).__name__ != "BertPreTokenizer"
            or type(backend.model).__name__ != "WordPiece"):
        return (f"its tokenizer ({type(backend.model).__name__}) is not BERT's WordPiece, the one TensorFlow Text "
                f"ops rebuild here")
    if hf.cls_token_id is None or hf.sep_token_id is None:
        return "its tokenizer has no [CLS]/[SEP] tokens"
    return ""


class WordPieceTokenizer(tf.Module):
    """Strings → unpadded token ids, as the checkpoint's Hugging Face BERT tokenizer gives them."""

    def __init__(self, tokenizer):
        super().__init__(name="tokenizer")
        import tensorflow_text  # noqa: F401  (registers the ops)

        hf = tokenizer.hf
        backend = hf.backend_tokenizer
        normalizer = json.loads(backend.normalizer.__getstate__())
        self.lowercase = bool(normalizer.get("lowercase", True))
        strip = normalizer.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else bool(strip)
        self.clean = bool(normalizer.get("clean_text", True))
        self.chinese = bool(normalizer.get("handle_chinese_chars", True))
        model = backend.model
        self.max_chars = int(model.max_input_chars_per_word)
        vocabulary = sorted(hf.get_vocab().items(), key=lambda item: item[1])
        self.vocabulary = [token for token, _ in vocabulary]
        self.unknown = model.unk_token
        self.prefix = model.continuing_subword_prefix
        self.cls, self.sep, self.body = hf.cls_token_id, hf.sep_token_id, tokenizer.sequence_length - 2
        self.pad_id = tokenizer.pad_id
        self.table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(self.vocabulary, tf.range(len(self.vocabulary), dtype=tf.int64)),
            num_oov_buckets=1)

    def __call__(self, texts):
        import tensorflow_text as tf_text

        if self.clean:  # BertNormalizer: control characters go, \t \n \r become spaces
            texts = tf.strings.regex_replace(texts, r"[\t\n\r]", " ")
            texts = tf.strings.regex_replace(texts, r"[\x{0}\x{FFFD}\p{Cc}\p{Cf}\p{Co}]", "")
        if self.strip_accents:
            texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        keep = PUNCTUATION + ("|" + CJK if self.chinese else "")
        words = tf_text.regex_split(texts, WHITESPACE + "|" + keep, keep)
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > self.max_chars  # WordPiece's limit, in characters
        words = words.with_flat_values(tf.where(too_long, self.unknown, words.flat_values))
        pieces = tf_text.WordpieceTokenizer(self.table, suffix_indicator=self.prefix, max_bytes_per_word=1 << 30,
                                            token_out_type=tf.int64, unknown_token=self.unknown)
        ids = pieces.tokenize(words).merge_dims(-2, -1)[:, : self.body]
        batch = tf.shape(texts, out_type=tf.int64)[:1]
        framed = tf.concat([tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.cls, tf.int64)), ids,
                            tf.fill(tf.concat([batch, [1]], 0), tf.constant(self.sep, tf.int64))], axis=1)
        return tf.cast(framed, tf.int32)

    def inputs(self, texts, names):
        """The encoder's inputs for a batch of strings, padded to the batch's longest text."""
        ids = self(texts)
        token_ids = ids.to_tensor(default_value=self.pad_id)
        mask = tf.sequence_mask(ids.row_lengths(), tf.shape(token_ids)[1], dtype=tf.int32)
        given = {"token_ids": token_ids, "padding_mask": mask, "segment_ids": tf.zeros_like(token_ids)}
        return {name: given[name] for name in names}


def numeric_inputs(session, examples):
    """ONNX's and LiteRT's inputs for raw examples: token arrays from the session's tokenizer,
    or float pixels resized to the network's size (what an app does before calling them)."""
    backbone = session.backbone
    if backbone.tokenizer is not None:
        return backbone.tokenizer(examples)
    return {"pixels": resize(examples, tuple(backbone.input_shape)).numpy()}
