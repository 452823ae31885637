"""Helpers shared by the corpus readers: tokenisation with offsets, span/tag conversion, safe
line decoding, XML with line numbers, seeded holdouts and source-file checks.

Every helper that can meet malformed input raises :class:`raymtl.errors.DataError` naming the
file, the 1-based line and the field.
"""

from __future__ import annotations

import hashlib
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

from raymtl.errors import DataError

# The one tokenizer for raw text: words (with inner hyphens/apostrophes) or single punctuation marks.
TOKEN_RE = re.compile(r"\w+(?:[-']\w+)*|[^\w\s]")

Span = tuple[int, int, str]  # (start, end, type): character offsets [start, end) or token indices


# --------------------------------------------------------------------------- tokenisation


# English clitics split off as their own token, as the Penn Treebank / Stanford tokenisation of
# GloVe does (``it's`` -> ``it 's``, ``don't`` -> ``do n't``); only at the end of a word.
CLITIC_RE = re.compile(r"(?i)(?<=\w)(n't|'s|'re|'ve|'ll|'d|'m)$")


def tokenize(text: str, *, cuts: Iterable[int] = (), lower: bool = False,
             split_clitics: bool = False) -> tuple[list[str], list[tuple[int, int]]]:
    """Tokenize raw ``text`` with :data:`TOKEN_RE`; return tokens and their ``(start, end)`` offsets.

    ``cuts`` are character positions that must fall on token boundaries (e.g. the ends of
    annotated spans such as ``chef`` in ``chef's``): the text is cut there first and each piece
    is tokenized on its own, so every annotated span is a whole number of tokens.
    ``split_clitics``: a word ending in a clitic (:data:`CLITIC_RE`) becomes two tokens.
    """
    bounds = sorted({c for c in cuts if 0 < c < len(text)})
    pieces = zip([0, *bounds], [*bounds, len(text)])
    tokens: list[str] = []
    offsets: list[tuple[int, int]] = []
    for a, b in pieces:
        for m in TOKEN_RE.finditer(text, a, b):
            tok, start, end = m.group(), m.start(), m.end()
            c = CLITIC_RE.search(tok) if split_clitics else None
            if c is not None and c.start() > 0:
                tokens.append(tok[:c.start()].lower() if lower else tok[:c.start()])
                offsets.append((start, start + c.start()))
                tok, start = tok[c.start():], start + c.start()
            tokens.append(tok.lower() if lower else tok)
            offsets.append((start, end))
    return tokens, offsets


def words(text: str, *, lower: bool = False, split_clitics: bool = False) -> list[str]:
    """Just the tokens of :func:`tokenize` (no cuts, no offsets)."""
    if split_clitics:
        return tokenize(text, lower=lower, split_clitics=True)[0]
    return TOKEN_RE.findall(text.lower() if lower else text)


def category_words(category: str) -> list[str]:
    """``RESTAURANT#PRICES`` -> ``['restaurant', 'prices']``; ``FOOD#STYLE_OPTIONS`` -> food style options."""
    return [w for w in re.split(r"[#_\s]+", category.lower()) if w]


# --------------------------------------------------------------------------- spans and tags


def char_spans_to_bio(offsets: Sequence[tuple[int, int]], spans: Iterable[Span], *, file: str | Path | None = None,
                      lines: Sequence[int | None] | None = None, field_name: str = "from/to") -> list[str]:
    """Tag tokens (given by character ``offsets``) with BIO tags ``B-<type>``/``I-<type>``/``O``.

    Each span must start and end on token boundaries (use ``tokenize(cuts=...)``) and cover at
    least one token; identical spans are merged; overlapping different spans are an error.
    ``lines`` (parallel to ``spans``) locate each span in ``file`` for error messages.
    """
    tags = ["O"] * len(offsets)
    starts = {s: i for i, (s, _) in enumerate(offsets)}
    ends = {e: i for i, (_, e) in enumerate(offsets)}
    seen: set[tuple[int, int]] = set()
    for k, (start, end, typ) in enumerate(spans):
        line = lines[k] if lines is not None else None
        if (start, end) in seen:
            continue
        i, j = starts.get(start), ends.get(end)
        if i is None or j is None or j < i:
            raise DataError(f"span [{start}, {end}) does not start and end on token boundaries",
                            file=file, line=line, field=field_name)
        if any(t != "O" for t in tags[i:j + 1]):
            raise DataError(f"span [{start}, {end}) overlaps another span", file=file, line=line, field=field_name)
        tags[i] = f"B-{typ}"
        for t in range(i + 1, j + 1):
            tags[t] = f"I-{typ}"
        seen.add((start, end))
    return tags


