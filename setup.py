"""Build hook: cffi compiles the native `cpu` backend from c_ext/ (everything else is in
pyproject.toml; setuptools reads `cffi_modules` only from here)."""

from setuptools import setup

setup(cffi_modules=["c_ext/build_cpu.py:ffibuilder"])
