"""Text in batches of similar length, each trimmed to its longest row.

Tweets average 31 tokens in a 64-token window, so padded batches spend half their work on
padding. Attention under the padding mask gives the same values at real tokens whatever the
padding, and everything downstream is masked, so a batch can be cut to its longest row, rounded
up to a multiple of 8 (which bounds the shapes TensorFlow traces to sequence_length / 8).

Sequence data is held as `Padded` (token ids and masks, padded to the full length) or `Ragged`
(cached hidden states, each row stored only up to its own rounded length: about half the
memory of padded float32). `Batches` feeds `model.fit`/`evaluate` with batches of similar
lengths, formed anew each epoch from a seeded shuffle; `infer` runs a model over everything in
length order and returns the outputs in the original order.
"""

import functools
import math
import weakref

import keras
import numpy as np
import tensorflow as tf

STEP = 8  # widths are multiples of this
GROUP = 50  # batches per length-sorted group: shuffled within the data, sorted within a group


def rounded(lengths, limit):
    """Each length rounded up to a multiple of STEP, at least STEP and at most `limit`."""
    lengths = np.asarray(lengths)
    return np.minimum(np.maximum(-(-lengths // STEP) * STEP, STEP), limit).astype("int64")


class Padded:
    """Sequence data padded to a fixed length (token ids, a padding mask); `lengths` are the
    real lengths. A batch takes its rows up to the batch's width."""

    def __init__(self, array, lengths):
        self.array, self.lengths = array, np.asarray(lengths)

    def take(self, index, width):
        return self.array[index, :width]

    def __len__(self):
        return len(self.array)

    @property
    def nbytes(self):
        return int(self.array.nbytes)


class Ragged:
    """Per-example sequences stored trimmed: row i keeps its first `rounded(lengths[i])`
    positions, all rows in one flat buffer (a numpy array, or a memory-mapped file)."""

    def __init__(self, lengths, limit, tail_shape, dtype, allocate=None):
        self.lengths = np.asarray(lengths)
        self.limit, self.tail_shape, self.dtype = limit, tuple(tail_shape), np.dtype(dtype)
        self.widths = rounded(self.lengths, limit)
        self.offsets = np.concatenate([[0], np.cumsum(self.widths)])
        shape = (int(self.offsets[-1]), *self.tail_shape)
        self.buffer = (allocate or np.zeros)(shape, self.dtype)

    @staticmethod
    def size(lengths, limit, tail_shape, dtype):
        """Bytes a Ragged of these dimensions takes, before building it."""
        return int(rounded(lengths, limit).sum()) * math.prod(tail_shape) * np.dtype(dtype).itemsize

    def write(self, index, rows):
        """Store `rows` (a batch, padded to at least each row's width) as examples `index`."""
        for i, row in zip(index, rows):
            self.buffer[self.offsets[i]:self.offsets[i + 1]] = row[: self.widths[i]]

    def take(self, index, width):
        batch = np.zeros((len(index), width, *self.tail_shape), self.dtype)
        for j, i in enumerate(index):
            stored = min(int(self.widths[i]), width)
            batch[j, :stored] = self.buffer[self.offsets[i]:self.offsets[i] + stored]
        return batch

    def padded(self):
        """Every row padded to the full length (what a padded pass would have produced)."""
        return self.take(np.arange(len(self)), self.limit)

    def __len__(self):
        return len(self.lengths)

    @property
    def nbytes(self):
        return int(self.buffer.nbytes)


def is_sequence(value):
    return isinstance(value, (Padded, Ragged))


def lengths_of(inputs):
    """The real lengths of the examples, from the first sequence input, or None."""
    return next((value.lengths for value in inputs if is_sequence(value)), None)


def as_inputs(x, names):
    """A model's inputs in `names` order; text arrays (those as long as the padding mask)
    wrapped as `Padded`, so batches can trim them."""
    if not isinstance(x, dict):
        return list(x) if isinstance(x, (list, tuple)) else [x]
    mask = x.get("padding_mask")
    if mask is None or isinstance(mask, Padded):
        return [x[name] for name in names]
    lengths = np.asarray(mask).sum(axis=1)
    return [Padded(x[name], lengths) if np.ndim(x[name]) == 2 and x[name].shape[1] == mask.shape[1] else x[name]
            for name in names]


def take(inputs, index, width):
    batch = [value.take(index, width) if is_sequence(value) else value[index] for value in inputs]
    return batch[0] if len(batch) == 1 else tuple(batch)


def batch_widths(lengths, batches, limit):
    return [int(rounded(lengths[index].max(), limit)) for index in batches]


class Batches:
    """Batches of similar length for `model.fit`/`evaluate`, each trimmed to its longest row.

    With `shuffle`, every epoch shuffles the examples, sorts each group of GROUP batches by
    length, cuts it into batches and shuffles their order (seeded by `seed` and the epoch);
    every example appears once per epoch. Without, batches follow length order. Iterating gives
    one epoch and moves on to the next; `dataset()` is what Keras takes.
    """

    def __init__(self, inputs, y, batch_size, shuffle=True, seed=None):
        self.inputs, self.y, self.batch_size = list(inputs), y, batch_size
        self.lengths = lengths_of(self.inputs)
        self.limit = max((v.limit if isinstance(v, Ragged) else v.array.shape[1])
                         for v in self.inputs if is_sequence(v))
        self.shuffle = shuffle
        self.seed = seed if seed is not None else int(np.random.default_rng().integers(2**31))
        self.epoch = 0
        self.batches = self._form(0)

    def _form(self, epoch):
        count = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i:i + self.batch_size] for i in range(0, count, self.batch_size)]
        rng = np.random.default_rng((self.seed, epoch))
        shuffled, group = rng.permutation(count), self.batch_size * GROUP
        batches = []
        for start in range(0, count, group):
            members = shuffled[start:start + group]
            members = members[np.argsort(self.lengths[members], kind="stable")]
            batches += [members[i:i + self.batch_size] for i in range(0, len(members), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, position):
        index = self.batches[position]
        width = int(rounded(self.lengths[index].max(), self.limit))
        x = take(self.inputs, index, width)
        return x if self.y is None else (x, self.y[index])

    def __iter__(self):
        for position in range(len(self)):
            yield self[position]
        self.next_epoch()

    def next_epoch(self):
        if self.shuffle:
            self.epoch += 1
            self.batches = self._form(self.epoch)

    def dataset(self):
        """A tf.data.Dataset of one epoch per iteration, its sequence axes left unknown, so Keras
        traces one step function for every width (it would guess fixed shapes from a PyDataset's
        first batches)."""
        def spec(value):
            if is_sequence(value):
                tail = value.tail_shape if isinstance(value, Ragged) else value.array.shape[2:]
                dtype = value.dtype if isinstance(value, Ragged) else value.array.dtype
                return tf.TensorSpec((None, None, *tail), dtype)
            return tf.TensorSpec((None, *np.shape(value)[1:]), np.asarray(value[:1]).dtype)

        x = [spec(value) for value in self.inputs]
        x = x[0] if len(x) == 1 else tuple(x)
        signature = x if self.y is None else (x, tf.TensorSpec((None, *np.shape(self.y)[1:]), np.asarray(self.y).dtype))
        dataset = tf.data.Dataset.from_generator(lambda: iter(self), output_signature=signature)
        return dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)


def infer(model, inputs, batch_size=64, report=None, ragged=False, allocate=None, strategy=None):
    """`model`'s outputs for every example, in the original order, computed in length order.

    `inputs` are the model's inputs (see `as_inputs`). Sequence outputs come back as `Ragged`
    when `ragged`, else padded to the full length. `report(done, total)` is called after each
    batch and may raise to cancel. `allocate(shape, dtype)` makes the output arrays (default:
    zeros in memory; the cache passes memory-mapped files when features spill to disk). With a
    tf.distribute `strategy` of several replicas, each batch is split across them.
    """
    allocate = allocate or np.zeros
    lengths = lengths_of(inputs)
    count = len(inputs[0])
    if lengths is None:
        order, limit = np.arange(count), None
        batches = [order[i:i + batch_size] for i in range(0, count, batch_size)]
        widths = [None] * len(batches)
    else:
        feed = Batches(inputs, None, batch_size, shuffle=False)
        batches, limit = feed.batches, feed.limit
        widths = batch_widths(lengths, batches, limit)
    call = _inference_function(model, strategy)
    per_token = [lengths is not None and is_per_token(tensor, model) for tensor in keras.tree.flatten(model.outputs)]
    results, done = None, 0
    for index, width in zip(batches, widths):
        batch = take(inputs, index, width)
        outputs = [np.asarray(o) for o in keras.tree.flatten(call(list(batch) if isinstance(batch, tuple) else [batch]))]
        if results is None:
            results = [_container(o, count, lengths if token else None, limit, ragged, allocate)
                       for o, token in zip(outputs, per_token)]
        for target, output in zip(results, outputs):
            if isinstance(target, Ragged):
                target.write(index, output)
            else:
                target[(index, *[slice(0, s) for s in output.shape[1:]])] = output
        done += len(index)
        if report is not None:
            report(done, count)
    return results


def is_per_token(tensor, model):
    """Whether a symbolic output of `model` has a row per token: its second axis is the padding
    mask's (both variable, or the same fixed length). DeBERTa's relative-position table, (batch,
    2 × buckets, width), is not, and must not be trimmed to a batch's length."""
    mask = next((t for t in model.inputs if t.name.endswith("padding_mask")), None)
    length = mask.shape[1] if mask is not None else None
    return len(tensor.shape) >= 3 and tensor.shape[1] == length


def _container(output, count, lengths, limit, ragged, allocate):
    """Where one output's rows go: for a per-token output (`lengths` given), a Ragged store when
    asked or an array padded to the full length; else an array of the output's own shape."""
    sequence = lengths is not None and output.ndim >= 3
    if sequence and ragged:
        return Ragged(lengths, limit, output.shape[2:], output.dtype, allocate)
    shape = (count, limit, *output.shape[2:]) if sequence else (count, *output.shape[1:])
    return allocate(shape, output.dtype)


_INFERENCE = weakref.WeakKeyDictionary()


def _inference_function(model, strategy=None):
    """`model` in inference mode, traced once for any batch size and sequence length; with a
    strategy of several replicas, each batch is split across them."""
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        return functools.partial(_distributed, model, strategy)
    if model not in _INFERENCE:
        signature = [tf.TensorSpec(_traced_shape(t.shape), t.dtype) for t in model.inputs]
        _INFERENCE[model] = tf.function(lambda inputs: _call(model, inputs), input_signature=[signature])
    return _INFERENCE[model]


def _traced_shape(shape):
    """Any batch size and length; a feature axis (the last of three or more) keeps its size, which
    a layer right behind a cache cut needs to build (ALBERT's embedding LayerNormalization)."""
    traced = [None] * len(shape)
    if len(shape) >= 3:
        traced[-1] = shape[-1]
    return traced


def _call(model, inputs):
    """`model` in inference mode on a list of inputs (a one-input model takes the tensor itself)."""
    return model(inputs[0] if len(inputs) == 1 else inputs, training=False)


_DISTRIBUTED = weakref.WeakKeyDictionary()


def _distributed(model, strategy, inputs):
    """`model` on a batch split into one contiguous share per replica (on every worker), the
    outputs gathered back in order on each worker."""
    replicas = strategy.num_replicas_in_sync
    if len(inputs[0]) < replicas:  # a last batch too small to share
        return _inference_function(model)(inputs)
    if model not in _DISTRIBUTED:
        _DISTRIBUTED[model] = tf.function(lambda shards: strategy.run(lambda x: _call(model, x), args=(shards,)),
                                          reduce_retracing=True)
    share = -(-len(inputs[0]) // replicas)

    def shard(context):
        start = context.replica_id_in_sync_group * share
        return [tf.constant(x[start:start + share]) for x in inputs]

    outputs = _DISTRIBUTED[model](strategy.experimental_distribute_values_from_function(shard))
    return [np.asarray(strategy.gather(output, axis=0)) for output in keras.tree.flatten(outputs)]
