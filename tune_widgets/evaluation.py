"""Evaluation as data: confusion matrix, per-class precision/recall/F1, the worst examples."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Example:
    """One misjudged example: where it is, what it is, what the model made of it."""

    index: int
    example: object  # the text, or the image array
    true: str
    predicted: str
    confidence: float  # the probability given to the true class
    loss: float


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationReport:
    class_names: tuple
    loss: float
    accuracy: float
    confusion: np.ndarray  # rows: true class, columns: predicted class
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    worst: tuple  # Examples with the highest loss first
    name: str = "validation"

    def per_class(self):
        """Rows of {"class", "precision", "recall", "f1", "support"}: a table for display."""
        return [
            {"class": name, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(self.class_names, self.precision, self.recall, self.f1, self.support)
        ]

    @property
    def macro_f1(self):
        return float(np.mean(self.f1))

    def __repr__(self):
        return (f"EvaluationReport({self.name}: {int(self.support.sum())} examples, loss={self.loss:.4f}, "
                f"accuracy={self.accuracy:.3f}, macro F1={self.macro_f1:.3f})")


def report(probabilities, labels, class_names, examples, k=5, name="validation"):
    """Build the report from predicted class probabilities and true integer labels."""
    probabilities = np.asarray(probabilities, dtype="float64")
    labels = np.asarray(labels, dtype=int)
    n_classes = len(class_names)
    predicted = probabilities.argmax(axis=1)
    true_probability = probabilities[np.arange(len(labels)), labels]
    losses = -np.log(np.clip(true_probability, 1e-12, 1.0))
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    hits = np.diag(confusion).astype(float)
    predicted_counts, support = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(hits, predicted_counts, out=np.zeros(n_classes), where=predicted_counts > 0)
    recall = np.divide(hits, support, out=np.zeros(n_classes), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(n_classes), where=both > 0)
    order = np.argsort(-losses, kind="stable")[:k]
    worst = tuple(
        Example(int(i), examples[int(i)], class_names[labels[i]], class_names[predicted[i]],
                float(true_probability[i]), float(losses[i]))
        for i in order
    )
    return EvaluationReport(tuple(class_names), float(losses.mean()), float((predicted == labels).mean()),
                            confusion, precision, recall, f1, support, worst, name)
