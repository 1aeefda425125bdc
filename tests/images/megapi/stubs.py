"""Import stubs for megapi's machine-learning libraries, in its test base only.

megapi imports TensorFlow, PyTorch (with torchvision and torchaudio),
Essentia, OpenL3, kapre, librosa and MLflow: several gigabytes of wheels
for the endpoints that run its models (genre prediction, embeddings,
similarity). The tests install every other requirement from PyPI at
upstream's pin, and these as stubs:

- a distribution of the same name and pinned version (its metadata only),
  so that `pip install -r requirements.txt` in the role's Dockerfile finds
  every pin satisfied and builds as it does on a user's machine;
- an import hook (`musicsim_import_stubs`, loaded by a .pth file) that
  answers any import of these packages with a module whose every attribute
  is a placeholder: calling one gives another, and one is false, so
  megapi's import-time calls (`tf.config.run_functions_eagerly(True)`,
  `torch.cuda.is_available()`) pass.

What that leaves untested: every endpoint that runs a model (/openl3,
/music_net, /elo, the embeddings under /minio); they would fail on the
first placeholder used as a number.

    stubs.py requirements FILE   print FILE's requirements without the stubbed ones
    stubs.py install FILE        install the stubs, at FILE's pins
"""

import pathlib
import re
import sys
import sysconfig

# Distribution (as in requirements.txt, normalised) -> the modules it provides.
STUBBED = {
    "tensorflow": ["tensorflow"],
    "torch": ["torch"],
    "torchvision": ["torchvision"],
    "torchaudio": ["torchaudio"],
    "essentia-tensorflow": ["essentia"],
    "openl3": ["openl3"],
    "kapre": ["kapre"],
    "librosa": ["librosa"],
    "mlflow": ["mlflow"],
}

HOOK = '''"""Import stubs for megapi's machine-learning libraries (tests only; see
tests/images/megapi/stubs.py in musicsim-infra)."""

import importlib.abc
import importlib.machinery
import sys
import types

ROOTS = frozenset(%(roots)r)


class Placeholder:
    """Any attribute of a stubbed module, and anything done with it."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return Placeholder(f"{self._name}.{attribute}")

    def __call__(self, *args, **kwargs):
        return Placeholder(f"{self._name}()")

    def __bool__(self):
        return False

    def __mro_entries__(self, bases):
        return (object,)

    def __repr__(self):
        return f"<import stub {self._name}>"


class StubModule(types.ModuleType):
    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return Placeholder(f"{self.__name__}.{attribute}")


class StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ROOTS:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return StubModule(spec.name)

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, StubFinder())
'''


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path):
    """(distribution, version or None, line) for each requirement of path."""
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name, _, version = requirement.partition("==")
        yield normalise(name.strip()), version.strip() or None, requirement


def requirements(path):
    for name, _, line in pins(path):
        if name not in STUBBED:
            print(line)


def install(path):
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    found = {name: version for name, version, _ in pins(path) if name in STUBBED}
    missing = set(STUBBED) - set(found)
    if missing:
        sys.exit(f"not in {path} any more: {', '.join(sorted(missing))}: update stubs.py")
    unpinned = [name for name, version in found.items() if version is None]
    if unpinned:
        sys.exit(f"no pinned version in {path} for {', '.join(unpinned)}: a stub needs one")
    for name, version in found.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: import stub for the musicsim-infra tests, not the real package\n",
            encoding="utf-8")
        (info / "INSTALLER").write_text("musicsim-test-stub\n", encoding="utf-8")
        (info / "RECORD").write_text("", encoding="utf-8")
    roots = sorted(module for modules in STUBBED.values() for module in modules)
    (site / "musicsim_import_stubs.py").write_text(HOOK % {"roots": roots}, encoding="utf-8")
    (site / "musicsim_import_stubs.pth").write_text("import musicsim_import_stubs\n", encoding="utf-8")


if __name__ == "__main__":
    {"requirements": requirements, "install": install}[sys.argv[1]](sys.argv[2])
