"""Debug information out of a Linux bundle: ``strip --strip-debug`` on the ELF files that carry
a ``.debug_info`` section (libpython alone: 17 MB; the Python extension modules; some wheels'
compiled modules).

PyInstaller's own ``strip=True`` strips every library and breaks those auditwheel patched
(NumPy's OpenBLAS then fails to load: "ELF load command address/offset not page-aligned"); files
without debug information are left untouched here, and symbols stay.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

ELF_MAGIC = b"\x7fELF"


def has_debug_info(path: Path) -> bool:
    """Whether ``path`` is an ELF file with a ``.debug_info`` section (read from its headers)."""
    with path.open("rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or not ident.startswith(ELF_MAGIC):
            return False
        wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        # e_shoff, then e_shentsize, e_shnum, e_shstrndx (ELF64 or ELF32 header layout).
        f.seek(0x28 if wide else 0x20)
        (shoff,) = struct.unpack(order + ("Q" if wide else "I"), f.read(8 if wide else 4))
        f.seek(0x3A if wide else 0x2E)
        entsize, count, names_index = struct.unpack(order + "HHH", f.read(6))
        if not shoff or not count or names_index >= count:
            return False
        # The section-name table's offset and size, from its section header.
        f.seek(shoff + names_index * entsize + (0x18 if wide else 0x10))
        offset, size = struct.unpack(order + ("QQ" if wide else "II"), f.read(16 if wide else 8))
        f.seek(offset)
        return b".debug_info\0" in f.read(size)


def strip_debug_info(folder: Path, strip: str | None = None) -> dict[str, float | int]:
    """Strip the debug information of every ELF file under ``folder`` that has some.

    Args:
        folder: The bundle.
        strip: The ``strip`` program (default: the one on ``PATH``; binutils).

    Returns:
        ``files`` stripped and ``saved_mb``; ``files`` is -1 when no ``strip`` program exists.
    """
    strip = strip or shutil.which("strip")
    if strip is None:
        return {"files": -1, "saved_mb": 0.0}
    files, saved = 0, 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or not has_debug_info(path):
            continue
        before = path.stat().st_size
        subprocess.run([strip, "--strip-debug", str(path)], check=True, capture_output=True)
        files, saved = files + 1, saved + before - path.stat().st_size
    return {"files": files, "saved_mb": round(saved / 2**20, 1)}