def _split_tag(tag: str) -> tuple[str, str | None]:
    if tag == "O":
        return "O", None
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESLU":
        return tag[0], tag[2:]
    raise ValueError(tag)


def bio_spans(tags: Sequence[str]) -> list[Span]:
    """Token spans ``(start, end_exclusive, type)`` of a BIO sequence (a stray ``I-`` starts a span)."""
    spans: list[Span] = []
    start, typ = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, t = _split_tag(tag)
        if prefix == "I" and start is not None and t == typ:
            continue
        if start is not None:
            spans.append((start, i, typ))  # type: ignore[arg-type]
            start, typ = None, None
        if prefix in ("B", "I"):
            start, typ = i, t
    return spans


def is_valid_bio(tags: Sequence[str]) -> bool:
    """``True`` when every ``I-X`` follows ``B-X`` or ``I-X`` and every tag is ``O``/``B-X``/``I-X``."""
    prev = "O"
    for tag in tags:
        try:
            prefix, t = _split_tag(tag)
        except ValueError:
            return False
        if prefix not in ("O", "B", "I"):
            return False
        if prefix == "I" and (prev == "O" or prev[2:] != t):
            return False
        prev = tag
    return True


SCHEMES = ("IOB1", "IOB2", "BIO", "BIOES", "IOBES", "BILOU")


def to_bio(tags: Sequence[str], scheme: str, *, file: str | Path | None = None, line: int | None = None,
           field_name: str = "tag") -> list[str]:
    """Convert a tag sequence from ``scheme`` (IOB1, IOB2/BIO, BIOES/IOBES, BILOU) to BIO (IOB2).

    IOB1: ``I-X`` starts an entity unless the previous tag is of type X; ``B-X`` always starts
    one. IOB2/BIO: a stray ``I-X`` (after ``O`` or another type) starts an entity. BIOES/BILOU:
    ``S-``/``U-`` -> ``B-``, ``E-``/``L-`` -> ``I-`` (or ``B-`` when nothing precedes it).
    """
    scheme_u = scheme.upper()
    if scheme_u not in SCHEMES:
        raise DataError(f"unknown tagging scheme {scheme!r}; expected one of {', '.join(SCHEMES)}",
                        file=file, field="scheme_in")
    allowed = {"IOB1": "BI", "IOB2": "BI", "BIO": "BI", "BIOES": "BIES", "IOBES": "BIES", "BILOU": "BILU"}[scheme_u]
    out: list[str] = []
    prev_type: str | None = None  # type of the previous token's entity (None after O)
    for k, tag in enumerate(tags):
        try:
            prefix, t = _split_tag(tag)
        except ValueError:
            raise DataError(f"malformed tag {tag!r} for scheme {scheme}",
                            file=file, line=line + k if line is not None else None, field=field_name) from None
        if prefix != "O" and prefix not in allowed:
            raise DataError(f"tag {tag!r} is not allowed in scheme {scheme}",
                            file=file, line=line + k if line is not None else None, field=field_name)
        if prefix == "O":
            out.append("O")
        elif prefix in ("B", "S", "U"):
            out.append(f"B-{t}")
        else:  # I, E, L continue an entity of the same type, else start one
            out.append(f"I-{t}" if prev_type == t else f"B-{t}")
        # E/L/S/U close the entity: a following I-/E- of the same type starts a new one
        prev_type = t if prefix in ("B", "I") else None
    return out


# --------------------------------------------------------------------------- lines and labels


