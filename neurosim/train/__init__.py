"""Training: readouts of reservoir states (ridge, RLS/FORCE, LMS, classifiers)."""
from . import readouts
from .readouts import (
    LMSState,
    Readout,
    RidgeCV,
    RLSState,
    accuracy,
    classify,
    force_update,
    lms_fit,
    lms_init,
    lms_update,
    predict,
    ridge,
    ridge_classifier,
    ridge_cv,
    rls_fit,
    rls_init,
    rls_update,
    softmax_classifier,
    time_series_folds,
    train_test_split,
)

__all__ = [
    "LMSState", "RLSState", "Readout", "RidgeCV", "accuracy", "classify", "force_update", "lms_fit", "lms_init",
    "lms_update", "predict", "readouts", "ridge", "ridge_classifier", "ridge_cv", "rls_fit", "rls_init", "rls_update",
    "softmax_classifier", "time_series_folds", "train_test_split",
]
