"""Training under a `tf.distribute` strategy, TensorFlow's own engine for several devices or
machines: Keras trains a model with the strategy its variables were created under.

The session builds the model, the head and the optimizer inside `scope(strategy)`; the fit and
the cache pass then run on every replica, `batch_size` being the global batch split evenly
across them.
"""

import contextlib

import keras

from ..errors import ConfigError, StateError


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


def check_strategy(strategy, model_built):
    """Refuse what is not a strategy, and a change of strategy once a model was built outside it
    (`model_built`): its variables would live on the wrong devices."""
    import tensorflow as tf

    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise ConfigError(f"Expected a tf.distribute.Strategy (MirroredStrategy, ...), got {type(strategy).__name__}.")
    if model_built:
        raise StateError("The model was built outside this strategy's scope: call set_strategy() before "
                         "load_model(...), or pass Session(strategy=...), then load the model again.")


def set_strategy(session, strategy):
    """Train under a `tf.distribute.Strategy` (None: the default device). The model, head
    and optimizer are built under its scope (a keras.Model given to load_model is copied
    into it), so set it before `load_model`; `batch_size` is then the global batch, split
    evenly across the replicas. `Session.set_strategy` is this function."""
    session.check_idle()
    check_strategy(strategy, session.backbone is not None and strategy is not session.strategy)
    session.strategy = strategy
    return session
