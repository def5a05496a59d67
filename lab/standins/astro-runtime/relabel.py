"""Give an installed distribution a local version label, as Astro Runtime reports Airflow (2.10.5+astro.N):
rename its .dist-info, rewrite ``Version:`` in METADATA and, for apache-airflow, ``airflow.__version__``."""

import re
import sys
from importlib.metadata import distribution
from pathlib import Path

name, label = sys.argv[1:3]
dist = distribution(name)
old = dist.version
new = f"{old}+{label}"
info = Path(dist._path)  # the .dist-info folder
metadata = info / "METADATA"
metadata.write_text(re.sub(r"^Version: .*$", f"Version: {new}", metadata.read_text(), count=1, flags=re.M))
info.rename(info.with_name(info.name.replace(f"-{old}.dist-info", f"-{new}.dist-info")))
if name == "apache-airflow":
    init = Path(distribution(name).locate_file("airflow/__init__.py"))
    init.write_text(init.read_text().replace(f'__version__ = "{old}"', f'__version__ = "{new}"'))
print(name, distribution(name).version)
