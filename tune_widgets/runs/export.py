"""A run as one standalone Python script: plain Keras, KerasHub and transformers, no tune-widgets.

The script rebuilds the model from its source (a keras.applications name, a KerasHub or
Hugging Face checkpoint folder, a .keras/.h5 file), puts the same head on it, freezes the same
layers and runs them in inference mode as `models.FineTuneModel` does, builds the same optimizer
and schedule, reads data of the same kind (a CSV of texts, a folder or .npz of images, an .npz
of arrays), holds out validation data as `set_data` did, and trains with the run's seed.

Every value that comes from the user (paths, layer names, class names) enters the code as a
Python literal written by `repr` (through `pprint.pformat`), in the settings block at the top;
none is pasted into code, comments or docstrings.
"""

import inspect
import pprint
import textwrap
import time
from pathlib import Path

from ..errors import ConfigError, StateError
from ..models import keras_internals
from ..models.backbone import IN_MEMORY
from ..models.task import task_named
from ..training.optimizers import Schedule
from ..training.layer_rates import LayerRates
from . import architecture
from .config import run_config
from .record import RunRecord

DATA_FORMS = {
    "text": "a CSV file with a header row and the columns 'text' and 'label' (a class name or number)",
    "image": "a folder holding one subfolder of images per class, or an .npz file with arrays x "
             "(N x H x W [x C], values 0-255) and y (class names or numbers)",
    "array": "an .npz file with arrays x (N x ...) and y (class names or numbers)",
}


def write_script(path, config, data=None, run_id=None):
    """Write `script(config, data, run_id)` to `path` (a .py file); returns the path."""
    path = Path(path)
    if path.suffix != ".py":
        raise ConfigError(f"Export to a .py file, got {path.name!r}.")
    text = script(config, data, run_id)
    path.write_text(text, encoding="utf-8")
    return path


EXPORTED_FAMILIES = (None, "bert")  # what the script's model code covers (None: not a KerasHub family)


def script(config, data=None, run_id=None):
    """The script's source for a run's `config` (see the module docstring). `data`: the default
    data path written into it (the script also takes --data); `run_id` names the run."""
    spec = config["backbone"]
    refusal = task_named(config.get("task")).export_refusal
    if refusal:
        raise StateError(refusal)
    if spec.get("family") not in EXPORTED_FAMILIES or spec.get("tokenizer_kind") not in (None, "hugging_face"):
        tokenizer = " with a KerasHub tokenizer" if spec.get("tokenizer_kind") == "keras_hub" else ""
        raise StateError(
            f"A run of a {spec.get('family')} model{tokenizer} cannot be exported as a script yet: the script "
            f"rebuilds keras.applications networks, model files and "
            f"BERT-family checkpoints with a transformers tokenizer. Save the trained model with session.save(...).")
    if config.get("lora"):
        raise StateError("A run with LoRA adapters cannot be exported yet: the script adds none. Its weights "
                         "(adapters merged in, as Keras saves them) still load into the script's model with --weights.")
    if config["model"] == IN_MEMORY:
        raise StateError(
            "This run's model was given as an in-memory keras.Model, which a script cannot rebuild: "
            "save it (model.save('base.keras')), load_model('base.keras'), fit, then export; or export "
            "a run of it from a runs_dir, whose folder keeps the model."
        )
    kind = "text" if spec.get("tokenizer") else (config.get("data") or {}).get("kind", "array")
    source = "file" if spec["kind"] == "model" else spec["kind"]
    split = (config.get("data") or {}).get("split")
    optimizer = config["optimizer"]
    settings = {
        "SOURCE": str(config["model"]),
        "INPUT_SHAPE": tuple(spec["input_shape"]) if spec.get("input_shape") and source == "image" else None,
        "WEIGHTS": spec.get("weights"),
        "TOKENIZER": spec.get("tokenizer") or (str(config["model"]) if kind == "text" else None),
        "SEQUENCE_LENGTH": spec.get("sequence_length"),
        "PREPROCESSING": keras_internals.public_module(spec.get("preprocessing")),
        "FEATURES": spec.get("features"),
        "HEAD": config["head"],
        "FROZEN": list(config["frozen"]),
        "OPTIMIZER": optimizer,
        "LAYER_FACTORS": config.get("layer_factors"),
        "EPOCHS": config["epochs"],
        "BATCH_SIZE": config["batch_size"],
        "SEED": config.get("seed"),
        "CLASS_NAMES": list(config["class_names"]),
        "VALIDATION_SPLIT": split,
        "DATA": None if data is None else str(data),
    }
    settings = {name: value for name, value in settings.items()
                if _needed(name, kind, source, spec, bool(config.get("layer_factors")))}
    parts = [
        _header(config, kind, run_id),
        _IMPORTS,
        "# ---- the run's settings (from its config.json) " + "-" * 48 + "\n\n"
        + "".join(f"{name} = {pprint.pformat(value, width=100, sort_dicts=False)}\n" for name, value in settings.items()),
        _LOADERS[kind],
        _SPLIT,
        _ENCODERS[kind],
        _TOKEN_POOLING if kind == "text" else "",
        _model_code(spec, source, kind, config["head"]),
        _IN_INFERENCE,
        _schedule_code() if optimizer["schedule"] != "constant" else "",
        _rates_code(optimizer) if config.get("layer_factors") else "",
        _optimizer_code(optimizer, bool(config.get("layer_factors"))),
        _main_code(config, kind, split),
    ]
    return "\n\n\n".join(part.strip("\n") for part in parts if part) + "\n"


