"""Gather the licence texts of everything a PyInstaller bundle ships into its `licenses/`.

Called by build_installer.spec with the Analysis' table of contents (every bundled file and
where it came from). Each file is traced to its origin:

- a Python distribution (site-packages): its licence files from the metadata (License-File,
  dist-info/licenses/, LICENSE/COPYING/NOTICE files), else its declared licence plus the
  full text from packaging/licenses/ when the declaration names one we keep there;
- a Debian package (system libraries PyInstaller copied in): /usr/share/doc/<pkg>/copyright;
- the Python runtime: its LICENSE.txt.

The project itself and pjproject (inside pjsua2) are GPL-2.0-or-later: the project's LICENSE.
Libraries grafted into the pjsua2 wheel by auditwheel are listed from its SBOM.
`licenses/INDEX.txt` says which text covers what. Run alone to see the result for a list of
files: python scripts/bundle_licenses.py OUT_DIR FILE...
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

LICENSE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS|COPYRIGHT)", re.IGNORECASE)
# Declared licences whose full text we keep in packaging/licenses/ (no file in the wheel).
TEXTS = {"LGPL-3.0": ["LGPL-3.0.txt", "GPL-3.0.txt"], "Apache-2.0": ["Apache-2.0.txt"]}
# What the metadata does not say.
NOTES = {
    "pjsua2-python": "pjproject (https://www.pjsip.org), Python bindings: GPL-2.0-or-later "
                     "(the same text as the project's, ../agent-desktop/LICENSE).",
    "pjsua2-wheel": "pjproject (https://www.pjsip.org), Python bindings: GPL-2.0-or-later "
                    "(the same text as the project's, ../agent-desktop/LICENSE).",
    "PySide6-Essentials": "Qt for Python and the Qt libraries it ships (Qt 6): used under "
                          "LGPL-3.0-only. Source: https://code.qt.io/ (qt/qtbase ... and "
                          "pyside/pyside-setup at the version above).",
    "PySide6-Addons": "Qt for Python add-ons (Qt Multimedia and the FFmpeg libraries it may "
                      "ship): LGPL-3.0-only; FFmpeg under LGPL-2.1-or-later.",
    "shiboken6": "Shiboken (Qt for Python's binding generator runtime): LGPL-3.0-only.",
}


# Libraries auditwheel grafted into the pjsua2 wheel (CentOS 7 builds) → the Debian package of
# the same project, whose copyright file states the same licence (a newer version of it).
GRAFTED_DEBIAN = {"krb5-libs": "libkrb5-3", "libcom_err": "libcom-err2",
                  "keyutils-libs": "libkeyutils1", "libselinux": "libselinux1",
                  "pcre": "libpcre3"}


def _dist_index() -> dict[str, str]:
    """Absolute path of every installed file → its distribution's name."""
    index: dict[str, str] = {}
    for dist in metadata.distributions():
        name = _canon(dist.metadata["Name"])
        for f in dist.files or []:
            index[os.path.normcase(os.path.realpath(dist.locate_file(f)))] = name
    return index


def _dpkg_package(path: str) -> str | None:
    if not shutil.which("dpkg-query"):
        return None
    real = os.path.realpath(path)
    for candidate in {real, path, real.replace("/lib/", "/usr/lib/", 1)}:
        out = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True,
                             check=False)
        if out.returncode == 0 and out.stdout:
            return out.stdout.split(":", 1)[0].strip()
    return None


def _canon(name: str) -> str:
    """PySide6_Essentials → PySide6-Essentials (the metadata spells names either way)."""
    return re.sub(r"[-_.]+", "-", name)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


def _dist_license_files(dist: metadata.Distribution) -> list[tuple[Path, str]]:
    """(file, name inside the distribution's licence folder)."""
    found: dict[str, Path] = {}
    for f in dist.files or []:
        s = str(f).replace("\\", "/")
        base = s.rsplit("/", 1)[-1]
        in_licenses = "/licenses/" in s and ".dist-info/" in s
        if in_licenses or (LICENSE_NAME.match(base) and ".dist-info/" in s):
            rel = s.split("/licenses/", 1)[1] if in_licenses else base
            found[rel] = Path(str(dist.locate_file(f)))
    return sorted((p, rel) for rel, p in found.items() if p.is_file())


def _declared(dist: metadata.Distribution) -> str:
    md = dist.metadata
    parts = [md.get("License-Expression") or "", (md.get("License") or "").strip()]
    parts += [c.split("::")[-1].strip() for c in md.get_all("Classifier") or []
              if c.startswith("License ::")]
    return "; ".join(p for p in dict.fromkeys(parts) if p and len(p) < 300)


def _sbom_components(dist: metadata.Distribution) -> dict[str, str]:
    """name → version of the libraries auditwheel grafted in (its CycloneDX SBOM)."""
    out: dict[str, str] = {}
    for f in dist.files or []:
        if str(f).endswith(".cdx.json"):
            data = json.loads(Path(str(dist.locate_file(f))).read_text())
            for c in data.get("components", [])[1:]:
                out[str(c.get("name"))] = str(c.get("version"))
    return out


