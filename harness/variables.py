"""Variables in a compose file, as ``docker compose`` reads them.

:class:`Interpolator` replaces ``${VAR}``, ``$VAR``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?message}``, ``${VAR?message}``, ``${VAR:+other}``, ``${VAR+other}`` (nested too)
and ``$$`` in string values; :func:`parse_env_file` reads ``.env`` and ``env_file`` files.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping
from pathlib import Path

from harness.errors import TopologyError

__all__ = ["Interpolator", "parse_env_file"]

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


class Interpolator:
    """``${VAR}``, ``$VAR``, ``${VAR:-default}`` and the rest of compose's forms, ``$$``."""

    def __init__(
        self, env: Mapping[str, str], path: Path, unset: dict[str, list[str]] | None = None
    ) -> None:
        self.env = env
        self.path = path
        self.unset = unset

    def tree(self, node: object, where: str) -> object:
        if isinstance(node, str):
            return self.string(node, where)
        if isinstance(node, Mapping):
            return {k: self.tree(v, f"{where}.{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [self.tree(v, f"{where}[{i}]") for i, v in enumerate(node)]
        return node

    def string(self, text: str, where: str) -> str:
        out: list[str] = []
        i = 0
        while (j := text.find("$", i)) >= 0:
            out.append(text[i:j])
            following = text[j + 1 : j + 2]
            if following == "$":
                out.append("$")
                i = j + 2
            elif following == "{":
                end = self._closing(text, j + 2, where)
                out.append(self._braced(text[j + 2 : end], where))
                i = end + 1
            elif match := _NAME.match(text, j + 1):
                out.append(self._lookup(match.group(), where))
                i = match.end()
            else:
                raise self._invalid(text, where)
        out.append(text[i:])
        return "".join(out)

    def _closing(self, text: str, start: int, where: str) -> int:
        depth, i = 0, start
        while i < len(text):
            if text.startswith("$$", i):
                i += 2
                continue
            if text.startswith("${", i):
                depth += 1
                i += 2
                continue
            if text[i] == "}":
                if depth == 0:
                    return i
                depth -= 1
            i += 1
        raise self._invalid(text, where)

    def _braced(self, body: str, where: str) -> str:
        match = _NAME.match(body)
        if not match:
            raise self._invalid("${" + body + "}", where)
        name, rest = match.group(), body[match.end() :]
        value = self.env.get(name)
        if rest == "":
            return self._lookup(name, where)
        for op in (":-", ":?", ":+", "-", "?", "+"):
            if rest.startswith(op):
                word = rest[len(op) :]
                break
        else:
            raise self._invalid("${" + body + "}", where)
        usable = bool(value) if op.startswith(":") else value is not None
        if op in (":-", "-"):
            return value if usable and value is not None else self.string(word, where)
        if op in (":+", "+"):
            return self.string(word, where) if usable else ""
        if usable and value is not None:
            return value
        message = self.string(word, where) or "it must be set"
        raise TopologyError(
            f"{where} in {self.path} needs the variable {name}: {message}. Set {name} in the "
            f"environment or in {self.path.parent / '.env'}"
        )

    def _lookup(self, name: str, where: str) -> str:
        value = self.env.get(name)
        if value is None:
            if self.unset is not None:
                self.unset.setdefault(name, []).append(where)
            return ""
        return value

    def _invalid(self, text: str, where: str) -> TopologyError:
        return TopologyError(
            f"{where} in {self.path}: {text!r} is not a valid interpolation; write "
            "${NAME}, ${NAME:-default} or ${NAME:?message}, and $$ for a literal $"
        )


_ENV_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*(=)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$"}


def parse_env_file(path: Path, env: Mapping[str, str]) -> dict[str, str | None]:
    """KEY=VALUE lines as compose reads them; a KEY alone maps to None (the shell's value).

    Comments, blank lines, ``export`` prefixes, single quotes (literal), double quotes
    (escapes, may span lines) and unquoted values (a `` #`` starts a comment) are accepted;
    ``${VAR}`` in unquoted and double-quoted values sees earlier keys, then ``env``.
    """
    text = path.read_text()
    values: dict[str, str | None] = {}
    known: ChainMap[str, str] = ChainMap({}, dict(env))  # earlier keys of the file first
    pos, line_no = 0, 1
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end]
        if not line.strip() or line.lstrip().startswith("#"):
            pos, line_no = end + 1, line_no + 1
            continue
        match = _ENV_KEY.match(line)
        if not match or (not match.group(2) and line[match.end() :].strip()):
            raise TopologyError(f"{path}:{line_no}: {line.strip()!r} is not KEY=VALUE")
        key = match.group(1)
        where = f"line {line_no} ({key})"
        if not match.group(2):
            values[key] = None
            pos, line_no = end + 1, line_no + 1
            continue
        start = pos + match.end()
        while start < len(text) and text[start] in " \t":
            start += 1
        quote = text[start : start + 1]
        if quote in ("'", '"'):
            close = _closing_quote(text, start + 1, quote)
            if close < 0:
                raise TopologyError(f"{path}:{line_no}: the {quote} quote of {key} never closes")
            raw = text[start + 1 : close]
            rest_end = text.find("\n", close)
            rest_end = len(text) if rest_end < 0 else rest_end
            after = text[close + 1 : rest_end].strip()
            if after and not after.startswith("#"):
                raise TopologyError(
                    f"{path}:{line_no}: {after!r} follows the quoted value of {key}"
                )
            if quote == "'":
                value = raw
            else:
                unescaped = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), raw)
                value = Interpolator(known, path).string(unescaped, where)
            line_no += text.count("\n", pos, rest_end)
            pos = rest_end
        else:
            raw = re.split(r"[ \t]#", text[start:end], maxsplit=1)[0].strip()
            value = Interpolator(known, path).string(raw, where)
            pos = end
        values[key] = value
        known.maps[0][key] = value
        pos, line_no = pos + 1, line_no + 1
    return values


def _closing_quote(text: str, start: int, quote: str) -> int:
    i = start
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1
