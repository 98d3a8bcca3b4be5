"""
Import hook that registers ``paper_dqn`` with rl-zoo3 the moment rl-zoo3's own modules load.

Why a hook: rl-zoo3 has no plugin mechanism. ``train.py``, ``enjoy.py``, ``record_video.py``,
``push_to_hub.py`` and ``load_from_hub.py`` build their ``--algo`` choices from the plain dict
``rl_zoo3.utils.ALGOS`` when they are imported, before ``--gym-packages`` is read, so ``paper_dqn``
must already be in that dict when ``rl_zoo3.utils`` has finished executing.

How it is installed: the wheel ships ``sb3_dqn_paper_zoo.pth`` in ``site-packages``. At interpreter
start ``site`` runs its single ``import`` line, which imports this module (standard library only; the
package's ``__init__`` is lazy, so neither torch, Stable-Baselines3 nor rl-zoo3 is imported) and calls
:func:`install`. That puts a finder at the front of ``sys.meta_path`` which ignores every module except
the three rl-zoo3 modules below. For those it lets the normal finders locate the module and wraps the
loader so that, right after the module's code has run, :mod:`sb3_dqn_paper.zoo.registration` adds
``paper_dqn`` to it:

- ``rl_zoo3.utils``: ``ALGOS["paper_dqn"] = PaperDQN`` (after checking the rl-zoo3 version),
- ``rl_zoo3.hyperparams_opt``: the Optuna sampler and converter,
- ``rl_zoo3.exp_manager``: the package's ``paper_dqn.yml`` as the default ``-conf``, NaN trials pruned, exact resume
  from ``-i CHECKPOINT``, checkpoints for ``--save-freq`` (see :mod:`sb3_dqn_paper.zoo.resume`).

Set the environment variable ``SB3_DQN_PAPER_ZOO_HOOK=0`` to switch the hook off (rl-zoo3 is then left
untouched); ``python -m sb3_dqn_paper.zoo train ...`` still registers explicitly.
"""

from __future__ import annotations

import sys

from sb3_dqn_paper.zoo.switch import DISABLE_VARIABLE, hook_enabled

# Standard library only, and not even ``typing``: this module is imported at every interpreter start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType
    from typing import Any

__all__ = ["DISABLE_VARIABLE", "WATCHED_MODULES", "RLZooRegistrationFinder", "hook_enabled", "install", "uninstall"]

#: rl-zoo3 modules the hook patches, and the function of ``sb3_dqn_paper.zoo.registration`` that patches each.
WATCHED_MODULES = {
    "rl_zoo3.utils": "register_algo",
    "rl_zoo3.hyperparams_opt": "register_sampler",
    "rl_zoo3.exp_manager": "register_experiment_manager",
}


class _PatchAfterExecLoader:
    """
    Loader wrapper: runs the real loader, then the registration function for the module.

    Every other attribute (``get_resource_reader``, ``is_package``, ...) is forwarded to the real loader.

    :param loader: The loader the normal import machinery found
    :param patch_name: Name of the function in ``sb3_dqn_paper.zoo.registration`` to call with the module
    """

    def __init__(self, loader: Any, patch_name: str) -> None:
        self._loader = loader
        self._patch_name = patch_name

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        # Later imports and pickles should see the real loader, not this wrapper
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        from sb3_dqn_paper.zoo import registration

        getattr(registration, self._patch_name)(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class RLZooRegistrationFinder:
    """
    Meta path finder that only reacts to :data:`WATCHED_MODULES` and defers the search to the other finders.
    """

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        """
        Find the spec of a watched rl-zoo3 module with the other finders and wrap its loader.

        :param fullname: Fully qualified module name
        :param path: The parent package's ``__path__``
        :param target: Module being reloaded, if any
        :return: The wrapped spec, or ``None`` for every module that is not watched
        """
        patch_name = WATCHED_MODULES.get(fullname)
        if patch_name is None or not hook_enabled():
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, RLZooRegistrationFinder):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchAfterExecLoader(spec.loader, patch_name)
        return spec


def install() -> None:
    """
    Put the finder at the front of ``sys.meta_path`` (once), unless ``SB3_DQN_PAPER_ZOO_HOOK=0``.

    Modules rl-zoo3 already imported before this call are patched at once.
    """
    if not hook_enabled():
        return
    if not any(isinstance(finder, RLZooRegistrationFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, RLZooRegistrationFinder())
    already_loaded = [name for name in WATCHED_MODULES if name in sys.modules]
    if already_loaded:
        from sb3_dqn_paper.zoo import registration

        for name in already_loaded:
            getattr(registration, WATCHED_MODULES[name])(sys.modules[name])


def uninstall() -> None:
    """Remove the finder from ``sys.meta_path`` (what is already registered stays registered)."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, RLZooRegistrationFinder)]
