"""Every name of the store format, in one place: folders, files, HDF5 paths and attributes.

No other module spells a path or an attribute name of a store; they call the
functions and use the constants below, so the format has one owner and
``docs/store.md`` one list to be checked against. Parameter names inside a
checkpoint (``blocks.<layer>.layer.weight``) are the models package's
(:func:`redundancy.models.param_name`).

A store folder::

    <store>/
        index.h5                       spec, provenance, plan, failures; external links
                                       /runs/<run>            -> stages/<train id>.h5:/
                                       /studies/<run>/<study> -> stages/<study id>.h5:/
        stages/<stage id>.h5           one finished stage (train run or study)
        stages/broken/                 stage files that failed validation, moved aside
        stages/stale/                  stages of earlier versions of the spec, moved aside by ``gc``
        resume/<stage id>.pt           the last resume state of a training stage still running or killed
                                       (torch.save of tensors and plain containers; removed once stored)
        progress/<stage id>.json       a running training's curves so far (JSON; removed once its stage
                                       is stored or has failed; never a stage, whatever it holds)
        .writer.lock                   the writer's lock (pid, host, command inside)
        .redundancy-journal            the writers that wrote here: one JSON line each (pid, host, token)
        .redundancy-<pid>-<token>-<name>.tmp
                                       <name> being written by process <pid> (any folder above); a
                                       temporary is removed only when its writer is in the journal and gone
    <store>.replaced-<time>/           the store entries of an older store, moved aside by ``run --replace``

A train stage file holds ``checkpoints/<iteration:08d>/<parameter>`` and
``metrics/<series>``; a study stage file holds ``results/<path>``.
"""

from __future__ import annotations

import re

#: Written on the root of every stage file and of ``index.h5``.
FORMAT_VERSION = 1

# --- folders and files ----------------------------------------------------------------------------

INDEX = "index.h5"
STAGES = "stages"
STAGE_SUFFIX = ".h5"
BROKEN = "broken"
STALE = "stale"
LOCK = ".writer.lock"
RESUME = "resume"
RESUME_SUFFIX = ".pt"
PROGRESS = "progress"
PROGRESS_SUFFIX = ".json"
TMP_SUFFIX = ".tmp"
TMP_PREFIX = ".redundancy-"
JOURNAL = ".redundancy-journal"
#: The store's own folders: each must be a real folder inside the store (never a symbolic link).
OWN_FOLDERS = ((STAGES,), (STAGES, BROKEN), (STAGES, STALE), (RESUME,), (PROGRESS,))
#: The entries of a store folder that are the store's (``run --replace`` moves these, and only these, aside).
ENTRIES = (INDEX, STAGES, RESUME, PROGRESS, JOURNAL)
#: ``redundancy run --replace`` moves an old store to the sibling ``<store>.replaced-<time>``.
REPLACED_TAG = "replaced"


def stage_file(stage_id: str) -> str:
    """A stage's file name inside ``stages/``."""
    return f"{stage_id}{STAGE_SUFFIX}"


def resume_file(stage_id: str) -> str:
    """A training stage's resume state file name inside ``resume/``."""
    return f"{stage_id}{RESUME_SUFFIX}"


def progress_file(stage_id: str) -> str:
    """A running training's progress file name inside ``progress/``."""
    return f"{stage_id}{PROGRESS_SUFFIX}"


def stage_link_target(stage_id: str) -> str:
    """The file an index link points to, relative to the store folder."""
    return f"{STAGES}/{stage_file(stage_id)}"


def tmp_name(final_name: str, pid: int, token: str) -> str:
    """The temporary name under which process ``pid`` (journaled with ``token``) writes ``final_name`` (same folder)."""
    return f"{TMP_PREFIX}{pid}-{token}-{final_name}{TMP_SUFFIX}"


_TMP = re.compile(re.escape(TMP_PREFIX) + r"(?P<pid>[0-9]+)-(?P<token>[0-9a-f]{16})-(?P<final>.+)" + re.escape(TMP_SUFFIX) + "$")


