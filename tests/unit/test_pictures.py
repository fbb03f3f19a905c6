"""Pictures (``--images``): OCR text and QR codes as fields ``images[i]``. The pictures are made
here with Pillow in Debian's WenQuanYi font and with ``qrcode``; the OCR engine loads once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from classifier.errors import InputError
from classifier.notes import READ_PICTURES, note_from_dict, unknown_fields
from classifier.pictures import PictureReader
from classifier.pipeline import Pipeline
from classifier.signals import Lexicon, extract_signals, field_text, qr_target
from classifier.types import Picture
from serving.cli import main
from tests.conftest import draw_pictures

BLAND = {"id": "p1", "title": "周末露营", "text": "天气很好，和朋友去湖边露营，拍了很多照片。"}


@pytest.fixture(autouse=True)
def _read_pictures() -> Iterator[None]:
    """The reader takes pictures only when asked (``--images`` sets this for its run)."""
    token = READ_PICTURES.set(True)
    yield
    READ_PICTURES.reset(token)


@pytest.fixture(scope="session")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return draw_pictures(tmp_path_factory.mktemp("pictures"), "contact.png", "plain.png",
                         "wechat_qr.png", "group_qr.png")


@pytest.fixture(scope="session")
def reader(pictures: Path) -> PictureReader:
    return PictureReader(pictures)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.load()


def test_pictures_reader_paths_urls_objects_and_image_list() -> None:
    note = note_from_dict({**BLAND, "images": ["a.png", "https://x.test/b.jpg",
                                               {"url": "https://x.test/c.jpg", "ocr_text": "加V"}]})
    assert note.images == (Picture(path="a.png"), Picture(url="https://x.test/b.jpg"),
                           Picture(url="https://x.test/c.jpg", ocr_text="加V"))
    crawled = note_from_dict({**BLAND, "image_list": "https://x.test/1.jpg,https://x.test/2.jpg"})
    assert [p.url for p in crawled.images] == ["https://x.test/1.jpg", "https://x.test/2.jpg"]
    with pytest.raises(InputError) as err:
        note_from_dict({**BLAND, "images": [3]})
    assert err.value.field == "images[0]"


def test_pictures_not_read_unless_asked() -> None:
    record = {**BLAND, "images": [{"ocr_text": "加V: abc12345"}, 3], "image_list": "x"}
    token = READ_PICTURES.set(False)
    try:
        assert note_from_dict(record).images == ()
        assert unknown_fields(record) == ("images", "image_list")
    finally:
        READ_PICTURES.reset(token)
    assert unknown_fields(record) == ()


def test_pictures_ocr_text_becomes_field_with_offsets(reader: PictureReader) -> None:
    note = reader.read(note_from_dict({**BLAND, "images": ["contact.png"]}))
    text = note.images[0].ocr_text or ""
    assert "abc12345" in text
    sigs = [s for s in extract_signals(note, Lexicon.load()) if s.field == "images[0]"]
    div = [s for s in sigs if s.kind == "diversion"]
    assert div, sigs
    assert all(field_text(note, "images[0]")[s.start:s.end] == s.text for s in sigs)


def test_pictures_qr_code_is_diversion_naming_the_target(reader: PictureReader) -> None:
    note = reader.read(note_from_dict({**BLAND, "images": ["wechat_qr.png", "group_qr.png"]}))
    assert note.images[0].qr == ("https://u.wechat.com/EabcDEF123",)
    sigs = [s for s in extract_signals(note, Lexicon.load()) if s.entry == "QR-CODE"]
    assert sigs[0].field == "images[0]" and "WeChat contact" in sigs[0].text
    assert "WeChat group" in sigs[1].text and sigs[1].field == "images[1]"
    assert qr_target("https://item.taobao.com/item.htm?id=1") == "shop"
    assert qr_target("https://example.org/x") == "URL"


def test_pictures_make_a_bland_note_an_undisclosed_ad(reader: PictureReader,
                                                      pipeline: Pipeline) -> None:
    assert pipeline(note_from_dict(BLAND)).label != "undisclosed_ad"
    for name in ("contact.png", "wechat_qr.png"):
        v = pipeline(reader.read(note_from_dict({**BLAND, "images": [name]})))
        assert v.label == "undisclosed_ad", (name, v)
        assert any(r.rule == "R18-PICTURE-DIVERSION" and r.field == "images[0]" for r in v.reasons)
    plain = pipeline(reader.read(note_from_dict({**BLAND, "images": ["plain.png"]})))
    assert plain.label != "undisclosed_ad"


def test_pictures_given_ocr_text_is_used_as_is(pictures: Path) -> None:
    fresh = PictureReader(pictures)
    note = fresh.read(note_from_dict({**BLAND, "images": [{"path": "contact.png",
                                                           "ocr_text": "湖边"}]}))
    assert note.images[0].ocr_text == "湖边" and fresh._engine is None
    assert fresh.read(note_from_dict({**BLAND, "images": [{"url": "https://x.test/a.jpg",
                                                           "ocr_text": "x"}]})).images[0].ocr_text == "x"


def test_pictures_cached_by_hash(pictures: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = PictureReader(pictures, cache_dir=cache)
    text = first.read(note_from_dict({**BLAND, "images": ["plain.png"]})).images[0].ocr_text
    (entry,) = cache.glob("*.json")
    assert json.loads(entry.read_text(encoding="utf-8"))["text"] == text
    again = PictureReader(pictures, cache_dir=cache)
    assert again.read(note_from_dict({**BLAND, "images": ["plain.png"]})).images[0].ocr_text == text
    assert again._engine is None  # from the cache, no OCR


@pytest.mark.parametrize(("ref", "what"), [
    ("../outside.png", "outside the image root"), ("/etc/hostname", "outside the image root"),
    ("missing.png", "no picture file"), ("https://x.test/a.jpg", "not fetched"),
    ("a\x00b.png", "cannot be used"),
])
def test_pictures_refused_with_reason(reader: PictureReader, ref: str, what: str) -> None:
    with pytest.raises(InputError, match=what) as err:
        reader.read(note_from_dict({**BLAND, "images": ["plain.png", ref]}))
    assert err.value.field == "images[1]"


def test_pictures_score_cli_opt_in(pictures: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    rows = [{**BLAND, "id": "a", "images": ["contact.png"]},
            {**BLAND, "id": "b", "images": ["https://x.test/b.jpg"]}]
    notes.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                     encoding="utf-8")
    plain, read = tmp_path / "plain.jsonl", tmp_path / "read.jsonl"
    assert main(["score", str(notes), "-o", str(plain), "--no-progress"]) == 0
    labels = {v["id"]: v["label"] for v in map(json.loads, plain.read_text().splitlines())}
    assert labels == {"a": "sharing", "b": "sharing"}  # without --images nothing is read
    assert main(["score", str(notes), "-o", str(read), "--images", "--image-root", str(pictures),
                 "--no-progress"]) == 0
    (v,) = map(json.loads, read.read_text().splitlines())
    assert v["id"] == "a" and v["label"] == "undisclosed_ad"
    assert any(r["field"] == "images[0]" for r in v["reasons"])
    (err,) = map(json.loads, (tmp_path / "read.errors.jsonl").read_text().splitlines())
    assert err["field"] == "images[0]" and "not fetched" in err["reason"]
    assert main(["score", str(notes), "-o", str(read), "--images", "--no-progress"]) == 2
    assert main(["score", str(notes), "-o", str(read), "--fetch-images", "--no-progress"]) == 2


@pytest.mark.parametrize(("name", "evidence"), [("contact.png", "加V"), ("wechat_qr.png", "WeChat contact")])
def test_pictures_diversion_is_the_grounds_act(reader: PictureReader, pipeline: Pipeline,
                                               name: str, evidence: str) -> None:
    v = pipeline(reader.read(note_from_dict({**BLAND, "images": [name]})))
    act = next(r for r in v.reasons if r.rule == "GROUNDS-ACT")
    assert act.field == "images[0]" and evidence in act.evidence, v.reasons
    assert field_text(reader.read(note_from_dict({**BLAND, "images": [name]})),
                      "images[0]")[act.start:act.end] == act.evidence
    assert any(r.rule == "GROUNDS" and r.evidence.startswith("diversion") for r in v.reasons)


def test_pictures_crawler_export_with_comments_bio_and_pictures(pictures: Path,
                                                                 tmp_path: Path) -> None:
    """The issue's 'done when': a crawler export scored with its comment file and its pictures
    gives verdicts whose reasons point into the comments, the bio and the pictures."""
    bland = "天气很好，带了新买的帐篷，风景超美，下次还来。"
    notes = [  # MediaCrawler note rows (author user_id) with a canonical bio and local pictures
        {"note_id": "c", "title": "周末去露营", "desc": bland, "user_id": "u1"},
        {"note_id": "b", "title": "周末去露营", "desc": bland, "user_id": "u2",
         "author": {"id": "u2", "bio": "露营爱好者 vx: camp_2024"}},
        {"note_id": "p", "title": "周末去露营", "desc": bland, "user_id": "u3",
         "images": ["plain.png", "wechat_qr.png"]},
        {"note_id": "n", "title": "周末去露营", "desc": bland, "user_id": "u4",
         "images": ["plain.png"]},
    ]
    comments = [{"comment_id": "1", "note_id": "c", "content": "帐篷求链接", "user_id": "x9"},
                {"comment_id": "2", "note_id": "c", "content": "已私", "user_id": "u1",
                 "parent_comment_id": "1"}]
    src, side = tmp_path / "notes.jsonl", tmp_path / "comments.jsonl"
    for path, rows in ((src, notes), (side, comments)):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    out = tmp_path / "v.jsonl"
    assert main(["score", str(src), "-o", str(out), "--comments", str(side), "--images",
                 "--image-root", str(pictures), "--no-progress"]) == 0
    verdicts = {v["id"]: v for v in map(json.loads, out.read_text("utf-8").splitlines())}
    expected = {"c": "comments[1]", "b": "author.bio", "p": "images[1]"}
    for note, field in expected.items():
        v = verdicts[note]
        assert v["label"] == "undisclosed_ad", v
        assert any(r["field"] == field and r["rule"].startswith("R1") for r in v["reasons"]), v
        assert any(r["rule"] == "GROUNDS-ACT" and r["field"] == field for r in v["reasons"]), v
    assert verdicts["n"]["label"] == "sharing"


def test_pictures_ocr_engine_failure_is_the_notes_error(pictures: Path) -> None:
    class Broken:
        def __call__(self, image: object) -> object:
            raise RuntimeError("bad tensor shape")

    fresh = PictureReader(pictures)
    fresh._engine = Broken()
    with pytest.raises(InputError, match="OCR failed.*bad tensor shape") as err:
        fresh.read(note_from_dict({**BLAND, "images": ["plain.png"]}))
    assert err.value.field == "images[0]"


def test_pictures_a_folder_stands_for_the_pictures_in_it(pictures: Path, tmp_path: Path,
                                                         pipeline: Pipeline) -> None:
    """CHASM-style dumps keep a note's pictures in a folder of their own."""
    import shutil

    root = tmp_path / "chasm"
    (root / "images" / "p1" / "sub").mkdir(parents=True)
    shutil.copy(pictures / "plain.png", root / "images" / "p1" / "01.png")
    shutil.copy(pictures / "contact.png", root / "images" / "p1" / "02.PNG")
    shutil.copy(pictures / "wechat_qr.png", root / "images" / "p1" / "sub" / "03.png")  # not read
    (root / "images" / "p1" / "notes.txt").write_text("not a picture", "utf-8")
    (root / "images" / "empty").mkdir()
    folder_reader = PictureReader(root)
    note = folder_reader.read(note_from_dict({**BLAND, "images": "images/p1"}))
    assert [p.path for p in note.images] == ["images/p1/01.png", "images/p1/02.PNG"]
    assert "湖边" in (note.images[0].ocr_text or "") and "abc12345" in (note.images[1].ocr_text or "")
    v = pipeline(note)
    assert v.label == "undisclosed_ad"
    assert any(r.rule == "R18-PICTURE-DIVERSION" and r.field == "images[1]" for r in v.reasons)
    with pytest.raises(InputError, match="holds no picture") as err:
        folder_reader.read(note_from_dict({**BLAND, "images": ["images/p1/01.png", "images/empty"]}))
    assert err.value.field == "images[1]"
    (root / "images" / "p1" / "escape").symlink_to(pictures / "contact.png")
    (root / "images" / "p1" / "escape.png").symlink_to(pictures / "contact.png")
    with pytest.raises(InputError, match="outside the image root"):  # a link out of the root is refused
        folder_reader.read(note_from_dict({**BLAND, "images": ["images/p1"]}))
