"""Evaluation as data: confusion matrix, per-class precision/recall/F1, the worst examples; for
regression, MSE, MAE, RMSE, R² and the examples with the largest errors."""

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


@dataclasses.dataclass(frozen=True, eq=False)
class RegressionExample:
    """One badly predicted example of a regression: where it is, its target, the prediction."""

    index: int
    example: object
    true: float
    predicted: float
    error: float  # predicted - true


@dataclasses.dataclass(frozen=True, eq=False)
class RegressionReport:
    """Mean squared error (the training loss), MAE, RMSE, R², and the predictions themselves
    (for a predicted-against-true plot and a residual histogram)."""

    mse: float
    mae: float
    rmse: float
    r2: float  # 1 - MSE / variance of the targets: 0 is as good as predicting their mean
    true: np.ndarray
    predicted: np.ndarray
    worst: tuple  # RegressionExamples, largest absolute error first
    name: str = "validation"

    @property
    def residuals(self):
        return self.predicted - self.true

    def __repr__(self):
        return (f"RegressionReport({self.name}: {len(self.true)} examples, MSE={self.mse:.4f}, "
                f"MAE={self.mae:.4f}, RMSE={self.rmse:.4f}, R²={self.r2:.3f})")


def regression_report(predicted, targets, examples, k=5, name="validation"):
    """Build the report from predicted values and true targets."""
    predicted = np.asarray(predicted, dtype="float64").reshape(-1)
    true = np.asarray(targets, dtype="float64")
    errors = predicted - true
    mse = float(np.mean(errors ** 2))
    variance = float(np.var(true))
    order = np.argsort(-np.abs(errors), kind="stable")[:k]
    worst = tuple(RegressionExample(int(i), examples[int(i)], float(true[i]), float(predicted[i]), float(errors[i]))
                  for i in order)
    return RegressionReport(mse, float(np.mean(np.abs(errors))), float(np.sqrt(mse)),
                            1 - mse / variance if variance > 0 else float("nan"), true, predicted, worst, name)
