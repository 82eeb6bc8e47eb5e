"""Every public function and method of tinycnn's public API, and every reference kernel, has type hints.

The API: the public classes and functions *defined* in the modules below (an object imported from elsewhere is
checked in its own module), and of each class the methods defined in its body whose names are public, plus
``__init__`` and ``__call__`` (a property's getter and setter too). Every parameter but ``self``/``cls`` needs an
annotation (``*args`` and ``**kwargs`` included), and so does the return. A failure lists each one missing as
``module.Class.method(param)``, ``module.function(return)``.

Not checked here: the Numba engine (``tinycnn.kernels.numba_*``, ``simd``, ``scratch``, ``threads``) and
``tinycnn.models.training``.
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
    "tinycnn.models.data",
    "tinycnn.kernels",
    "tinycnn.kernels.backend",
    "tinycnn.kernels.reference",
    "tinycnn.kernels.reference_elementwise",
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