def gather(toc: Iterable[tuple[str, str | None, str]], out_dir: Path, *,
           project_root: Path) -> list[tuple[str, str, str]]:
    """Write licenses/ for the bundled files in `toc` into out_dir; the TOC entries (bundle
    path, source, "DATA") that add it to the bundle."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    index = _dist_index()
    dists: dict[str, int] = defaultdict(int)
    debs: dict[str, int] = defaultdict(int)
    python_files = 0
    base = os.path.normcase(os.path.realpath(sys.base_prefix))
    stdlib = os.path.normcase(os.path.realpath(sysconfig.get_paths()["stdlib"]))
    own_tree = os.path.normcase(os.path.realpath(project_root)) + os.sep
    # The virtualenv usually lives inside the checkout (.venv): its packages are not ours.
    venv = os.path.normcase(os.path.realpath(sys.prefix)) + os.sep
    for _dest, src, _kind in toc:
        if not src or not os.path.isabs(src):
            continue
        real = os.path.normcase(os.path.realpath(src))
        if real.startswith(own_tree) and not real.startswith(venv):
            continue
        if real in index:
            dists[index[real]] += 1
        elif real.startswith((stdlib, base + os.sep)) or "libpython" in real:
            python_files += 1
        elif (pkg := _dpkg_package(src)) is not None:
            debs[pkg] += 1
    lines = ["Licences of the components in this bundle (folder: what it covers).", "",
             "agent-desktop/  the application: GPL-2.0-or-later. The bundle as a whole is "
             "distributed under the GPL (pjproject is GPL-2.0-or-later; the Apache-2.0 parts "
             "make it GPL-3.0, which pjproject's 'or later' allows).", ""]
    own = out_dir / "agent-desktop"
    own.mkdir()
    shutil.copy(project_root / "LICENSE", own / "LICENSE")
    if python_files:
        py = out_dir / "python"
        py.mkdir()
        lic = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
        if lic.is_file():
            shutil.copy(lic, py / "LICENSE.txt")
        lines.append(f"python/  the Python {sys.version.split()[0]} runtime and standard "
                     "library: PSF-2.0 (and the licences listed in its text)")
    for name in sorted(dists, key=str.lower):
        dist = metadata.distribution(name)
        folder = out_dir / _safe(f"{name}-{dist.version}")
        folder.mkdir()
        files = _dist_license_files(dist)
        for path, rel in files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        declared = _declared(dist)
        note = NOTES.get(name, "")
        texts = [t for key, names in TEXTS.items() if key in declared for t in names]
        if name in ("pjsua2-python", "pjsua2-wheel"):
            shutil.copy(project_root / "LICENSE", folder / "GPL-2.0.txt")
            grafted = _sbom_components(dist)
            if grafted:
                note += ("\nShared libraries grafted in by auditwheel (pjsua2_python.libs/), "
                         "each under its own licence: " + ", ".join(
                             f"{k} {v}" for k, v in sorted(grafted.items())) + ". OpenSSL "
                         "1.0.2k is under the OpenSSL and SSLeay licences "
                         "(https://www.openssl.org/source/license-openssl-ssleay.txt); "
                         "grafted/ holds the Debian copyright files of the others' projects.")
            for component in sorted(grafted):
                deb = Path("/usr/share/doc") / GRAFTED_DEBIAN.get(component, "-") / "copyright"
                if deb.is_file():
                    (folder / "grafted").mkdir(exist_ok=True)
                    shutil.copy(deb, folder / "grafted" / f"{_safe(component)}.copyright")
        if not files:
            for t in texts:
                shutil.copy(project_root / "packaging" / "licenses" / t, folder / t)
        (folder / "ABOUT.txt").write_text(
            f"{name} {dist.version}\nDeclared licence: {declared or 'not declared'}\n"
            f"Home: {dist.metadata.get('Home-page') or dist.metadata.get('Project-URL') or '-'}"
            f"\n{note}\n")
        lines.append(f"{folder.name}/  {declared or 'see ABOUT.txt'}")
    for pkg in sorted(debs):
        copyright_file = Path("/usr/share/doc") / pkg / "copyright"
        if copyright_file.is_file():
            folder = out_dir / "debian" / _safe(pkg)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(copyright_file, folder / "copyright")
            lines.append(f"debian/{folder.name}/  system library from the Debian package {pkg}")
    (out_dir / "INDEX.txt").write_text("\n".join(lines) + "\n")
    result = []
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            rel = path.relative_to(out_dir).as_posix()
            result.append((f"licenses/{rel}", str(path), "DATA"))
    return result


if __name__ == "__main__":
    target = Path(sys.argv[1])
    entries = [(f, f, "DATA") for f in sys.argv[2:]]
    for dest, src, _ in gather(entries, target, project_root=Path(__file__).resolve().parents[1]):
        print(dest, src)
