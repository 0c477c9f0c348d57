"""Package layout: the import package ``psfbench`` is assembled from three folders.

``psfbench/`` holds the facade (the public API a script needs); ``core/`` and ``app/`` stay
top-level folders, as the design card lays them out, and install as ``psfbench.core`` and
``psfbench.app``. setuptools' ``package_dir`` does the mapping, for regular and editable
installs alike; everything else about the package is in pyproject.toml.
"""

from setuptools import find_packages, setup

SUBPACKAGES = {"core": "core", "app": "app"}

packages = ["psfbench"]
package_dir = {"psfbench": "psfbench"}
for name, folder in SUBPACKAGES.items():
    package_dir[f"psfbench.{name}"] = folder
    packages.append(f"psfbench.{name}")
    for sub in find_packages(where=folder):
        packages.append(f"psfbench.{name}.{sub}")

setup(packages=packages, package_dir=package_dir)