def _needed(name, kind, source, spec, config_has_rates):
    return {
        "INPUT_SHAPE": source == "image", "WEIGHTS": source == "image",
        "TOKENIZER": kind == "text", "SEQUENCE_LENGTH": kind == "text",
        "PREPROCESSING": kind == "image", "FEATURES": source == "file" and not spec["keep_head"],
        "HEAD": not spec["keep_head"], "LAYER_FACTORS": bool(config_has_rates),
    }.get(name, True)


def _header(config, kind, run_id):
    what = f"as tune-widgets run {run_id} did" if run_id else "as a tune-widgets session was set up"
    strategy = config.get("strategy")
    note = (f"\nThe run trained under {strategy['name']} ({strategy['replicas']} replicas): build and compile "
            f"inside strategy.scope() to do the same.\n" if strategy else "")
    if kind == "text":
        note += ("\nWhere encoder layers train, tune-widgets feeds batches of similar length; this script feeds\n"
                 "padded shuffled batches: the same examples, grouped otherwise, so metrics differ slightly.\n")
    needs = ["keras", "numpy"] + (["keras-hub", "transformers"] if kind == "text" else []) + (
        ["pillow (image folders)"] if kind == "image" else [])
    return f'''#!/usr/bin/env python
"""Fine-tune {what}, in plain Keras (exported {time.strftime("%Y-%m-%d")}).

Needs {", ".join(needs)}; not tune-widgets.

    python this_script.py --data PATH [--validation PATH] [--epochs N] [--weights FILE.weights.h5]
                          [--save FILE.keras] [--history FILE.json]

{textwrap.fill(f"PATH is {DATA_FORMS[kind]}.", 100)}
--weights starts from a run's weights (its last.weights.h5 or best.weights.h5) instead of the
source's; --save writes the trained model; --history writes the metrics of each epoch as JSON.
{note}"""'''


_IMPORTS = '''
import argparse
import json
import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
'''

_LOADERS = {
    "text": '''
def load_data(path):
    """(texts, labels) from a CSV file with the columns 'text' and 'label'."""
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], class_numbers([row["label"] for row in rows])
''',
    "image": '''
def load_data(path):
    """(images, labels): a folder of class subfolders (read as RGB at the first image's size), or an
    .npz file with arrays x and y."""
    if os.path.isdir(path):
        from PIL import Image

        images, labels, size = [], [], None
        for name in sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)) and not n.startswith(".")):
            folder = os.path.join(path, name)
            for file in sorted(os.listdir(folder)):
                if os.path.splitext(file)[1].lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"):
                    continue
                image = Image.open(os.path.join(folder, file)).convert("RGB")
                size = size or image.size
                images.append(np.asarray(image.resize(size), dtype="float32"))
                labels.append(name)
        return np.stack(images), class_numbers(labels)
    arrays = np.load(path, allow_pickle=False)
    images = np.asarray(arrays["x"], dtype="float32")
    return (images[..., None] if images.ndim == 3 else images), class_numbers(arrays["y"].tolist())
''',
    "array": '''
def load_data(path):
    """(examples, labels) from an .npz file with arrays x and y."""
    arrays = np.load(path, allow_pickle=False)
    return np.asarray(arrays["x"], dtype="float32"), class_numbers(arrays["y"].tolist())
''',
}