def tmp_writer(name: str) -> tuple[int, str] | None:
    """The (pid, token) a temporary's name carries, or None when ``name`` is not a temporary of this format."""
    m = _TMP.fullmatch(name)
    return (int(m.group("pid")), m.group("token")) if m else None


# --- HDF5 paths inside stage files ------------------------------------------------------------------

CHECKPOINTS = "checkpoints"
METRICS = "metrics"
RESULTS = "results"


def checkpoint_group(iteration: int) -> str:
    return f"{CHECKPOINTS}/{iteration:08d}"


def checkpoint_path(iteration: int, parameter: str) -> str:
    return f"{checkpoint_group(iteration)}/{parameter}"


def metric_path(name: str) -> str:
    return f"{METRICS}/{name}"


def result_path(path: str) -> str:
    return f"{RESULTS}/{path}"


def split_dataset_path(path: str) -> tuple[str, str]:
    """``("checkpoints", "00000100/blocks.fc1.layer.weight")`` from a dataset path."""
    head, _, rest = path.partition("/")
    return head, rest


def split_checkpoint(rest: str) -> tuple[int, str]:
    """``(100, "blocks.fc1.layer.weight")`` from the part of a checkpoint path after ``checkpoints/``."""
    it, _, name = rest.partition("/")
    return int(it), name


# --- links inside index.h5 ---------------------------------------------------------------------------

RUNS_GROUP = "runs"
STUDIES_GROUP = "studies"


def run_link(run_label: str) -> str:
    return f"{RUNS_GROUP}/{run_label}"


def study_link(run_label: str, study_name: str) -> str:
    return f"{STUDIES_GROUP}/{run_label}/{study_name}"


# --- attributes ---------------------------------------------------------------------------------------

# every file
A_FORMAT_VERSION = "format_version"
A_SPEC_NAME = "spec_name"

# every stage file
A_STAGE_ID = "stage_id"
A_STAGE_KIND = "stage_kind"
A_CONFIG = "config"
A_IDENTITY = "identity"
A_RUN = "run"
A_CHECKSUM = "checksum"

# stage kinds
KIND_TRAIN = "train"
KIND_STUDY = "study"

# train stage files
A_GRID_POINT = "grid_point"
A_MODEL = "model"
A_WIDTH = "width"
A_DATASET = "dataset"
A_DATA_SOURCE = "data_source"
A_OFFLINE_SUBSET = "offline_subset"
A_DATA_SHA256 = "data_sha256"  # JSON: SHA-256 of each loaded array (train_x ... test_y)
A_DATA_FILES = "data_files"  # JSON: SHA-256 of each file the loader read, by file name
A_SEED = "seed"
A_ITERATIONS = "iterations"
A_BEST_ITERATION = "best_iteration"
A_CHECKPOINT_ITERATIONS = "checkpoint_iterations"
A_TEST_ACCURACY = "test_accuracy"
A_TEST_ACCURACY_AT_BEST = "test_accuracy_at_best"
A_BEST_VAL_LOSS = "best_val_loss"
#: Imported runs only: what their spec says the checkpoints were trained on (``declared``: data.split;
#: ``redundancy``: load_data's data; ``unknown``: not said, so the test set may not be unseen).
A_DATA_CONTRACT = "data_contract"
#: Imported runs only: the sentence ``run`` printed about the data they are evaluated under.
A_DATA_CONTRACT_TEXT = "data_contract_text"

# study stage files
A_STUDY_KIND = "study_kind"
A_STUDY = "study"
A_RUN_STAGE_ID = "run_stage_id"
A_SUMMARY = "summary"
A_CURVES = "curves"
A_RESULTS = "results"  # typed results as one JSON object (docs/results.md), read when a stage has it
RESULT_ATTR_PREFIX = "result_"


