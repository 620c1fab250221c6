"""Package layout: ir/, passes/ and targets/ live at the top of the repository but install as
sbcompile.ir, sbcompile.passes and sbcompile.targets, so no generic top-level names land in
site-packages. Subpackages are discovered, so a new folder needs no edit here."""

from setuptools import find_packages, setup

ROOTS = {"sbcompile": "sbcompile", "sbcompile.ir": "ir", "sbcompile.passes": "passes", "sbcompile.targets": "targets"}

packages = []
for prefix, folder in ROOTS.items():
    packages.append(prefix)
    packages.extend(f"{prefix}.{sub}" for sub in find_packages(folder) if f"{prefix}.{sub}" not in ROOTS)

setup(packages=packages, package_dir=ROOTS, package_data={"sbcompile.ir": ["grammar.lark"], "sbcompile.loihi2_model": ["h200_measured.json"]})