_SPLIT = '''
def class_numbers(labels):
    """Labels as class numbers: a class name is looked up in CLASS_NAMES, a number is kept."""
    lookup = {name: number for number, name in enumerate(CLASS_NAMES)}
    return np.array([lookup[str(label)] if str(label) in lookup else int(label) for label in labels], dtype="int32")


def take(examples, indices):
    return [examples[i] for i in indices] if isinstance(examples, list) else examples[indices]


def split(labels, fraction, seed):
    """(train indices, validation indices): per class, a seeded shuffle holds out `fraction` and
    keeps at least one example for training (tune-widgets' set_data split, step for step)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in range(len(CLASS_NAMES)):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_held = int(round(len(members) * fraction)) if len(members) > 1 else 0
        n_held = min(n_held, len(members) - 1)
        held += members[:n_held].tolist()
        train += members[n_held:].tolist()
    return rng.permutation(train), rng.permutation(held)
'''

_ENCODERS = {
    "text": '''
def encoder():
    """Texts to the encoder's inputs: token ids, padding mask and segment ids, SEQUENCE_LENGTH long."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER, local_files_only=True)
    pad = tokenizer.pad_token_id or 0

    def encode(texts, model):
        ids = tokenizer(list(texts), truncation=True, max_length=SEQUENCE_LENGTH)["input_ids"]
        token_ids = np.full((len(ids), SEQUENCE_LENGTH), pad, dtype="int32")
        mask = np.zeros((len(ids), SEQUENCE_LENGTH), dtype="int32")
        for row, sequence in enumerate(ids):
            token_ids[row, :len(sequence)] = sequence
            mask[row, :len(sequence)] = 1
        return {"token_ids": token_ids, "padding_mask": mask, "segment_ids": np.zeros_like(token_ids)}

    return encode
''',
    "image": '''
def encoder():
    """Images resized to the model's input, channels matched, then its preprocess_input."""
    import importlib

    preprocess = importlib.import_module(PREPROCESSING).preprocess_input if PREPROCESSING else None

    def encode(images, model):
        height, width, channels = model.inputs[0].shape[1:]
        if images.shape[-1] != channels:
            images = np.repeat(images, 3, axis=-1) if channels == 3 else images.mean(axis=-1, keepdims=True)
        if (height, width) != images.shape[1:3] and height and width:
            images = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (height, width)))
        return np.asarray(preprocess(images.copy()) if preprocess else images, dtype="float32")

    return encode
''',
    "array": '''
def encoder():
    """Arrays go to the model as they are."""
    return lambda examples, model: examples
''',
}

_TOKEN_POOLING = '''
class TokenPooling(keras.layers.Layer):
    """The first ([CLS]) token of the encoder's output, or its mean over the real tokens."""

    def __init__(self, mode="cls", **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, sequence, padding_mask):
        if self.mode == "cls":
            return sequence[:, 0, :]
        weights = keras.ops.expand_dims(keras.ops.cast(padding_mask, sequence.dtype), -1)
        total = keras.ops.sum(sequence * weights, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
'''


