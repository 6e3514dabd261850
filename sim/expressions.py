"""Dialplan text evaluation: ``${VAR}``/``${FUNC(args)}`` substitution, ``$[...]`` expressions, arguments."""

from __future__ import annotations

import re
from collections.abc import Callable

Resolver = Callable[[str], str | None]


def split_args(data: str, sep: str = ",", limit: int | None = None) -> list[str]:
    """Split application arguments like ``ast_app_separate_args`` (quotes, brackets, backslashes kept).

    With ``limit``, the last argument keeps the rest of the text, commas included (AST_STANDARD_APP_ARGS).
    """
    if data == "":
        return []
    args: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    i = 0
    while i < len(data):
        c = data[i]
        if c == "\\" and i + 1 < len(data):
            current.append(data[i + 1])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif not quoted and c in "([{":
            depth += 1
        elif not quoted and c in ")]}" and depth > 0:
            depth -= 1
        if c == sep and depth == 0 and not quoted and (limit is None or len(args) < limit - 1):
            args.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    args.append("".join(current))
    return [strip_quotes(a) for a in args]


def strip_quotes(value: str) -> str:
    """Remove one pair of surrounding double quotes."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def _matching(text: str, start: int, opener: str, closer: str) -> int:
    """Index of the closer that balances an opener just before ``start``; -1 when unbalanced."""
    depth = 1
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def substitute(text: str, resolve: Resolver) -> str:
    """Expand ``${...}`` and ``$[...]`` (nested) in ``text``; unknown variables expand to nothing."""
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            end = _matching(text, i + 2, "{", "}")
            if end < 0:
                out.append(text[i:])
                break
            inner = substitute(text[i + 2 : end], resolve)
            out.append(_resolve_with_substring(inner, resolve))
            i = end + 1
        elif text.startswith("$[", i):
            end = _matching(text, i + 2, "[", "]")
            if end < 0:
                out.append(text[i:])
                break
            inner = substitute(text[i + 2 : end], resolve)
            out.append(evaluate(inner))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _resolve_with_substring(inner: str, resolve: Resolver) -> str:
    name, offset, length = inner, None, None
    # ``${VAR:offset:length}``; a colon inside a function's parentheses is part of its arguments.
    depth = 0
    for idx, c in enumerate(inner):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == ":" and depth == 0:
            name = inner[:idx]
            rest = inner[idx + 1 :].split(":", 1)
            offset = _to_int(rest[0])
            length = _to_int(rest[1]) if len(rest) > 1 else None
            break
    value = resolve(name) or ""
    if offset is None:
        return value
    start = offset if offset >= 0 else max(0, len(value) + offset)
    if length is None:
        return value[start:]
    if length < 0:
        return value[start:length]
    return value[start : start + length]


def _to_int(text: str) -> int | None:
    try:
        return int(text.strip()) if text.strip() else 0
    except ValueError:
        return 0


def is_true(value: str) -> bool:
    """pbx_checkcondition: empty is false, a number is its value, any other text is true."""
    value = value.strip()
    if value == "":
        return False
    number = _number(value)
    if number is not None:
        return number != 0
    return True


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:f}".rstrip("0")


_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|=~|!=|<=|>=|::|[=<>|&+\-*/%!?():]|[^\s"=<>|&!?():]+)')
_ARITH_WORD = re.compile(r"^-?\d+(?:\.\d+)?(?:[+\-*/%]-?\d+(?:\.\d+)?)+$")


def _tokenize(expr: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None or match.end() == pos:
            break
        token = match.group(1)
        pos = match.end()
        if _ARITH_WORD.match(token):
            tokens.extend(re.findall(r"\d+(?:\.\d+)?|[+\-*/%]", token))
        else:
            tokens.append(token)
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def ternary(self) -> str:
        cond = self.logical_or()
        if self.peek() == "?":
            self.take()
            yes = self.ternary()
            if self.peek() == "::":
                self.take()
            no = self.ternary()
            return yes if is_true(cond) else no
        return cond

    def logical_or(self) -> str:
        left = self.logical_and()
        while self.peek() == "|":
            self.take()
            right = self.logical_and()
            left = left if is_true(left) else right
        return left

    def logical_and(self) -> str:
        left = self.comparison()
        while self.peek() == "&":
            self.take()
            right = self.comparison()
            left = left if is_true(left) and is_true(right) else "0"
        return left

    def comparison(self) -> str:
        left = self.additive()
        while self.peek() in ("=", "!=", "<", ">", "<=", ">=", "=~"):
            op = self.take()
            right = self.additive()
            if op == "=~":
                match = re.search(right, left)
                if match is None:
                    left = "0"
                else:
                    left = match.group(1) if match.groups() else str(len(match.group(0)))
                continue
            a, b = _number(left), _number(right)
            numeric = a is not None and b is not None
            pair: tuple[float, float] | tuple[str, str] = (a, b) if numeric else (left, right)  # type: ignore[assignment]
            result = {
                "=": pair[0] == pair[1],
                "!=": pair[0] != pair[1],
                "<": pair[0] < pair[1],  # type: ignore[operator]
                ">": pair[0] > pair[1],  # type: ignore[operator]
                "<=": pair[0] <= pair[1],  # type: ignore[operator]
                ">=": pair[0] >= pair[1],  # type: ignore[operator]
            }[op]
            left = "1" if result else "0"
        return left

    def additive(self) -> str:
        left = self.multiplicative()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.multiplicative()
            a, b = _number(left) or 0.0, _number(right) or 0.0
            left = _fmt(a + b if op == "+" else a - b)
        return left

    def multiplicative(self) -> str:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            right = self.unary()
            a, b = _number(left) or 0.0, _number(right) or 0.0
            if op == "*":
                left = _fmt(a * b)
            elif b == 0:
                left = "0"
            elif op == "/":
                left = _fmt(int(a / b) if a.is_integer() and b.is_integer() else a / b)
            else:
                left = _fmt(a % b)
        return left

    def unary(self) -> str:
        token = self.peek()
        if token == "!":
            self.take()
            return "0" if is_true(self.unary()) else "1"
        if token in ("-", "+") and self.pos + 1 < len(self.tokens):
            self.take()
            value = _number(self.unary()) or 0.0
            return _fmt(-value if token == "-" else value)
        return self.primary()

    def primary(self) -> str:
        token = self.peek()
        if token is None:
            return ""
        if token == "(":
            self.take()
            value = self.ternary()
            if self.peek() == ")":
                self.take()
            return value
        self.take()
        if token.startswith('"') and token.endswith('"') and len(token) >= 2:
            return token[1:-1]
        return token


def evaluate(expr: str) -> str:
    """Evaluate ``$[...]`` content: comparisons give "1"/"0", arithmetic numbers, strings compare as text."""
    tokens = _tokenize(expr)
    if not tokens:
        return ""
    parser = _Parser(tokens)
    value = parser.ternary()
    # Anything left unparsed (an odd expression) is concatenated, which is what a user usually meant.
    while parser.peek() is not None:
        value += parser.take()
    return value
