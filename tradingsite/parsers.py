"""The API's JSON parser: DRF's, with the input rules of ``trading.inputs`` applied to every body (the
wiring layer: ``settings.REST_FRAMEWORK`` names it; ``trading.inputs`` stays free of DRF)."""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from trading.inputs import MAX_JSON_DEPTH, json_problem


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a 400 (not a 500) for JSON nested too deep for Python's parser, and
    for JSON that ``trading.inputs.json_problem`` refuses."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        problem = json_problem(data)
        if problem is not None:
            raise ValidationError({problem[0]: [problem[1]]})
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")