def _model_code(spec, source, kind, head):
    if source == "image":
        base = ('    base = getattr(keras.applications, SOURCE)(include_top=False, weights=WEIGHTS, '
                'input_shape=INPUT_SHAPE)\n    x = base.output\n')
    elif source == "text":
        base = ('    import keras_hub\n\n    base = keras_hub.models.Backbone.from_preset(SOURCE)\n'
                '    x = base.output["sequence_output"]\n')
    else:
        base = ('    # Files saved by tune-widgets name two of its classes; plain Keras equivalents stand in.\n'
                '    saved = {"tune_widgets>FineTuneModel": keras.Model'
                + (', "tune_widgets>TokenPooling": TokenPooling' if kind == "text" else "")
                + '}\n    base = keras.saving.load_model(SOURCE, compile=False, custom_objects=saved)\n')
        if spec["keep_head"]:
            return ('def build_model():\n    """The model from SOURCE, its own head kept."""\n' + base
                    + '    return keras.Model(base.inputs, base.outputs)\n')
        base += '    x = keras.tree.flatten(base.get_layer(FEATURES).output)[0]\n'
    pooling = head.get("pooling") or spec.get("pooling") or ("cls" if kind == "text" else "avg")
    if kind == "text":
        pool = (f'    x = TokenPooling({pooling!r}, name="head_pooling")(x, base.get_layer("padding_mask").output)\n')
    elif spec.get("features_rank") == 4:
        layer = {"avg": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D", "flatten": "Flatten"}[pooling]
        pool = f'    x = keras.layers.{layer}(name="head_pooling")(x)\n'
    elif (spec.get("features_rank") or 2) > 2:
        pool = '    x = keras.layers.Flatten(name="head_pooling")(x)\n'
    else:
        pool = ""
    dropout = ('    x = keras.layers.Dropout(HEAD["dropout"], name="head_dropout")(x)\n' if head.get("dropout") else "")
    return ('def build_model():\n    """The source model with the run\'s head: pooling, dropout, Dense."""\n' + base + pool
            + dropout + '    outputs = keras.layers.Dense(len(CLASS_NAMES), activation=HEAD["activation"], '
            'name="head_dense")(x)\n    return keras.Model(base.inputs, outputs)\n')


_IN_INFERENCE = '''
class InInference(keras.layers.Layer):
    """Runs a frozen layer in inference mode while the rest of the model trains.

    Keras 3 passes the outer training=True to every layer of a functional model, even one built
    with training=False, so frozen Dropout would still drop. Wrapped, a frozen layer always runs
    with training=False: no dropout, BatchNormalization on its moving statistics.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_in_inference", **kwargs)
        self.layer = layer

    def call(self, *args, **kwargs):
        kwargs.pop("training", None)
        return self.layer(*args, training=False, **kwargs)


def freeze(model):
    """The model with the layers in FROZEN frozen and run in inference mode; it shares the
    model's weights, so the model itself is the one to save."""
    frozen = set(FROZEN)
    for layer in model.layers:
        layer.trainable = layer.name not in frozen
    return keras.models.clone_model(model, clone_function=lambda layer: InInference(layer) if (
        layer.name in frozen and not isinstance(layer, keras.layers.InputLayer)) else layer)
'''


def _schedule_code():
    """optim.Schedule's own source (the same arithmetic, step for step), after the module's
    functions it calls."""
    module = inspect.getmodule(Schedule)
    names = {name for method in vars(Schedule).values() if inspect.isfunction(method) for name in method.__code__.co_names}
    helpers = [inspect.getsource(getattr(module, name)).rstrip() for name in sorted(names)
               if inspect.isfunction(getattr(module, name, None)) and getattr(module, name).__module__ == module.__name__]
    source = inspect.getsource(Schedule)
    source = "\n\n\n".join([*helpers, "\n".join(line for line in source.splitlines() if not line.startswith("@"))])
    return source.replace('"""The learning rate at each step for `OptimizerSpec.schedule` (see its docstring)."""',
                          '"""The learning rate at each step: constant, cosine, warmup_cosine or one_cycle."""')


def _rates_code(optimizer):
    """tune-widgets' per-layer rate mixin (training/layer_rates.py) after the Keras internals it
    calls (the script cannot import tune_widgets), and the optimizer class it makes."""
    base = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}[optimizer["optimizer"]]
    called = {name: value for method in vars(LayerRates).values() if inspect.isfunction(method)
              for name, value in inspect.getclosurevars(method).globals.items()
              if inspect.isfunction(value) and value.__module__ == keras_internals.__name__}
    helpers = "".join(inspect.getsource(called[name]).rstrip() + "\n\n\n" for name in sorted(called))
    return (helpers + inspect.getsource(LayerRates).rstrip() + f"\n\n\nclass LayerRate{base}(LayerRates, keras.optimizers.{base}):\n"
            f'    """{base} with a rate per layer: LAYER_FACTORS scales each layer\'s updates."""\n')


def _optimizer_code(optimizer, rates=False):
    rate = ('Schedule(OPTIMIZER["schedule"], OPTIMIZER["learning_rate"], total_steps, OPTIMIZER["warmup_fraction"], '
            'OPTIMIZER["final_lr_ratio"])' if optimizer["schedule"] != "constant" else 'OPTIMIZER["learning_rate"]')
    decay = 'OPTIMIZER["weight_decay"] or None'
    call = {
        "adam": f"keras.optimizers.Adam(learning_rate=rate, weight_decay={decay}, clipnorm=OPTIMIZER['clipnorm'])",
        "adamw": "keras.optimizers.AdamW(learning_rate=rate, weight_decay=OPTIMIZER['weight_decay'], "
                 "clipnorm=OPTIMIZER['clipnorm'])",
        "sgd": f"keras.optimizers.SGD(learning_rate=rate, momentum=OPTIMIZER['momentum'], nesterov=OPTIMIZER['nesterov'],\n"
               f"                                weight_decay={decay}, clipnorm=OPTIMIZER['clipnorm'])",
        "rmsprop": f"keras.optimizers.RMSprop(learning_rate=rate, momentum=OPTIMIZER['momentum'], weight_decay={decay},\n"
                   f"                                    clipnorm=OPTIMIZER['clipnorm'])",
    }[optimizer["optimizer"]]
    if rates:  # the per-layer class, given each trainable variable's factor
        base = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}[optimizer["optimizer"]]
        call = call.replace(f"keras.optimizers.{base}(", f"LayerRate{base}(factors=factors, ")
        return f'''
def build_optimizer(total_steps, model):
    """The run's optimizer; each trainable variable's updates scaled by its layer's factor."""
    factors = {{id(variable): LAYER_FACTORS[layer.name] for layer in model.layers if layer.name in LAYER_FACTORS
               for variable in layer.trainable_weights}}
    rate = {rate}
    return {call}
'''
    return f'''
def build_optimizer(total_steps, model):
    rate = {rate}
    return {call}
'''


