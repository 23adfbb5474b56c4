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
# time; neither is installed (tensor2tensor is installed --no-deps and nothing this project runs needs them).
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


# --- Shim 2: tf_slim 1.1.0 looks for classes TF 2.15 moved out of tensorflow.python.framework.ops ---------------
# T2T's optimizer goes through tf_slim.layers.optimizers.optimize_loss.
# Errors fixed (first training step's graph construction):
#   tf_slim/layers/optimizers.py:172  AttributeError: module 'tensorflow.python.framework.ops' has no
#                                     attribute 'Tensor'
#   tf_slim/layers/optimizers.py:274  AttributeError: module 'tensorflow.python.framework.ops' has no
#                                     attribute 'IndexedSlices'
def _restore_tf_slim_expectations():
    from tensorflow.python.framework import ops
    if not hasattr(ops, "Tensor"):
        from tensorflow.python.framework import tensor
        ops.Tensor = tensor.Tensor
    if not hasattr(ops, "IndexedSlices"):
        from tensorflow.python.framework import indexed_slices
        ops.IndexedSlices = indexed_slices.IndexedSlices


# --- Shim 3: TF1 behaviour ----------------------------------------------------------------------------------
# T2T 1.15 is TF1 graph code. Under TF 2.x defaults, training happens to run, but with Keras layers (variable
# names like transformer/parallel_0_5/transformer/transformer/body/...) and export's beam search fails:
#   tensor2tensor/utils/expert_utils.py:189 daisy_chain_getter -> TypeError: Tensor is unhashable. Instead,
#   use tensor.ref() as the key.   (`python -m trainer.t2t_cli export ...`, V2 tensor equality)
def _tf1_behaviour():
    import tensorflow.compat.v1 as tf
    tf.disable_v2_behavior()


# --- Shim 4: reset common_layers' cached layers module -------------------------------------------------------
# tensor2tensor.layers.common_layers.layers() caches, on its first call (at import time of T2T's models), the
# layers module matching the TF mode of that moment. If tensor2tensor was imported before Shim 3 switched to
# TF1 behaviour, training keeps using Keras layers, whose kernels get saved as
# `transformer/parallel_0_5/transformer/transformer/body/.../q/kernel` instead of `transformer/body/.../q/kernel`,
# and a later export (built in TF1 mode) cannot restore the checkpoint:
#   ValueError: Could not load all requested variables from checkpoint. Please make sure your model_fn does
#   not expect variables that were not saved in the checkpoint.
#   (preceded by RuntimeError: Key _CHECKPOINTABLE_OBJECT_GRAPH not found in checkpoint)
# Fix: forget the cached module so the next call picks the layers for TF1 mode, before any graph is built.
def _reset_cached_layers():
    common_layers = sys.modules.get("tensor2tensor.layers.common_layers")
    if common_layers is not None:
        common_layers._cached_layers = None  # pylint: disable=protected-access


def apply():
    """Apply every shim once (safe to call again)."""
    global _applied
    if _applied:
        return
    _make_optional_dependencies_optional()
    _restore_tf_slim_expectations()
    _tf1_behaviour()
    _reset_cached_layers()
    _applied = True
