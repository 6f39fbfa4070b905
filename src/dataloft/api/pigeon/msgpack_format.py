"""Record values as MessagePack, the way Pigeon Optics writes them: Buffers are ``bin``,
Sets are extension type 72 (holding the packed array of their members), Dates are the
standard timestamp extension, and what MessagePack has no type for (Maps, URLs,
``undefined``, integers beyond 64 bits) travels as the JSON ``{type, data}`` tags. A
stream is items one after another."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import msgpack

from dataloft.core.errors import Invalid
from dataloft.core.values import (
    JSURL,
    MAX_DEPTH,
    UNDEFINED,
    JSDate,
    JSMap,
    JSSet,
    check_depth,
    untag,
)

SET_EXTENSION = 72
_INT_RANGE = range(-(2**63), 2**64)


def _packable(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
    deeper = depth + 1
    if isinstance(value, JSURL):
        return {"type": "URL", "data": str(value)}
    if isinstance(value, bool) or value is None or isinstance(value, str | float | bytes):
        return value
    if isinstance(value, int):
        return value if value in _INT_RANGE else {"type": "BigInteger", "data": str(value)}
    if isinstance(value, list | tuple):
        return [_packable(item, deeper) for item in value]
    if isinstance(value, dict):
        return {_packable(k, deeper): _packable(v, deeper) for k, v in value.items()}
    if isinstance(value, JSSet | set | frozenset):
        members = value.items if isinstance(value, JSSet) else list(value)
        packed = _pack([_packable(item, deeper) for item in members])
        return msgpack.ExtType(SET_EXTENSION, packed)
    if isinstance(value, JSMap):
        pairs = [[_packable(k, deeper), _packable(v, deeper)] for k, v in value.pairs]
        return {"type": "Map", "data": pairs}
    if isinstance(value, JSDate):
        return msgpack.Timestamp.from_unix_nano(round(value.ms * 1_000_000))
    if value is UNDEFINED:
        return {"type": "constant", "data": "undefined"}
    raise Invalid(f"cannot represent a {type(value).__name__} as MessagePack")


def _pack(data: Any) -> bytes:
    packed: bytes = msgpack.packb(data, use_bin_type=True, datetime=False)
    return packed


def dump(value: Any) -> bytes:
    return _pack(_packable(value))


def _extension(code: int, data: bytes) -> Any:
    if code == SET_EXTENSION:
        return JSSet(_unpacker(io.BytesIO(data)).unpack())
    raise Invalid(f"unsupported MessagePack extension type {code}")


def _unpacker(stream: io.BytesIO) -> msgpack.Unpacker:
    return msgpack.Unpacker(
        stream, raw=False, strict_map_key=False, ext_hook=_extension, timestamp=0
    )


def _restore(value: Any, depth: int = 0) -> Any:
    """MessagePack's values as record values: tags undone, timestamps as Dates."""
    if depth > MAX_DEPTH:
        raise Invalid(f"value nested deeper than {MAX_DEPTH} levels")
    deeper = depth + 1
    if isinstance(value, list):
        return [_restore(item, deeper) for item in value]
    if isinstance(value, dict):
        return untag({_restore(k, deeper): _restore(v, deeper) for k, v in value.items()})
    if isinstance(value, JSSet):
        return JSSet(_restore(item, deeper) for item in value.items)
    if isinstance(value, msgpack.Timestamp):
        return JSDate(value.to_unix_nano() / 1_000_000)
    return value


def load_all(raw: bytes) -> Iterator[Any]:
    """The items of a MessagePack stream."""
    unpacker = _unpacker(io.BytesIO(raw))
    while True:
        try:
            item = unpacker.unpack()
        except msgpack.OutOfData:
            if unpacker.tell() < len(raw):
                raise Invalid("malformed MessagePack: the last item is cut short") from None
            return
        except Invalid:
            raise
        except (ValueError, TypeError, msgpack.UnpackException) as error:
            # TypeError: a map key MessagePack allows but Python cannot hash.
            raise Invalid(f"malformed MessagePack: {error}") from None
        value = _restore(item)
        check_depth(value)
        yield value
