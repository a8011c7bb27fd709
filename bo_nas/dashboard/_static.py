"""The page's static files: BokehJS from the installed ``bokeh`` package, and the page's
own script and style.

BokehJS comes from the Python package's own copy, so the page needs no CDN and works
offline and behind firewalls, and its version is the one installed. Two of its files are
served: ``bokeh.min.js`` (the core: models, canvas rendering, tools; 1.3 MB, 0.35 MB
compressed) and ``bokeh-api.min.js`` (the ``Bokeh.Plotting`` API the page builds its
figures with; 0.12 MB). Each is read once and its gzip form made once, then served from
memory.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from importlib import metadata, resources


@dataclass(frozen=True)
class Asset:
    """One static file in memory.

    Attributes:
        body: The bytes.
        media_type: Its content type.
        etag: A strong validator (a hash of the bytes).
    """

    body: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> Asset:
        return cls(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    @property
    def version(self) -> str:
        """A short name of the content, for addresses that change with it."""
        return self.etag.strip('"')[:12]


class GzipAsset:
    """An `Asset` with its gzip form, compressed the first time it is asked for."""

    def __init__(self, asset: Asset) -> None:
        self.asset = asset
        self._gzipped: bytes | None = None
        self._lock = threading.Lock()

    def gzipped(self) -> bytes:
        with self._lock:
            if self._gzipped is None:
                # Level 6: nearly the size of level 9 at a third of the time.
                self._gzipped = gzip.compress(self.asset.body, compresslevel=6, mtime=0)
            return self._gzipped


#: The BokehJS files the page loads, by the name it asks for them under. A request names
#: one of these keys, never a path.
BOKEH_FILES = ("bokeh.min.js", "bokeh-api.min.js")

_bokeh: dict[str, GzipAsset] = {}
_bokeh_lock = threading.Lock()


def bokeh_js(name: str) -> GzipAsset:
    """One of `BOKEH_FILES` from the installed ``bokeh`` package.

    Raises:
        KeyError: for a name not in `BOKEH_FILES`.
        FileNotFoundError: when that package does not ship it.
    """
    if name not in BOKEH_FILES:
        raise KeyError(name)
    with _bokeh_lock:
        if name not in _bokeh:
            ref = resources.files("bokeh") / "server" / "static" / "js" / name
            _bokeh[name] = GzipAsset(Asset.of(ref.read_bytes(),
                                              "text/javascript; charset=utf-8"))
        return _bokeh[name]


def bokeh_version() -> str:
    """The installed ``bokeh`` package's version (that of the BokehJS it ships)."""
    try:
        return metadata.version("bokeh")
    except metadata.PackageNotFoundError:
        return "0"
