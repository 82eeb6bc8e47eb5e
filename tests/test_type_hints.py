"""Every public function and method of tinycnn's public API, and every reference kernel, has type hints.

The API: the public classes and functions *defined* in the modules below (an object imported from elsewhere is
checked in its own module), and of each class the methods defined in its body whose names are public, plus
``__init__`` and ``__call__`` (a property's getter and setter too). Every parameter but ``self``/``cls`` needs an
annotation (``*args`` and ``**kwargs`` included), and so does the return. A failure lists each one missing as
``module.Class.method(param)``, ``module.function(return)``.

The Numba engine (:data:`ENGINE_MODULES`: ``tinycnn.kernels.numba_*``, ``simd``, ``scratch``, ``threads``) is
checked at the level Python calls it: every kernel of the Numba backend's table (the ``@engine_call`` wrappers,
whose signature is the wrapped function's) and every other function those modules define in Python (``matmul``,
``scratch``, ``engine_call`` ...). The compiled kernels are not: ``njit`` turns a function ``_name`` into a
dispatcher (or, with ``NUMBA_DISABLE_JIT=1``, returns ``_name`` itself under its public name), and ``simd.tile``
is an LLVM intrinsic; Numba ignores annotations, and none are written there.
"""

import importlib
import inspect
import pkgutil

import pytest

from tinycnn import kernels
from tinycnn.kernels import backend as kernel_backend
from tinycnn.kernels import reference, reference_elementwise

#: Packages whose every module is checked.
PACKAGES = ("tinycnn.layers", "tinycnn.optimizers", "tinycnn.callbacks")
#: Single modules checked.
MODULES = (
    "tinycnn.losses",
    "tinycnn.metrics",
    "tinycnn.activations",
    "tinycnn.initializers",
    "tinycnn.regularizers",
    "tinycnn.utils",
    "tinycnn.models.model",
    "tinycnn.models.sequential",
    "tinycnn.models.inference",
    "tinycnn.models.training",
    "tinycnn.models.keras2",
    "tinycnn.models.data",
    "tinycnn.kernels",
    "tinycnn.kernels.backend",
    "tinycnn.kernels.reference",
    "tinycnn.kernels.reference_elementwise",
)
#: The modules of the Numba engine: their Python-level functions are checked (the compiled kernels are not).
ENGINE_MODULES = tuple(
    f"tinycnn.kernels.{name}"
    for name in (
        "numba_conv",
        "numba_pool",
        "numba_dense",
        "numba_elementwise",
        "numba_optimizers",
        "numba_im2col",
        "numba_direct",
        "numba_kernels",
        "simd",
        "scratch",
        "threads",
    )
)
#: Python-level functions of the engine the walk over :data:`ENGINE_MODULES` must find (so that a broken walk,
#: which would check nothing, fails).
ENGINE_FUNCTIONS = (
    "tinycnn.kernels.numba_dense.matmul",
    "tinycnn.kernels.numba_dense.tiles_apply",
    "tinycnn.kernels.simd.lanes",
    "tinycnn.kernels.simd.tile_numpy",
    "tinycnn.kernels.simd.enabled",
    "tinycnn.kernels.scratch.scratch",
    "tinycnn.kernels.scratch.line_chunks",
    "tinycnn.kernels.scratch.image_chunks",
    "tinycnn.kernels.scratch.buffer_info",
    "tinycnn.kernels.scratch.limit_bytes",
    "tinycnn.kernels.threads.start",
    "tinycnn.kernels.threads.info",
    "tinycnn.kernels.threads.engine_call",
)
#: Methods checked although their names start with an underscore.
DUNDERS = ("__init__", "__call__")


def public_modules():
    names = list(MODULES)
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        names += [f"{package_name}.{info.name}" for info in pkgutil.iter_modules(package.__path__)]
    return [importlib.import_module(name) for name in names]


def missing_annotations(function, where):
    """``where(param)`` for each parameter of ``function`` without an annotation, and ``where(return)``."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to read
        return []
    missing = [
        f"{where}({name})"
        for i, (name, parameter) in enumerate(signature.parameters.items())
        if parameter.annotation is inspect.Parameter.empty and not (i == 0 and name in ("self", "cls"))
    ]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append(f"{where}(return)")
    return missing


def class_methods(cls):
    """``(name, function)`` for each method defined in ``cls``'s own body that the API check covers."""
    for name, member in vars(cls).items():
        if name.startswith("_") and name not in DUNDERS:
            continue
        if isinstance(member, (staticmethod, classmethod)):
            yield name, member.__func__
        elif isinstance(member, property):
            for accessor in (member.fget, member.fset):
                if accessor is not None:
                    yield name, accessor
        elif inspect.isfunction(member):
            yield name, member


def api_functions(module):
    """``(qualified name, function)`` for each public function, and method of a public class, of ``module``."""
    seen = set()
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            if obj.__qualname__ != name:  # an alias (Convolution1D = Conv1D) is checked under its own name
                continue
            # the class and the bases it inherits from this module, private ones included (_RandomWarp)
            for cls in obj.__mro__:
                if cls.__module__ == module.__name__ and cls not in seen:
                    seen.add(cls)
                    for method_name, method in class_methods(cls):
                        yield f"{module.__name__}.{cls.__qualname__}.{method_name}", method
        elif inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj


