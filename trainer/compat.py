"""Every runtime shim tensor2tensor 1.15.7 needs to import, train and export under TensorFlow 2.15.1.

Call `apply()` (idempotent) before importing tensor2tensor's models, problems, trainer or datagen.
Nothing in site-packages is edited; each shim names the exact error it fixes.
"""
import importlib.util
import sys
import types

_applied = False

# --- Shim 1: optional gym / tensorflow_datasets ------------------------------------------------------------
# tensor2tensor's RL and env modules import `gym` (and moving_mnist imports `tensorflow_datasets`) at import
# time; neither is installed (gym's pinned versions do not build here, and nothing we run needs them).
# Errors fixed:
#   `from tensor2tensor import models`            -> ModuleNotFoundError: No module named 'gym'
#       (tensor2tensor/models/research/rl.py)
#   `from tensor2tensor import problems`          -> ModuleNotFoundError: No module named 'gym'
#       (all_problems re-raises for data_generators.gym_env, envs.mujoco_problems, envs.tic_tac_toe_env_problem)
#                                                 -> ModuleNotFoundError: No module named 'tensorflow_datasets'
#       (data_generators.moving_mnist)
#   `from tensor2tensor.bin import t2t_datagen`   -> ModuleNotFoundError: No module named 'gym'
#       (tensor2tensor/envs/__init__.py, envs/env_problem_utils.py)
# Fix: when the dependency is missing, those exact modules are replaced by placeholders, so the registries
# simply lack the RL/env/moving-mnist entries; touching a placeholder raises an AttributeError that says why.
_OPTIONAL_DEPENDENCY_MODULES = {
    "gym": (
        "tensor2tensor.models.research.rl",
        "tensor2tensor.data_generators.gym_env",
        "tensor2tensor.envs",
        "tensor2tensor.envs.env_problem_utils",
        "tensor2tensor.envs.mujoco_problems",
        "tensor2tensor.envs.tic_tac_toe_env_problem",
    ),
    "tensorflow_datasets": (
        "tensor2tensor.data_generators.moving_mnist",
    ),
}


class _Unavailable(types.ModuleType):
    """Stands in for a tensor2tensor module whose optional dependency is not installed."""

    def __init__(self, name, dependency):
        super().__init__(name, "Placeholder (trainer/compat.py): needs %r, which is not installed." % dependency)
        self.__ghsumm_missing_dependency__ = dependency

    def __getattr__(self, attr):
        raise AttributeError("%s is unavailable: it needs the %r package, which is not installed in this "
                             "environment (placeholder from trainer/compat.py); %r was requested"
                             % (self.__name__, self.__ghsumm_missing_dependency__, attr))


def _make_optional_dependencies_optional():
    for dependency, modules in _OPTIONAL_DEPENDENCY_MODULES.items():
        if importlib.util.find_spec(dependency) is not None:
            continue
        for name in modules:
            sys.modules.setdefault(name, _Unavailable(name, dependency))


def apply():
    """Apply every shim once (safe to call again)."""
    global _applied
    if _applied:
        return
    _make_optional_dependencies_optional()
    _applied = True