def decode_line(raw: bytes, *, file: str | Path, line: int, fallback: Sequence[str] = ("cp1252", "latin-1"),
                field_name: str = "encoding") -> str:
    """Decode one line as UTF-8, else with the first ``fallback`` encoding that works.

    An empty ``fallback`` makes undecodable bytes an error naming the file and line.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        for enc in fallback:
            try:
                return raw.decode(enc)
            except UnicodeDecodeError:
                continue
        raise DataError(f"byte {raw[err.start:err.start + 1]!r} at column {err.start + 1} is not valid UTF-8",
                        file=file, line=line, field=field_name) from None


def read_lines(path: Path, *, fallback: Sequence[str] = ("cp1252", "latin-1"), encoding: str | None = None) -> list[str]:
    """All lines of ``path`` (split on ``b"\\n"`` only, a trailing ``\\r`` removed, no final empty line).

    Never uses ``str.splitlines`` (which also splits on U+0085 and friends). With ``encoding``
    every line is decoded with it; else per line as in :func:`decode_line`.
    """
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not text
        data = data[3:]
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    out = []
    for n, raw in enumerate(raw_lines, 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if b"\x00" in raw:  # no text format here holds NUL: a UTF-16/binary file or a corrupted copy
            raise DataError(f"NUL byte at column {raw.find(0) + 1}: not a text line (a UTF-16 or binary "
                            "file, or a corrupted copy?)", file=path, line=n, field="encoding")
        if encoding is not None:
            try:
                out.append(raw.decode(encoding))
            except UnicodeDecodeError as err:
                raise DataError(f"byte {raw[err.start:err.start + 1]!r} at column {err.start + 1} is not valid "
                                f"{encoding}", file=path, line=n, field="encoding") from None
        else:
            out.append(decode_line(raw, file=path, line=n, fallback=fallback))
    return out


def require_records(records: list, path: Path, what: str, field_name: str) -> list:
    """``records`` unless empty: an empty (or blank) source file is a DataError, not an empty split."""
    if not records:
        raise DataError(f"no {what} in the file (empty or blank?)", file=path, line=1, field=field_name)
    return records


def check_label(value: str, allowed: Iterable[str], *, file: str | Path, line: int | None, field_name: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise DataError(f"unknown label {value!r}; expected one of {', '.join(allowed)}",
                        file=file, line=line, field=field_name)
    return value


# --------------------------------------------------------------------------- files


def require_files(source: Path, names: Iterable[str]) -> dict[str, Path]:
    """``{name: source/name}``; a missing directory or file is a DataError naming what was expected."""
    source = Path(source)
    names = list(names)
    if not source.is_dir():
        raise DataError(f"source directory not found; expected a directory holding: {', '.join(names)}",
                        file=source, field="source")
    paths = {n: source / n for n in names}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing:
        raise DataError(f"missing file(s) {', '.join(missing)} in {source}; expected: {', '.join(names)}",
                        file=source / missing[0], field="source")
    return paths


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def github_raw(repo: str, commit: str, path: str) -> str:
    """The raw download URL of ``path`` in GitHub repository ``repo`` at ``commit``."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{quote(path)}"


# --------------------------------------------------------------------------- options and splits


def option(options: Mapping[str, object], name: str, default):
    value = options.get(name, default) if options else default
    return default if value is None else value


def fraction_option(options: Mapping[str, object], name: str, default: float) -> float:
    value = option(options, name, default)
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"option {name} must be a number in [0, 1), got {value!r}", field=name) from None
    if not 0 <= f < 1:
        raise DataError(f"option {name} must be in [0, 1), got {f}", field=name)
    return f


def stable_key(key: str, seed: int | str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode("utf-8")).hexdigest()


