"""Shared fixtures. Models are built here at test time (tiny), never downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.rules import Policy
from classifier.types import LABELS, Author, Note, ProductTag

REPO = Path(__file__).resolve().parent.parent

TOY_NOTES: list[tuple[str, str]] = [
    ("周末去了家楼下新开的面馆，汤头很鲜，就是排队有点久，下次工作日再来", "sharing"),
    ("用了一个月的洗面奶，感觉一般般，没有网上说的那么神，自费买的不推荐", "sharing"),
    ("带娃去公园野餐，天气超好，孩子玩疯了，记录一下美好的一天", "sharing"),
    ("这款精华真的绝了，姐妹们冲！到手价只要99，链接在主页，加薇❤领优惠券", "undisclosed_ad"),
    ("内部渠道拿货，全网最低价，私我获取购买方式，V: abc12345", "undisclosed_ad"),
    ("朋友推荐的祛斑神器，7天见效，100%有效，评论区暗号领取", "undisclosed_ad"),
    ("本篇为品牌合作，感谢XX品牌邀请试用新款面霜，质地清爽", "declared"),
    ("#品牌合作 这次收到了品牌方赠送的扫地机器人，实际用下来吸力不错", "declared"),
    ("广告｜恰饭啦，这款耳机降噪效果很好，通勤党可以看看", "declared"),
]


def toy_note(text: str, i: int = 0, **kw: object) -> Note:
    return Note(id=f"toy-{i}", text=text, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _review_store_outside_the_tree(tmp_path_factory: pytest.TempPathFactory) -> None:
    """An app a test builds without its own store settings opens the default review store (a SQLite
    file in ``NOTECHECK_DATA_DIR``, ``.notecheck`` by default): keep it in a temporary folder so that
    no test leaves a database in the working tree or sees items queued by an earlier run. Servers
    started as subprocesses inherit it."""
    import os

    os.environ["NOTECHECK_DATA_DIR"] = str(tmp_path_factory.mktemp("notecheck-data"))


@pytest.fixture(scope="session")
def policy() -> Policy:
    return Policy.load()


@pytest.fixture(scope="session")
def toy_examples() -> list[tuple[Note, str]]:
    return [(toy_note(t, i), lab) for i, (t, lab) in enumerate(TOY_NOTES)]


@pytest.fixture(scope="session")
def lexical_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny lexical model fitted on the toy notes, saved as a model folder."""
    from classifier.lexical import LexicalModel

    texts = [t for t, _ in TOY_NOTES] * 2
    labels = [lab for _, lab in TOY_NOTES] * 2
    model = LexicalModel(min_df=1, name="toy-lexical", model_version="t1").fit(texts, labels)
    out = tmp_path_factory.mktemp("lexical")
    model.save(out)
    return out


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT (2 layers, hidden 32) with a character WordPiece tokenizer, random weights,
    saved as a notecheck encoder folder."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    from classifier.encoder import write_encoder_config

    out = tmp_path_factory.mktemp("tiny-encoder")
    chars = sorted({c for t, _ in TOY_NOTES for c in t})
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars])}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(out)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=3,
                        id2label=dict(enumerate(LABELS)), label2id={v: k for k, v in enumerate(LABELS)})
    import torch

    torch.manual_seed(0)  # the same random weights on every run: the toy-task test is not flaky
    BertForSequenceClassification(config).save_pretrained(out)
    write_encoder_config(out, name="tiny-encoder", version="t1", max_length=64)
    return out


ONNX_TEXTS = [t for t, _ in TOY_NOTES] + ["短", "广告" * 40, "周末去了家楼下新开的面馆" * 6]


@pytest.fixture(scope="session")
def onnx_encoder_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny encoder with a decisive head (clear label margins), exported to ONNX
    (fp32 + int8) by ``training.export`` at test time."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from training.export import ExportOptions, export_encoder

    out = tmp_path_factory.mktemp("onnx") / "enc"
    shutil.copytree(tiny_encoder_dir, out)
    config = AutoConfig.from_pretrained(str(out))
    with torch.random.fork_rng(), torch.no_grad():  # fixed weights: int8 error is then reproducible
        torch.manual_seed(5)
        model = AutoModelForSequenceClassification.from_config(config)
        model.classifier.weight.mul_(200.0)
    model.save_pretrained(out)
    export_encoder(out, ExportOptions(check=len(ONNX_TEXTS)), ONNX_TEXTS, log=lambda *_: None)
    return out


