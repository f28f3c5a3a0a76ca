"""Training under a `tf.distribute` strategy, TensorFlow's own engine for several devices or
machines: Keras trains a model with the strategy its variables were created under.

The session builds the model, the head and the optimizer inside `scope(strategy)`; the fit and
the cache pass then run on every replica, `batch_size` being the global batch split evenly
across them.
"""

import contextlib

import keras


def scope(strategy):
    """The strategy's scope, or a no-op context without one."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def in_scope(model, strategy):
    """`model` itself without a strategy; with one, a copy made inside its scope, holding the
    same weights (a keras.Model built earlier has its variables on one device only)."""
    if strategy is None:
        return model
    with strategy.scope():
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    return copy


def spec(strategy):
    """{"name", "replicas"} for a run's config, or None for the default device."""
    if strategy is None:
        return None
    return {"name": type(strategy).__name__, "replicas": int(strategy.num_replicas_in_sync)}
