"""The page's static files: plotly.js from the installed ``plotly`` package, and the
page's own script and style.

plotly.js comes from the Python package's own copy, so the page needs no CDN and works
offline and behind firewalls, and its version is the one installed. It is read once and
its gzip form made once (it is 4.8 MB, 1.4 MB compressed), then served from memory.
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


_plotly: GzipAsset | None = None
_plotly_lock = threading.Lock()


def plotly_js() -> GzipAsset:
    """plotly.min.js of the installed ``plotly`` package.

    Raises:
        FileNotFoundError: when that package does not ship it.
    """
    global _plotly
    with _plotly_lock:
        if _plotly is None:
            ref = resources.files("plotly") / "package_data" / "plotly.min.js"
            _plotly = GzipAsset(Asset.of(ref.read_bytes(), "text/javascript; charset=utf-8"))
        return _plotly


def plotly_version() -> str:
    """The installed ``plotly`` package's version (that of the plotly.js it ships)."""
    try:
        return metadata.version("plotly")
    except metadata.PackageNotFoundError:
        return "0"