@pytest.fixture()
def example_note() -> Note:
    return Note(
        id="n1",
        title="新入手的面霜",
        text="用了两周，保湿不错。@某某官方旗舰店 加薇信abc123领券，到手价99元",
        mentions=("某某官方旗舰店",),
        product_tags=(ProductTag(name="保湿面霜", store="某某旗舰店", price=99.0),),
        author=Author(account_type="personal", has_store=False, followers=300),
    )


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


# ----------------------------------------------------------------------------- databases
PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def postgres_server() -> object:
    """A real PostgreSQL 15 (Debian's) in a temporary folder, on a Unix socket, run as a
    non-root user (``postgres``, else ``nobody``) when the tests run as root. It FAILS (never
    skips) when it cannot start: install it with ``apt-get install postgresql-15`` (``make
    test`` does). Yields a function ``url(dbname) -> str`` that creates a fresh database."""
    import itertools
    import os
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile

    if not (PG_BIN / "initdb").is_file():
        pytest.fail(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb is missing); run "
                    "`apt-get install postgresql-15` or `make postgres`")
    root = Path(tempfile.mkdtemp(prefix="notecheck-pg-"))
    root.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = next((u for u in ("postgres", "nobody") if _has_user(pwd, u)), None)
        if user is None:
            pytest.fail("running as root and neither user postgres nor nobody exists to run "
                        "PostgreSQL; create one (useradd postgres)")
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"

    def run(*cmd: str) -> None:
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0:
            log = (root / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"PostgreSQL did not start: {' '.join(cmd)} exited {done.returncode}:\n"
                        f"{done.stdout[-2000:]}{done.stderr[-2000:]}\n{tail}")

    run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "notecheck", "--auth=trust", "-E", "UTF8",
        "--no-sync", "--locale=C.UTF-8")
    run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
        "-o", f"-p {port} -k {root} -c listen_addresses='' -c fsync=off -c max_connections=200",
        "start")
    counter = itertools.count()

    def url(name: str | None = None) -> str:
        import psycopg

        db = name or f"t{next(counter)}"
        with psycopg.connect(host=str(root), port=port, user="notecheck", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        return f"postgresql+psycopg://notecheck@/{db}?host={root}&port={port}"

    url.stop = lambda: run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w",  # type: ignore[attr-defined]
                           "stop")
    url.start = lambda: run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l",  # type: ignore[attr-defined]
                            str(root / "server.log"), "-w", "-t", "60", "-o",
                            f"-p {port} -k {root} -c listen_addresses='' -c fsync=off "
                            "-c max_connections=200", "start")
    try:
        yield url
    finally:
        subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _has_user(pwd: object, name: str) -> bool:
    try:
        pwd.getpwnam(name)  # type: ignore[attr-defined]
    except KeyError:
        return False
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    make = request.getfixturevalue("postgres_server")
    return str(make())  # type: ignore[operator]


# ----------------------------------------------------------------------------- pictures
PICTURE_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
PICTURES = {"contact.png": "加V: abc12345", "plain.png": "湖边的日落",
            "wechat_qr.png": "https://u.wechat.com/EabcDEF123",
            "group_qr.png": "https://weixin.qq.com/g/AbCdEf"}
"""The tests' pictures: text drawn in Debian's WenQuanYi font, or (``*_qr.png``) a QR code of it."""


def text_png(text: str) -> bytes:
    """``text`` drawn black on white (420x90) in Debian's WenQuanYi font, as PNG bytes. Fails (never
    skips) when the font is missing."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    if not PICTURE_FONT.is_file():
        pytest.fail(f"the CJK test font is missing at {PICTURE_FONT}: apt-get install fonts-wqy-microhei")
    im = Image.new("RGB", (420, 90), "white")
    ImageDraw.Draw(im).text((16, 20), text, font=ImageFont.truetype(str(PICTURE_FONT), 36), fill="black")
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def draw_pictures(root: Path, *names: str) -> Path:
    """Write the pictures ``names`` of :data:`PICTURES` into ``root`` (made here with Pillow and
    ``qrcode``); returns ``root``."""
    import qrcode

    for name in names:
        if name.endswith("_qr.png"):
            qrcode.make(PICTURES[name]).save(root / name)
        else:
            (root / name).write_bytes(text_png(PICTURES[name]))
    return root