def test_the_public_api_has_type_hints():
    checked, missing = 0, []
    for module in public_modules():
        for where, function in api_functions(module):
            checked += 1
            missing += missing_annotations(function, where)
    assert checked > 300, f"only {checked} functions found: is the walk over the modules broken?"
    assert not missing, f"{len(missing)} type hints missing:\n" + "\n".join(missing)


@pytest.mark.parametrize("module", [reference, reference_elementwise], ids=lambda m: m.__name__)
def test_the_module_walk_sees_the_reference_kernels(module):
    found = {where for where, _ in api_functions(module)}
    assert f"{module.__name__}.{module.__all__[0]}" in found


def test_every_reference_kernel_has_type_hints():
    """Each name of :data:`tinycnn.kernels.KERNELS`, as the reference backend runs it (its table, built by
    :mod:`tinycnn.kernels.backend` from :mod:`~tinycnn.kernels.reference`, which holds the element-wise ones)."""
    table = kernel_backend.Backend(name="reference").kernels
    assert sorted(table) == sorted(kernels.KERNELS)
    missing = []
    for name in kernels.KERNELS:
        function = table[name]
        assert function.__module__ in (reference.__name__, reference_elementwise.__name__), name
        missing += missing_annotations(function, f"{function.__module__}.{name}")
    assert not missing, f"{len(missing)} type hints missing:\n" + "\n".join(missing)


def test_the_dispatchers_share_the_reference_names():
    """``tinycnn.kernels.<name>`` exists for every kernel and ``tinycnn.kernels.__all__`` lists each once."""
    assert len(set(kernels.KERNELS)) == len(kernels.KERNELS)
    assert all(callable(getattr(kernels, name)) for name in kernels.KERNELS)
    assert len(set(kernels.__all__)) == len(kernels.__all__)


def test_the_training_methods_have_type_hints():
    """``tinycnn.models.training`` is in :data:`MODULES`; its public methods are the ones the walk must find."""
    from tinycnn.models import keras2, training

    found = {where for where, _ in api_functions(training)} | {where for where, _ in api_functions(keras2)}
    for method in ("compile", "fit", "train_on_batch"):
        assert f"tinycnn.models.training.Trainer.{method}" in found
    for method in ("fit_generator", "evaluate_generator", "predict_generator"):
        assert f"tinycnn.models.keras2.Keras2Mixin.{method}" in found


def is_compiled(name, obj):
    """True for a compiled kernel of the engine: a Numba dispatcher or intrinsic, or (``NUMBA_DISABLE_JIT=1``) the
    plain function ``_name`` that ``njit`` returned under a public name."""
    if hasattr(obj, "py_func") or type(obj).__name__ == "_Intrinsic":
        return True
    return inspect.isfunction(obj) and obj.__name__.startswith("_") and not name.startswith("_")


def engine_functions():
    """``(qualified name, function)`` for each Python-level public function of :data:`ENGINE_MODULES`."""
    for module_name in ENGINE_MODULES:
        module = importlib.import_module(module_name)
        for where, function in api_functions(module):
            if not is_compiled(where.rsplit(".", 1)[-1], function):
                yield where, function


def test_the_numba_engine_has_type_hints():
    found, missing = set(), []
    for where, function in engine_functions():
        found.add(where)
        missing += missing_annotations(function, where)
    assert set(ENGINE_FUNCTIONS) <= found, f"the walk missed {sorted(set(ENGINE_FUNCTIONS) - found)}"
    assert not missing, f"{len(missing)} type hints missing:\n" + "\n".join(missing)


def test_every_numba_kernel_has_type_hints():
    """Each name of :data:`tinycnn.kernels.KERNELS`, as the Numba backend runs it (its table, built by
    :mod:`tinycnn.kernels.backend` from the engine's family modules): the ``@engine_call`` wrapper, whose
    signature is the kernel's."""
    table = kernel_backend.Backend(name="numba").kernels
    assert sorted(table) == sorted(kernels.KERNELS)
    missing = []
    for name in kernels.KERNELS:
        function = table[name]
        assert function.__module__ in ENGINE_MODULES, name
        assert inspect.isfunction(inspect.unwrap(function)) and not is_compiled(name, function), name
        missing += missing_annotations(function, f"{function.__module__}.{name}")
    assert not missing, f"{len(missing)} type hints missing:\n" + "\n".join(missing)


@pytest.mark.parametrize("module_name", ["simd", "scratch", "threads"])
def test_every_public_function_of_the_engine_helpers_is_checked(module_name):
    """Each callable of ``__all__`` of ``simd``, ``scratch`` and ``threads`` is a class, a compiled kernel, or a
    function :func:`test_the_numba_engine_has_type_hints` checks."""
    module = importlib.import_module(f"tinycnn.kernels.{module_name}")
    checked = {where for where, _ in engine_functions()}
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj) and not inspect.isclass(obj) and not is_compiled(name, obj):
            assert f"{module.__name__}.{name}" in checked, name