def _main_code(config, kind, split):
    from_logits = config["head"].get("activation") == "linear" and not config["backbone"]["keep_head"]
    validation = ('    if args.validation:\n        validation = load_data(args.validation)\n'
                  '        train = (examples, labels)\n    else:\n'
                  '        train_index, held_index = split(labels, VALIDATION_SPLIT["validation"], VALIDATION_SPLIT["seed"])\n'
                  '        train = (take(examples, train_index), labels[train_index])\n'
                  '        validation = (take(examples, held_index), labels[held_index])\n')
    if split is None:
        validation = ('    if not args.validation:\n        parser.error("the run was validated on data of its own: '
                      'pass it with --validation PATH")\n    validation = load_data(args.validation)\n'
                      '    train = (examples, labels)\n')
    return f'''
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DATA, required=DATA is None, help="the training data (see above)")
    parser.add_argument("--validation", help="validation data of the same form, instead of the run's split")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--weights", help="start from these weights (a tune-widgets run's .weights.h5)")
    parser.add_argument("--save", help="write the trained model here (.keras, or .weights.h5 for weights only)")
    parser.add_argument("--history", help="write the metrics of each epoch here as JSON")
    args = parser.parse_args(argv)

    if SEED is not None:
        keras.utils.set_random_seed(SEED)
    examples, labels = load_data(args.data)
{validation}
    model = build_model()
    if args.weights:
        model.load_weights(args.weights)
    encode = encoder()
    x, y = encode(train[0], model), train[1]
    validation_data = (encode(validation[0], model), validation[1])

    trained = freeze(model)
    total_steps = math.ceil(len(y) / BATCH_SIZE) * args.epochs
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits={from_logits})
    trained.compile(optimizer=build_optimizer(total_steps, trained), loss=loss, metrics=["accuracy"])
    if SEED is not None:
        keras.utils.set_random_seed(SEED)
    history = trained.fit(x, y, epochs=args.epochs, batch_size=BATCH_SIZE, shuffle=True,
                          validation_data=validation_data, verbose=2)
    if args.history:
        with open(args.history, "w") as handle:
            json.dump(history.history, handle)
    if args.save:
        (model.save_weights if args.save.endswith(".weights.h5") else model.save)(args.save)


if __name__ == "__main__":
    main()
'''


def export_script(session, path, run=None, *, data=None, epochs=None):
    """Write a standalone Python script (plain Keras, KerasHub, transformers) that rebuilds
    a run's model, head, freeze plan and optimizer and trains it (see the module docstring).

    run: a run id or RunRecord; None exports the session as it is now, for `epochs` (by
    default the latest run's). data: the data path written into the script (it also takes
    --data). `Session.export_script` is this function.
    """
    if run is None:
        session.require_model()
        if session.train_data is None:
            raise StateError("There is no training data: call set_data(...) first, or export a run.")
        latest = session.runs[-1].config if session.runs else {}
        config = run_config(session, epochs or latest.get("epochs", 1), session.batch_size, latest.get("seed"))
        return write_script(path, config, data=data)
    run_id = run.run_id if isinstance(run, RunRecord) else run
    record = next((r for r in session.runs if r.run_id == run_id), None)
    if record is not None:
        config = with_kept_architecture(record.config, session.run_store.folders.get(run_id))
        return write_script(path, config, data=data, run_id=run_id)
    stored = session.run_store.open(run)
    return write_script(path, with_kept_architecture(stored.config, stored.folder), data=data, run_id=stored.run_id)


def with_kept_architecture(config, folder):
    """A run of an in-memory keras.Model names no source a script could rebuild, but its folder
    keeps the model as a .keras file (see `architecture`): the config with that file as its source."""
    kept = folder / architecture.FILE if folder is not None else None
    if config["model"] != IN_MEMORY or kept is None or not kept.is_file():
        return config
    return {**config, "model": str(kept.absolute())}
