"""Builds the compiled kernels (app/_kernels.pyx); everything else about the package is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(ext_modules=cythonize([Extension("app._kernels", ["app/_kernels.pyx"])], quiet=True))
