"""Exceptions raised by mlprod.

Every error a user can cause derives from :class:`MlprodError`. Messages say what failed, what was
expected, what was found and how to fix it, so the CLI can print them without a traceback.
"""

from __future__ import annotations


class MlprodError(Exception):
    """Root of all mlprod errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class ConfigError(MlprodError):
    """A configuration file (params.yaml, dvc.yaml, ...) is missing, unreadable or invalid."""


class ParamsError(ConfigError):
    """Stage parameters do not match the notebook's ``parameters`` cell."""


class FactsError(ParamsError):
    """The project's shared facts (target, features, ...) name columns a stage's data files lack."""


class OutputPathError(MlprodError):
    """An output cannot be written where it was asked to go: a device, named pipe or socket at the target, a
    file where a folder is expected (or the reverse), a symlinked output folder, or a place that is not writable."""


class NotebookError(MlprodError):
    """A notebook file cannot be read or is not a runnable Python notebook."""


class DataError(MlprodError):
    """A data file is missing, unreadable or does not have the expected columns or types."""


class ManifestError(MlprodError):
    """A model manifest is missing, malformed, or disagrees with the files it describes."""


class ModelFileError(MlprodError):
    """A model file is missing, corrupt, or uses classes or functions mlprod does not trust."""


class ExecutionError(MlprodError):
    """A notebook started but did not finish: a cell raised, the kernel died or a cell timed out."""

    exit_code = 1

    def __init__(self, message: str, *, record=None):
        super().__init__(message)
        self.record = record


class CellError(ExecutionError):
    """A cell raised an exception."""


class KernelDiedError(ExecutionError):
    """The kernel process exited or was killed while the notebook ran."""


class CellTimeoutError(ExecutionError):
    """A cell ran longer than the configured timeout."""


class RunStopped(ExecutionError):
    """The run was stopped by a signal (Ctrl-C, SIGTERM) before its results were saved.

    ``exit_code`` follows the shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
    """


class StageBusyError(MlprodError):
    """Another run of the same stage holds the stage's lock; nothing was run (exit code 75, "try again later")."""

    exit_code = 75


class DataValidationError(MlprodError):
    """Data failed the validation gate: at least one check failed under the policy (``result`` has all)."""

    exit_code = 1

    def __init__(self, message: str, *, result=None):
        super().__init__(message)
        self.result = result


class ProfileError(MlprodError):
    """A dataset profile cannot be built, merged or read (bad input, incompatible parts, invalid file)."""


class ScaleError(ConfigError):
    """The Dask scheduler is unreachable, the ``dask`` extra is missing, or a dataset cannot be split."""


class DriftError(MlprodError):
    """Drift detection cannot compare its inputs: unknown stat test, invalid settings, incompatible columns."""


class RetrainRequired(MlprodError):
    """Raised by the CLI's --fail-on-retrain when the drift report decides the model should be retrained."""

    exit_code = 1


class CardError(MlprodError):
    """A model card cannot be built: invalid ``card:`` section or settings, an unreadable input file."""


class RegistryError(MlprodError):
    """The model registry (MLflow) refused an operation: unknown model or version, conflicting registration."""


class RegistryUnreachable(RegistryError):
    """The model registry's tracking/registry URI cannot be reached or opened."""


class PromotionRejected(MlprodError):
    """A challenger failed its promotion gates (raised only when asked to fail on rejection; ``decision`` has all)."""

    exit_code = 1

    def __init__(self, message: str, *, decision=None):
        super().__init__(message)
        self.decision = decision


class StopRequested(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM, e.g. a CI timeout or ``kill``).

    The CLI raises it in the main thread, so a run stops as after Ctrl-C: the kernel is stopped, the
    partial notebook and a failed run record are kept, and the stage's new outputs are removed.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")



class MonitoringError(MlprodError):
    """The monitoring history cannot be updated: invalid settings, an unreadable predictions or labels file,
    a window summary of an unknown format."""


class RetrainRefused(MonitoringError):
    """``mlprod retrain`` will not start: no retraining decision, a dirty tree, no labelled rows in the window."""


class RetrainFailed(MonitoringError):
    """``mlprod retrain`` started on its branch but the training pipeline failed (the branch keeps what was done)."""

    exit_code = 1


class PredictionLogError(MlprodError):
    """The prediction log cannot be read or pruned: a segment of a newer schema version, invalid arguments."""


class ReviewError(MlprodError):
    """Routing to people cannot go on: no review band can be certified, a calibration file is missing, stale or
    malformed, or a reviewers' file has missing columns, unknown units or bad labels."""


class ExperimentError(MlprodError):
    """An experiment cannot be planned or analysed: invalid settings, missing columns, unknown arms (exit code 2,
    nothing written)."""


class SweepError(MlprodError):
    """A parameter sweep cannot start or an experiment cannot be applied: not a git/DVC project, a dirty tree where
    it matters, an unknown params.yaml key, bad grid syntax, an unknown experiment (exit code 2, nothing queued)."""


class SweepFailed(SweepError):
    """A sweep ran but some experiments failed, or an applied experiment's pipeline failed (exit code 1)."""

    exit_code = 1
