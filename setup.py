"""Builds the compiled modules (app/_kernels.pyx, app/_splitter.pyx); everything else about the package is in
pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

EXTENSIONS = [
    Extension("app._kernels", ["app/_kernels.pyx"]),
    Extension("app._splitter", ["app/_splitter.pyx"]),
]

setup(ext_modules=cythonize(EXTENSIONS, quiet=True))
