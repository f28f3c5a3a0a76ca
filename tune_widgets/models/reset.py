"""What `Session.reset` returns to: the model as it was before its first fit.

At load the session keeps one `WeightSnapshot` of the loaded model (the pretrained weights, and a
user model's own head); each head the session puts on is snapshotted as it is built (a few
kilobytes). The random-number states of dropout layers are kept too: with them, a fit after a
reset with the same seed repeats the first fit exactly, so two freeze points can be compared
from one starting point. Restoring assigns every value back, bit for bit, without reloading or
rebuilding anything: a room can start over in well under a second.
"""

import dataclasses
import math

import numpy as np

from .snapshot import WeightSnapshot


@dataclasses.dataclass(frozen=True, eq=False)
class StartingPoint:
    pretrained: WeightSnapshot  # every weight of the loaded model
    head: WeightSnapshot | None = None  # the session's own head, as built
    random_states: tuple = ()  # (variable, value) for each dropout's seed state in the loaded model
    head_random_states: tuple = ()  # and in the head
    adapters: WeightSnapshot | None = None  # LoRA adapters as they were added (Session.add_lora)

    @classmethod
    def of(cls, backbone):
        return cls(WeightSnapshot.of(backbone.model), random_states=_random_states(backbone.model, set()))

    def with_head(self, model, backbone):
        """This starting point with the current weights of `model`'s layers that the loaded
        model does not have (the head the session just put on)."""
        loaded = {id(variable) for variable in backbone.model.variables}
        head = {variable.path: np.array(variable) for variable in model.weights if id(variable) not in loaded}
        return dataclasses.replace(self, head=WeightSnapshot(head) if head else None,
                                   head_random_states=_random_states(model, loaded))

    def with_adapters(self, values):
        """This starting point with LoRA adapters as just added ({weight path: value})."""
        kept = self.adapters.values if self.adapters is not None else {}
        return dataclasses.replace(self, adapters=WeightSnapshot({**kept, **values}))

    def restore(self, backbone, model):
        """Assign the pretrained weights into the loaded model, the head's into `model`, the
        adapters it still holds back to their values as added, and the random states back
        into their layers."""
        self.pretrained.restore(backbone.model)
        if self.head is not None and model is not None:
            self.head.restore(model)
        if self.adapters is not None:
            graph = model if model is not None else backbone.model
            held = {variable.path for variable in graph.weights}
            WeightSnapshot({p: v for p, v in self.adapters.values.items() if p in held}).restore(graph)
        for variable, value in (*self.random_states, *self.head_random_states):
            variable.assign(value)

    def drift(self, model):
        """{layer name: ‖w − w₀‖ / ‖w₀‖} for each top-level layer of `model` holding weights this
        starting point kept: how far training has moved it from the weights it was loaded (or
        built, or added) with. Zero for a layer no fit has changed since, and after `restore`."""
        return {name: distance / size if size else distance
                for name, (distance, size) in self.distances([(layer.name, layer.weights) for layer in model.layers])}

    def distances(self, groups):
        """[(key, (‖w − w₀‖, ‖w₀‖))] for each (key, variables) group holding weights this starting
        point kept (the others are left out)."""
        kept = {**self.pretrained.values, **(self.head.values if self.head else {}),
                **(self.adapters.values if self.adapters else {})}
        found = []
        for key, variables in groups:
            pairs = [(np.asarray(variable), kept[variable.path]) for variable in variables if variable.path in kept]
            if pairs:
                found.append((key, (math.sqrt(sum(_squares(now - start) for now, start in pairs)),
                                    math.sqrt(sum(_squares(start) for _, start in pairs)))))
        return found

    @property
    def nbytes(self):
        return self.pretrained.nbytes + (self.head.nbytes if self.head is not None else 0)


def _squares(array):
    """The sum of squares of `array`, as one BLAS dot product (MiniLM's 22 M weights in ~10 ms)."""
    flat = np.ravel(array)
    return float(np.dot(flat, flat))


def _random_states(model, skip):
    """(variable, value) for the model's variables that are not weights (the seed states),
    except those whose id is in `skip`."""
    weights = {id(variable) for variable in model.weights}
    return tuple((variable, np.array(variable)) for variable in model.variables
                 if id(variable) not in weights and id(variable) not in skip)
