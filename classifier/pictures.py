"""Reading a note's pictures: the text in them (OCR) and their QR codes, opt-in.

``notecheck score --images --image-root DIR`` reads each picture that is a local path under
``DIR``: its text by OCR with RapidOCR (``rapidocr-onnxruntime``, whose PP-OCR models ship inside
the package: nothing is downloaded at run time) and its QR codes with OpenCV. A picture given with
``ocr_text`` is used as is (no OCR run; its QR codes are still decoded when its file is at hand).
A path outside the root is refused, naming ``images[i]``. A path that is a *folder* under the root
(CHASM-style dumps keep each note's pictures in a folder of their own) stands for the pictures in it,
in name order (``.jpg``, ``.jpeg``, ``.png``, ``.webp``, ``.gif``, ``.bmp``; subfolders not read); the
note's ``images`` then list those files, so ``images[i]`` in a verdict names one file. A URL-only picture without ``ocr_text``
is fetched only with a :class:`~classifier.fetch.PictureFetcher` (``--fetch-images``: public
addresses only, timeouts, size and content-type limits; see :mod:`classifier.fetch`); without one
it is refused. A fetch that is refused or fails leaves that picture unread and is reported by
:meth:`PictureReader.read_reporting` (the batch engine writes it to the errors file and scores the
note on the rest), or raised by :meth:`PictureReader.read`.

Results are cached by the SHA-256 of the picture's bytes, in memory and, given ``cache_dir``, one
small JSON file per picture. The engine loads once per :class:`PictureReader`. Needs the ``images``
extra (``pip install 'notecheck[images]'``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from classifier.errors import InputError
from classifier.fetch import PictureFetcher, PictureFetchError
from classifier.model import bytes_sha256, file_sha256
from classifier.types import Note, Picture

__all__ = ["MAX_PICTURE_BYTES", "PictureOptions", "PictureReader"]

MAX_PICTURE_BYTES = 20 * 1024 * 1024
"""The largest picture file read (bytes)."""

PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
"""The files a picture folder contributes (by name; their bytes are still decoded and checked)."""


@dataclass(frozen=True)
class PictureOptions:
    """How to read pictures, as plain values that travel to other processes (Ray actors):
    ``root`` (local paths), ``cache_dir``, ``fetch`` (URLs, with a default
    :class:`~classifier.fetch.PictureFetcher`)."""

    root: str | None = None
    cache_dir: str | None = None
    fetch: bool = False

    def reader(self) -> PictureReader:
        return PictureReader(self.root, cache_dir=self.cache_dir,
                             fetcher=PictureFetcher() if self.fetch else None)


class PictureReader:
    """Fills each picture's ``ocr_text`` and ``qr`` (see module doc)."""

    def __init__(self, root: Path | str | None, *, cache_dir: Path | str | None = None,
                 fetcher: PictureFetcher | None = None) -> None:
        self.root = Path(root).resolve() if root is not None else None
        if root is not None and not Path(root).is_dir():
            raise ValueError(f"the image root {str(root)!r} is not a folder; give --image-root "
                             f"the folder the notes' picture paths are under")
        if root is None and fetcher is None:
            raise ValueError("a picture reader needs an image root (local paths), a fetcher "
                             "(URLs), or both")
        self.fetcher = fetcher
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._engine: Any = None
        self._lock = threading.Lock()

    def read(self, note: Note) -> Note:
        """``note`` with its pictures read. Raises :class:`InputError` (field ``images[i]``) for a
        picture that cannot be read: outside the root, missing, not an image, a URL."""
        return self._read(note, lenient=False)[0]

    def read_reporting(self, note: Note) -> tuple[Note, tuple[PictureFetchError, ...]]:
        """``note`` with its pictures read, and the fetches that were refused or failed (those
        pictures stay unread). Raises :class:`InputError` for any other unreadable picture."""
        return self._read(note, lenient=True)

    def _read(self, note: Note, *, lenient: bool) -> tuple[Note, tuple[PictureFetchError, ...]]:
        if not note.images:
            return note, ()
        pictures, failures = [], []
        for i, picture in enumerate(self._unfolded(note.images)):
            try:
                pictures.append(self._picture(picture, f"images[{i}]"))
            except PictureFetchError as e:
                if not lenient:
                    raise
                pictures.append(picture)
                failures.append(e)
        return replace(note, images=tuple(pictures)), tuple(failures)

    def _picture(self, picture: Picture, name: str) -> Picture:
        if picture.path is None:
            if picture.ocr_text is not None:
                return picture
            if self.fetcher is None:
                raise InputError(f"the picture is a URL ({picture.url}); URLs are not fetched "
                                 f"without --fetch-images: give that, a local path under the image "
                                 f"root or the picture's 'ocr_text'", field=name)
            data = self.fetcher.fetch(str(picture.url), field=name)
            try:
                text, qr = self._cached(bytes_sha256(data), data, name, ocr=True)
            except InputError as e:  # fetched but unreadable: reported as the fetch's failure
                raise PictureFetchError(f"{picture.url}: {e.reason}", field=name) from None
            return replace(picture, ocr_text=text, qr=qr)
        path = self._resolve(picture.path, name)
        try:
            key = file_sha256(path)
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"the picture {picture.path!r} cannot be read ({e.strerror or e}); "
                             f"check the file's permissions", field=name) from None
        text, qr = self._cached(key, data, name, ocr=picture.ocr_text is None)
        return replace(picture, ocr_text=picture.ocr_text if picture.ocr_text is not None else text,
                       qr=qr)

    def _unfolded(self, images: tuple[Picture, ...]) -> tuple[Picture, ...]:
        """``images`` with each local path that is a folder under the root replaced by the picture
        files in it (name order; at most :data:`~classifier.notes.MAX_PICTURES` in all)."""
        from classifier.notes import MAX_PICTURES

        if self.root is None or not any(p.path and p.url is None for p in images):
            return images
        out: list[Picture] = []
        for i, picture in enumerate(images):
            folder = self._folder(picture)
            if folder is None:
                out.append(picture)
                continue
            files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in PICTURE_SUFFIXES)
            if not files:
                raise InputError(f"the picture folder {picture.path!r} holds no picture "
                                 f"({', '.join(PICTURE_SUFFIXES)})", field=f"images[{i}]")
            out += [Picture(path=str(f.relative_to(self.root)), ocr_text=None) for f in files]
            if len(out) > MAX_PICTURES:
                raise InputError(f"the picture folder {picture.path!r} makes the note's pictures more "
                                 f"than {MAX_PICTURES}; keep the note's own pictures", field=f"images[{i}]")
        return tuple(out)

    def _folder(self, picture: Picture) -> Path | None:
        if not picture.path or picture.url is not None or picture.ocr_text is not None or self.root is None:
            return None
        try:
            raw = Path(picture.path)
            path = (raw if raw.is_absolute() else self.root / raw).resolve()
            return path if path.is_relative_to(self.root) and path.is_dir() else None
        except (OSError, ValueError):  # _resolve reports it for the file it then expects
            return None

    def local_file(self, ref: str, name: str = "path") -> Path:
        """The file of picture path ``ref`` under the root (what the console may show); raises
        :class:`InputError` (field ``name``) outside the root, missing or too large."""
        return self._resolve(ref, name)

    def _resolve(self, ref: str, name: str) -> Path:
        if self.root is None:
            raise InputError(f"the picture path {ref!r} is local, and no image root is set; only "
                             f"pictures under a configured root are read", field=name)
        try:
            return self._under_root(ref, name, self.root)
        except (OSError, ValueError) as e:  # a NUL byte, a loop of links, no permission
            if isinstance(e, InputError):
                raise
            raise InputError(f"the picture path {ref!r} cannot be used ({e})", field=name) from None

    @staticmethod
    def _under_root(ref: str, name: str, root: Path) -> Path:
        raw = Path(ref)
        path = (raw if raw.is_absolute() else root / raw).resolve()
        if not path.is_relative_to(root):
            raise InputError(f"the picture path {ref!r} is outside the image root {str(root)!r}; "
                             f"only pictures under --image-root are read", field=name)
        if not path.is_file():
            raise InputError(f"no picture file at {ref!r} under the image root {str(root)!r}",
                             field=name)
        size = path.stat().st_size
        if size > MAX_PICTURE_BYTES:
            raise InputError(f"the picture {ref!r} is {size:,} bytes, more than "
                             f"{MAX_PICTURE_BYTES:,}; shrink it", field=name)
        return path

    def _cached(self, key: str, data: bytes, name: str, *, ocr: bool) -> tuple[str, tuple[str, ...]]:
        hit = self._memory.get(key)
        disk = self.cache_dir / f"{key}.json" if self.cache_dir is not None else None
        if hit is None and disk is not None and disk.is_file():
            saved = json.loads(disk.read_text(encoding="utf-8"))
            hit = (str(saved["text"]), tuple(str(q) for q in saved["qr"]))
        if hit is None:
            image = _decode(data, name)
            hit = (self._ocr(image, name) if ocr else "", _qr_codes(image))
            if ocr and disk is not None:
                disk.parent.mkdir(parents=True, exist_ok=True)
                disk.write_text(json.dumps({"text": hit[0], "qr": list(hit[1])}, ensure_ascii=False),
                                encoding="utf-8")
        if ocr:
            self._memory[key] = hit
        return hit

    def _ocr(self, image: Any, name: str) -> str:
        with self._lock:
            if self._engine is None:
                from rapidocr_onnxruntime import RapidOCR

                self._engine = RapidOCR()
            try:
                result, _ = self._engine(image)
            except Exception as e:  # noqa: BLE001 - one picture the engine fails on is that note's error
                raise InputError(f"OCR failed on the picture ({type(e).__name__}: {e})",
                                 field=name) from None
        return "\n".join(str(line[1]) for line in result or ())


def _decode(data: bytes, name: str) -> Any:
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError("the picture file is not an image OpenCV can read (PNG, JPEG, WebP ...)",
                         field=name)
    return image


def _qr_codes(image: Any) -> tuple[str, ...]:
    import cv2

    try:
        ok, payloads, _, _ = cv2.QRCodeDetector().detectAndDecodeMulti(image)
    except cv2.error:
        return ()
    return tuple(str(p) for p in payloads if p) if ok else ()