def result_attr(name: str) -> str:
    """A study's own scalar attribute (``StudyResult.attrs``) on its stage file."""
    return f"{RESULT_ATTR_PREFIX}{name}"


# index.h5
A_SPEC_TEXT = "spec_text"
A_SPEC_RESOLVED = "spec_resolved"
A_SPEC_PATH = "spec_path"
A_SPEC_HISTORY = "spec_history"
A_PLAN = "plan"
A_FAILURES = "failures"

# provenance, on every stage file and on index.h5
A_REDUNDANCY_VERSION = "redundancy_version"
A_TORCH_VERSION = "torch_version"
A_CUDA_VERSION = "cuda_version"
A_PYTHON_VERSION = "python_version"
A_DEVICE = "device"
A_HOST = "host"
A_CREATED = "created"
A_GIT_COMMIT = "git_commit"
A_DEVICE_TYPE = "device_type"
A_THREADS = "threads"
A_INTEROP_THREADS = "interop_threads"
A_PARALLEL_BACKEND = "parallel_backend"
A_BLAS = "blas"
A_CPU_CAPABILITY = "cpu_capability"
A_NUMPY_VERSION = "numpy_version"
A_SCIPY_VERSION = "scipy_version"
A_H5PY_VERSION = "h5py_version"
A_HDF5_VERSION = "hdf5_version"
A_NUMPY_BLAS = "numpy_blas"  # NumPy's BLAS library and version, e.g. "openblas 0.3.31"
A_NUMPY_BLAS_CORETYPE = "numpy_blas_coretype"  # the kernels it picked for this CPU, e.g. "SkylakeX"
A_NUMPY_SIMD = "numpy_simd"  # NumPy's dispatched SIMD targets this CPU enables, e.g. "X86_V3 X86_V4 AVX512_ICL"
A_CPU_MODEL = "cpu_model"  # vendor and model name, e.g. "AuthenticAMD AMD EPYC"
A_NUMERIC_ENV = "numeric_env"  # JSON: environment variables that change kernels or rounding, when set
PROVENANCE = (
    A_REDUNDANCY_VERSION,
    A_TORCH_VERSION,
    A_CUDA_VERSION,
    A_PYTHON_VERSION,
    A_DEVICE,
    A_HOST,
    A_CREATED,
    A_GIT_COMMIT,
    A_DEVICE_TYPE,
    A_THREADS,
    A_INTEROP_THREADS,
    A_PARALLEL_BACKEND,
    A_BLAS,
    A_CPU_CAPABILITY,
    A_NUMPY_VERSION,
    A_SCIPY_VERSION,
    A_H5PY_VERSION,
    A_HDF5_VERSION,
    A_NUMPY_BLAS,
    A_NUMPY_BLAS_CORETYPE,
    A_NUMPY_SIMD,
    A_CPU_MODEL,
    A_NUMERIC_ENV,
)
# The part of the provenance that marks a store as mixed when its stages disagree on it: library
# versions, BLAS and CPU capability (redundancy.store.environment). Host, time, threads and the
# project's own version are provenance only.
ENVIRONMENT = (
    A_TORCH_VERSION,
    A_CUDA_VERSION,
    A_NUMPY_VERSION,
    A_SCIPY_VERSION,
    A_H5PY_VERSION,
    A_BLAS,
    A_CPU_CAPABILITY,
    A_NUMPY_BLAS,
    A_NUMPY_BLAS_CORETYPE,
)
# Everything that decides the last bits of a CPU result besides the spec: where two stages agree on
# all of it, the same spec gives bit-identical results (README, "Same spec, same bits"; the golden
# test is exact only then).
BIT_IDENTITY = (
    *ENVIRONMENT,
    A_NUMPY_SIMD,
    A_CPU_MODEL,
    A_NUMERIC_ENV,
    A_THREADS,
    A_PARALLEL_BACKEND,
    A_PYTHON_VERSION,
    A_DEVICE_TYPE,
)