def partition(keys: Iterable[str], fractions: Mapping[str, float], rest: str, seed: int | str = 0) -> dict[str, str]:
    """Assign each distinct key to a part, deterministically: ``{key: part}``.

    The distinct keys are ordered by ``sha256(f"{seed}:{key}")``; the parts of ``fractions``
    take, in their given order, the next ``round(fraction * n)`` keys each; ``rest`` gets the
    remaining keys. The result depends only on the keys, the fractions and the seed (not on file
    order or Python's hash randomisation).
    """
    distinct = sorted(set(keys), key=lambda x: (stable_key(x, seed), x))
    out: dict[str, str] = {}
    pos = 0
    for part, fraction in fractions.items():
        k = round(fraction * len(distinct))
        for key in distinct[pos:pos + k]:
            out[key] = part
        pos += k
    for key in distinct[pos:]:
        out[key] = rest
    return out


def holdout(keys: Iterable[str], fraction: float, seed: int | str = 0) -> set[str]:
    """The seeded subset of ``round(fraction * n)`` distinct keys that :func:`partition` holds out."""
    parts = partition(keys, {"held": fraction}, "kept", seed)
    return {k for k, p in parts.items() if p == "held"}


def carve_dev(splits: Mapping[str, list], fraction: float, seed: int | str = 0) -> tuple[dict[str, list], str]:
    """The one dev-carving rule: ``dev`` = the :func:`holdout` of the train example ids, the rest
    stays train (file order kept). Returns the new splits and the note that says how."""
    train = list(splits["train"])
    dev_ids = holdout([ex.id for ex in train], fraction, seed)
    out = {k: list(v) for k, v in splits.items() if k != "train"}
    out = {"train": [ex for ex in train if ex.id not in dev_ids], "dev": [ex for ex in train if ex.id in dev_ids],
           **out}
    note = (f"dev = {len(out['dev'])} of the {len(train)} train examples, held out by sha256(seed:id) with "
            f"dev_fraction={fraction}, seed={seed} (the corpus has no dev split)")
    return out, note


# --------------------------------------------------------------------------- XML with line numbers


@dataclass
class XmlNode:
    """A minimal XML element that knows its 1-based source line (ElementTree does not)."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list["XmlNode"] = field(default_factory=list)
    text: str = ""

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrib.get(key, default)

    def iter(self, tag: str) -> Iterator["XmlNode"]:
        if self.tag == tag:
            yield self
        for c in self.children:
            yield from c.iter(tag)

    def find(self, tag: str) -> "XmlNode | None":
        return next((c for c in self.children if c.tag == tag), None)


def parse_xml(path: Path) -> XmlNode:
    """Parse ``path`` with expat, recording each element's line; errors become DataError with the line."""
    parser = xml.parsers.expat.ParserCreate()
    stack: list[XmlNode] = []
    root: list[XmlNode] = []
    texts: list[list[str]] = []

    def start(tag, attrs):
        node = XmlNode(tag, attrs, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(tag):
        node = stack.pop()
        node.text = "".join(texts.pop())

    def chars(data):
        if texts:
            texts[-1].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.buffer_text = True
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except xml.parsers.expat.ExpatError as err:
        raise DataError(f"malformed XML: {xml.parsers.expat.ErrorString(err.code)} (column {err.offset + 1})",
                        file=path, line=err.lineno, field="xml") from None
    if not root:
        raise DataError("empty XML document", file=path, line=1, field="xml")
    return root[0]


def required_attr(node: XmlNode, name: str, file: Path) -> str:
    value = node.get(name)
    if value is None:
        raise DataError(f"<{node.tag}> has no attribute {name!r}", file=file, line=node.line, field=name)
    return value


def int_attr(node: XmlNode, name: str, file: Path) -> int:
    value = required_attr(node, name, file)
    try:
        return int(value)
    except ValueError:
        raise DataError(f"attribute {name}={value!r} is not an integer", file=file, line=node.line,
                        field=name) from None


def check_span_text(text: str, start: int, end: int, term: str, *, file: Path, line: int, sid: str) -> None:
    """``text[start:end] == term`` or a DataError naming ``from``/``to``."""
    if 0 <= start <= end <= len(text) and text[start:end] == term:
        return
    field_name = "to" if (end - start) != len(term) and text[start:start + len(term)] == term else "from"
    raise DataError(f"sentence {sid}: text[{start}:{end}] = {text[max(0, start):max(0, end)]!r} "
                    f"does not match the term {term!r}", file=file, line=line, field=field_name)
