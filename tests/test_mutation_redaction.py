"""Secrets never leave: the redactor's exact behaviour on texts, bytes, values and
exceptions (mutation-tested, see benchmarks/mutation.py). Fast: no sandbox runs."""

from __future__ import annotations

import collections
import dataclasses
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import pydantic
import pydantic_core
import pytest

from agent_tools.base.errors import FatalToolError, SandboxError
from agent_tools.base.record import HostCall, RunRecord
from agent_tools.task.redaction import RedactedError, RedactedFatalToolError, Redactor
from agent_tools.task.redaction.forms import _json_inners, _repr_inners  # pyright: ignore[reportPrivateUsage]

SECRET = "s3cr3t-Zx81"
MARK = "[secret TOKEN]"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor({"TOKEN": SECRET})


# -- the stand-ins ----------------------------------------------------------------------------


def test_redacted_error_defaults_to_an_empty_message_and_type() -> None:
    error = RedactedError()
    assert (str(error), error.args, error.original_type) == ("", ("",), "")
    named = RedactedError("ValueError: x", "ValueError")
    assert (str(named), named.original_type) == ("ValueError: x", "ValueError")
    assert issubclass(RedactedFatalToolError, FatalToolError)


class Shows(Exception):
    """An exception whose own `__str__` shows the secret whatever its args hold."""

    def __str__(self) -> str:
        return f"shows {SECRET}"


class ShowsFatal(FatalToolError):
    def __str__(self) -> str:
        return f"fatal {SECRET}"


def test_an_exception_whose_own_text_shows_the_secret_becomes_a_named_stand_in(redactor: Redactor) -> None:
    out = redactor.exception(Shows("x"))
    assert type(out) is RedactedError
    assert str(out) == f"Shows: shows {MARK}"
    assert getattr(out, "original_type", None) == "Shows"
    fatal = redactor.exception(ShowsFatal("y"))
    assert type(fatal) is RedactedFatalToolError
    assert str(fatal) == f"ShowsFatal: fatal {MARK}"


def test_an_exception_is_copied_with_its_class_args_and_attributes(redactor: Redactor) -> None:
    exc = KeyError(SECRET, 3)
    exc.note = f"about {SECRET}"  # type: ignore[attr-defined]
    out = redactor.exception(exc)
    assert type(out) is KeyError and out is not exc
    assert out.args == (MARK, 3)
    assert out.note == f"about {MARK}"  # type: ignore[attr-defined]
    assert exc.args == (SECRET, 3)
    clean = ValueError("nothing")
    assert redactor.exception(clean) is clean


def test_an_exception_without_secrets_is_returned_when_nothing_is_secret() -> None:
    exc = ValueError(SECRET)
    assert Redactor({}).exception(exc) is exc
    assert Redactor({"EMPTY": ""}).value([SECRET]) == [SECRET]
    assert not Redactor({"EMPTY": ""})
    assert Redactor({"TOKEN": SECRET})


# -- texts and bytes --------------------------------------------------------------------------


def test_text_replaces_every_form_and_leaves_replacements_alone(redactor: Redactor) -> None:
    assert redactor.text(f"a {SECRET} b {SECRET!r}") == f"a {MARK} b '{MARK}'"
    assert redactor.text(f"{MARK} {SECRET}") == f"{MARK} {MARK}"
    assert redactor.text("clean") == "clean"


def test_a_secret_containing_another_is_replaced_whole() -> None:
    redactor = Redactor({"SHORT": "abc123", "LONG": "xxabc123yy"})
    assert redactor.text("xxabc123yy abc123") == "[secret LONG] [secret SHORT]"
    assert redactor.redact_bytes(b"xxabc123yy abc123") == b"[secret LONG] [secret SHORT]"


def test_each_part_is_searched_for_the_longer_secrets_before_the_shorter_ones() -> None:
    redactor = Redactor({"A": "xxabc123yy", "B": "zabc123", "C": "abc123"})
    assert redactor.text("xxabc123yy zabc123") == "[secret A] [secret B]"
    assert redactor.redact_bytes(b"xxabc123yy zabc123") == b"[secret A] [secret B]"


def test_contains_looks_outside_the_replacements_only(redactor: Redactor) -> None:
    assert redactor.contains(f"x{SECRET}x")
    assert not redactor.contains("clean")
    assert not redactor.contains(f"{MARK} and {MARK}")
    assert redactor.contains(f"{MARK} and {SECRET}")


def test_bytes_are_redacted_and_searched_like_texts(redactor: Redactor) -> None:
    data = f"a {SECRET} b".encode()
    assert redactor.redact_bytes(data) == f"a {MARK} b".encode()
    assert redactor.redact_bytes(b"clean") == b"clean"
    assert redactor.redact_bytes(f"{MARK}{SECRET}".encode()) == f"{MARK}{MARK}".encode()
    assert redactor.contains_bytes(data)
    assert not redactor.contains_bytes(b"clean")
    assert not redactor.contains_bytes(MARK.encode())
    assert redactor.contains_bytes(f"{MARK} {SECRET}".encode())


def test_bytes_values_keep_their_type(redactor: Redactor) -> None:
    data = f"<{SECRET}>".encode()
    out = redactor.value([data, bytearray(data), memoryview(data), b"clean"])
    assert out == [b"<" + MARK.encode() + b">", bytearray(b"<" + MARK.encode() + b">"), out[2], b"clean"]
    assert type(out[1]) is bytearray
    assert out[2] == b"<" + MARK.encode() + b">"


# -- values -----------------------------------------------------------------------------------


class Custom:
    """A class with a `__repr__` of its own, which shows only what it is told."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Custom({self.value})"


class Opaque:
    """Its own repr shows the secret however its fields are redacted."""

    def __init__(self) -> None:
        self.n = 1

    def __repr__(self) -> str:
        return f"Opaque({SECRET})"


class Plain:
    def __init__(self, value: Any) -> None:
        self.value = value


@dataclasses.dataclass
class Record:
    token: str
    n: int = 0


class Model(pydantic.BaseModel):
    token: str


class Slotted:
    __slots__ = ("__hidden", "token", "unset")

    def __init__(self, token: str) -> None:
        self.token = token
        self.__hidden = token

    def hidden(self) -> str:
        return self.__hidden


class SingleSlot:
    __slots__ = "token"

    def __init__(self, token: str) -> None:
        self.token = token


class Pair(NamedTuple):
    a: Any
    b: Any


def test_objects_are_copied_with_fields_redacted_and_their_own_text_checked(redactor: Redactor) -> None:
    custom = Custom(SECRET)
    out = redactor.value([custom, Plain(SECRET), Record(SECRET, 2), Model(token=SECRET), Opaque()])
    assert type(out[0]) is Custom and out[0].value == MARK and custom.value == SECRET
    assert type(out[1]) is Plain and out[1].value == MARK
    assert out[2] == Record(MARK, 2)
    assert out[3] == Model(token=MARK)
    assert out[4] == "[redacted Opaque]"


def test_an_object_whose_own_repr_shows_the_secret_in_a_field_is_copied(redactor: Redactor) -> None:
    """`Custom.__repr__` shows the field: once the field is redacted, so is the repr."""
    out = redactor.value(Custom(f"<{SECRET}>"))
    assert repr(out) == f"Custom(<{MARK}>)"


def test_slots_are_redacted_including_private_and_single_string_slots(redactor: Redactor) -> None:
    out = redactor.value([Slotted(SECRET), SingleSlot(SECRET)])
    assert type(out[0]) is Slotted and out[0].token == MARK and out[0].hidden() == MARK
    assert not hasattr(out[0], "unset")
    assert type(out[1]) is SingleSlot and out[1].token == MARK


def test_containers_keep_their_types(redactor: Redactor) -> None:
    factory_dict: collections.defaultdict[str, list[str]] = collections.defaultdict(list, {"k": [SECRET]})
    ordered = collections.OrderedDict([(SECRET, 1)])
    out = redactor.value(
        {
            "pair": Pair(SECRET, 1),
            "tuple": (SECRET,),
            "frozen": frozenset({SECRET}),
            "default": factory_dict,
            "ordered": ordered,
            "set": {SECRET, "x"},
        }
    )
    assert type(out["pair"]) is Pair and out["pair"] == Pair(MARK, 1)
    assert out["tuple"] == (MARK,) and type(out["tuple"]) is tuple
    assert out["frozen"] == frozenset({MARK})
    assert type(out["default"]) is collections.defaultdict and out["default"] == {"k": [MARK]}
    assert out["default"].default_factory is list
    assert type(out["ordered"]) is collections.OrderedDict and out["ordered"] == {MARK: 1}
    assert out["set"] == {MARK, "x"}
    assert factory_dict["k"] == [SECRET]


class Bag(list[Any]):
    """A list subclass whose copy fails: redacted into a plain list."""

    def __copy__(self) -> Bag:
        raise TypeError("no copies")


def test_a_container_subclass_that_cannot_be_copied_becomes_its_base(redactor: Redactor) -> None:
    out = redactor.value(Bag([SECRET]))
    assert type(out) is list and out == [MARK]


def test_a_tuple_in_a_cycle_becomes_a_stand_in(redactor: Redactor) -> None:
    holder: list[Any] = [SECRET]
    cyclic = (holder,)
    holder.append(cyclic)
    out = redactor.value(cyclic)
    assert out[0][0] == MARK
    assert out[0][1] == "[redacted tuple]"


def test_a_value_too_deep_to_copy_becomes_a_stand_in(redactor: Redactor) -> None:
    value: Any = SECRET
    for _ in range(5000):
        value = [value]
    assert redactor.value(value) == "[redacted list: nested too deeply]"


def test_a_copy_that_fails_becomes_a_stand_in_naming_the_failure(redactor: Redactor) -> None:
    class NoCopy:
        def __init__(self) -> None:
            self.token = SECRET

        def __reduce_ex__(self, protocol: Any) -> Any:
            raise TypeError("no")

    assert redactor.value(NoCopy()) == "[redacted NoCopy]"


def test_exception_groups_are_copied_with_members_redacted(redactor: Redactor) -> None:
    group = ExceptionGroup(f"many {SECRET}", [ValueError(SECRET), KeyError("clean")])
    group.extra = SECRET  # type: ignore[attr-defined]
    out = redactor.exception(group)
    assert type(out) is ExceptionGroup
    assert out.message == f"many {MARK}"
    assert [type(e) for e in out.exceptions] == [ValueError, KeyError]
    assert out.exceptions[0].args == (MARK,)
    assert out.exceptions[1] is group.exceptions[1]
    assert out.extra == MARK  # type: ignore[attr-defined]


class NamedGroup(ExceptionGroup[Exception]):
    def __new__(cls, message: str, excs: Any, *, tag: str) -> NamedGroup:
        return super().__new__(cls, message, excs)

    def __init__(self, message: str, excs: Any, *, tag: str) -> None:
        super().__init__(message, excs)
        self.tag = tag


def test_an_exception_group_that_cannot_be_rebuilt_becomes_a_plain_one(redactor: Redactor) -> None:
    group = NamedGroup(SECRET, [ValueError("x")], tag="t")
    out = redactor.exception(group)
    assert type(out) is ExceptionGroup
    assert out.message == MARK
    assert getattr(out, "tag", None) == "t"


def test_the_chain_of_a_group_is_kept(redactor: Redactor) -> None:
    cause = ValueError(SECRET)
    group = ExceptionGroup("g", [KeyError(SECRET)])
    group.__cause__ = cause
    out = redactor.exception(group)
    assert out.__cause__ is not None and out.__cause__.args == (MARK,)


# -- in place: errors and records -------------------------------------------------------------


def test_an_error_is_redacted_in_place_with_its_record_and_chain(redactor: Redactor) -> None:
    error = SandboxError(f"failed with {SECRET}", hint=f"use {SECRET}")
    error.__cause__ = KeyError(SECRET)
    record = RunRecord(
        result=SECRET,
        stdout=f"printed {SECRET}",
        calls=[HostCall("f", (SECRET,), {"k": SECRET}, result=SECRET, error=Shows())],
    )
    record.errors.append(error)
    error.record = record
    redactor.error(error)
    assert error.message == f"failed with {MARK}" and error.hint == f"use {MARK}"
    assert error.args == (f"failed with {MARK}",)
    assert error.record is record  # in place
    assert isinstance(error.__cause__, KeyError) and error.__cause__.args == (MARK,)
    assert (record.result, record.stdout) == (MARK, f"printed {MARK}")
    call = record.calls[0]
    assert (call.args, call.kwargs, call.result) == ((MARK,), {"k": MARK}, MARK)
    assert type(call.error) is RedactedError and str(call.error) == f"Shows: shows {MARK}"


def test_a_record_is_redacted_in_place_and_a_clean_one_left_alone(redactor: Redactor) -> None:
    record = RunRecord(result={"token": SECRET}, calls=[HostCall("f", ("clean",), {}, result=1)])
    clean_call = record.calls[0]
    redactor.record(record)
    assert record.result == {"token": MARK}
    assert record.calls[0] is clean_call and clean_call.args == ("clean",)
    untouched = RunRecord(result=SECRET)
    Redactor({}).record(untouched)
    Redactor({}).error(error := SandboxError(SECRET))
    assert untouched.result == SECRET and error.message == SECRET


# -- what the walk must not take shortcuts on -------------------------------------------------


@dataclasses.dataclass
class DataOpaque:
    """A dataclass with a `__repr__` of its own that shows the secret."""

    n: int

    def __repr__(self) -> str:
        return f"DataOpaque({SECRET})"


def test_a_dataclass_with_its_own_repr_is_checked_like_any_object(redactor: Redactor) -> None:
    assert redactor.value([DataOpaque(1)]) == ["[redacted DataOpaque]"]


def test_a_secret_inside_its_own_replacement_text_is_not_replaced_again() -> None:
    """The secret `secret` occurs in its own mark `[secret TOKEN]`: marks are left alone."""
    redactor = Redactor({"TOKEN": "secret"})
    mark = b"[secret TOKEN]"
    assert redactor.redact_bytes(mark) == mark
    assert not redactor.contains_bytes(mark)
    assert redactor.contains_bytes(mark + b" secret")
    assert redactor.text("[secret TOKEN]") == "[secret TOKEN]"
    assert not redactor.contains("[secret TOKEN]")


class EmptyText(Exception):
    """Its `str` is empty and its `repr` shows the secret: only a stand-in is safe."""

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"EmptyText({SECRET})"


class BrokenText(EmptyText):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_stand_in_for_an_exception_without_text_is_just_its_name(redactor: Redactor) -> None:
    cause, context = KeyError(SECRET), KeyError("clean")
    exc = EmptyText("x")
    exc.__cause__, exc.__context__ = cause, context
    out = redactor.exception(exc)
    assert type(out) is RedactedError and str(out) == "EmptyText"
    assert isinstance(out.__cause__, KeyError) and out.__cause__.args == (MARK,)
    assert out.__context__ is context
    broken = redactor.exception(BrokenText("y"))
    assert type(broken) is RedactedError and str(broken) == "BrokenText"


def test_a_copied_exception_keeps_its_own_state_and_traceback(redactor: Redactor) -> None:
    try:
        raise OSError(2, "no such file")
    except OSError as caught:
        exc = caught
    exc.extra = SECRET  # type: ignore[attr-defined]
    out = redactor.exception(exc)
    assert type(out) is FileNotFoundError
    assert (out.errno, out.strerror, str(out)) == (2, "no such file", "[Errno 2] no such file")
    assert out.extra == MARK  # type: ignore[attr-defined]
    assert out.__traceback__ is exc.__traceback__


def test_a_copy_whose_class_leaks_state_falls_back_to_a_bare_copy_keeping_the_chain(
    redactor: Redactor,
) -> None:
    exc = OSError(2, SECRET)  # strerror is state `copy` keeps and the args do not redact
    cause, context = ValueError(SECRET), KeyError("clean")
    exc.__cause__, exc.__context__ = cause, context
    out = redactor.exception(exc)
    assert type(out) is FileNotFoundError and out.args == (2, MARK)
    assert SECRET not in str(out) and SECRET not in repr(out)
    assert isinstance(out.__cause__, ValueError) and out.__cause__.args == (MARK,)
    assert out.__context__ is context


class Temporary(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.tmp = message


def test_attributes_the_original_no_longer_has_are_not_brought_back(redactor: Redactor) -> None:
    exc = Temporary(SECRET)
    del exc.tmp
    out = redactor.exception(exc)
    assert type(out) is Temporary and out.args == (MARK,)
    assert not hasattr(out, "tmp")


class SetsAFlag(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.flag = "set by __init__"


def test_attributes_without_secrets_the_original_no_longer_has_are_not_brought_back_either(
    redactor: Redactor,
) -> None:
    exc = SetsAFlag(SECRET)
    del exc.flag
    out = redactor.exception(exc)
    assert type(out) is SetsAFlag and out.args == (MARK,)
    assert vars(out) == {}


class Tup(tuple[Any, ...]):
    pass


class FrozenBag(frozenset[Any]):
    pass


class MyList(list[Any]):
    pass


class NoCopyDict(dict[str, Any]):
    def __copy__(self) -> NoCopyDict:
        raise TypeError("no copies")


class Text(str):
    pass


def test_subclasses_of_builtins_keep_their_type_or_fall_back_to_the_base(redactor: Redactor) -> None:
    out = redactor.value(
        [Tup([SECRET]), FrozenBag([SECRET]), MyList([SECRET]), NoCopyDict(k=SECRET), Text(f"a {SECRET}")]
    )
    assert type(out[0]) is Tup and out[0] == (MARK,)
    assert type(out[1]) is FrozenBag and out[1] == frozenset({MARK})
    assert type(out[2]) is MyList and out[2] == [MARK]
    assert type(out[3]) is dict and out[3] == {"k": MARK}
    assert type(out[4]) is str and out[4] == f"a {MARK}"


class SelfCopy:
    """`copy` gives back the object itself: it cannot be copied, so a stand-in."""

    __slots__ = ("token",)

    def __init__(self) -> None:
        self.token = SECRET

    def __copy__(self) -> SelfCopy:
        return self


class SharedDict:
    """`copy` shares the original's `__dict__`: redacting the copy would change the original."""

    def __init__(self) -> None:
        self.token = SECRET

    def __copy__(self) -> SharedDict:
        new = object.__new__(SharedDict)
        new.__dict__ = self.__dict__
        return new


class OtherType:
    def __init__(self) -> None:
        self.token = SECRET

    def __copy__(self) -> Any:
        return Plain(self.token)


def test_objects_that_cannot_be_copied_safely_become_stand_ins_and_stay_unchanged(
    redactor: Redactor,
) -> None:
    self_copy, shared, other = SelfCopy(), SharedDict(), OtherType()
    out = redactor.value([self_copy, shared, other])
    assert out == ["[redacted SelfCopy]", "[redacted SharedDict]", "[redacted OtherType]"]
    assert self_copy.token == SECRET and shared.token == SECRET and other.token == SECRET


class MyGroup(ExceptionGroup[Exception]):
    pass


class LeakyGroup(ExceptionGroup[Exception]):
    def __str__(self) -> str:
        return f"leaky {SECRET}"


def test_a_group_subclass_keeps_its_class_unless_its_own_text_leaks(redactor: Redactor) -> None:
    group = MyGroup(SECRET, [ValueError("x")])
    group.__context__ = KeyError("clean")
    out, again = redactor.value([group, group])
    assert type(out) is MyGroup and out.message == MARK
    assert out.__context__ is group.__context__
    assert again is out  # built once
    cause, context = ValueError(SECRET), KeyError("clean")
    leaky = LeakyGroup("m", [ValueError("x")])
    leaky.__cause__, leaky.__context__ = cause, context
    stand_in = redactor.exception(leaky)
    assert type(stand_in) is RedactedError and str(stand_in) == f"LeakyGroup: leaky {MARK}"
    assert isinstance(stand_in.__cause__, ValueError) and stand_in.__cause__.args == (MARK,)
    assert stand_in.__context__ is context


def test_a_group_in_a_cycle_is_met_again_as_a_stand_in(redactor: Redactor) -> None:
    member = ValueError(SECRET)
    group = ExceptionGroup("g", [member])
    member.__context__ = group
    out = redactor.exception(group)
    assert type(out) is ExceptionGroup
    inner = out.exceptions[0]
    assert inner.args == (MARK,)
    assert type(inner.__context__) is RedactedError


def test_a_group_whose_message_holds_the_secret_is_met_again_in_its_cycle_as_a_stand_in(
    redactor: Redactor,
) -> None:
    member = ValueError("plain")
    group = ExceptionGroup(SECRET, [member])
    member.__context__ = group
    out = redactor.exception(group)
    assert type(out) is ExceptionGroup and out.message == MARK
    again = out.exceptions[0].__context__
    assert type(again) is RedactedError
    assert str(again) == f"ExceptionGroup: {MARK} (1 sub-exception)"


def test_an_error_redacted_in_place_stays_the_same_object_in_its_own_chain(redactor: Redactor) -> None:
    error = SandboxError(f"failed with {SECRET}")
    cause = KeyError(SECRET)
    cause.__context__ = error
    error.__cause__ = cause
    redactor.error(error)
    assert error.message == f"failed with {MARK}"
    assert error.__cause__ is not None and error.__cause__.args == (MARK,)
    assert error.__cause__.__context__ is error


class Singleton(Exception):
    """Every instance is the same object: it cannot be copied, so a stand-in."""

    one: Singleton | None = None

    def __new__(cls, *args: Any) -> Singleton:
        if cls.one is None:
            cls.one = super().__new__(cls, *args)
        return cls.one


def test_an_exception_that_cannot_be_copied_is_replaced_and_left_unchanged(redactor: Redactor) -> None:
    exc = Singleton(SECRET)
    out = redactor.exception(exc)
    assert type(out) is RedactedError and out.original_type == "Singleton"
    assert exc.args == (SECRET,)


class SelfList(list[Any]):
    def __copy__(self) -> SelfList:
        return self


def test_a_container_whose_copy_is_itself_is_rebuilt_as_its_base_leaving_it_unchanged(
    redactor: Redactor,
) -> None:
    original = SelfList([SECRET])
    out = redactor.value(original)
    assert type(out) is list and out == [MARK]
    assert original == [SECRET]


class MySet(set[Any]):
    pass


class NoCopySet(set[Any]):
    def __copy__(self) -> NoCopySet:
        raise TypeError("no copies")


class PairOnly(tuple[Any, ...]):
    """A tuple subclass that cannot be built from a list of items."""

    def __new__(cls, a: Any, b: Any) -> PairOnly:
        return super().__new__(cls, (a, b))


class FrozenPairOnly(frozenset[Any]):
    def __new__(cls, a: Any, b: Any) -> FrozenPairOnly:
        return super().__new__(cls, (a, b))


def test_sets_keep_their_type_and_unbuildable_immutables_fall_back_to_the_base(redactor: Redactor) -> None:
    shared = {SECRET}
    out = redactor.value(
        [MySet([SECRET]), NoCopySet([SECRET]), shared, shared, PairOnly(SECRET, 1), FrozenPairOnly(SECRET, 1)]
    )
    assert type(out[0]) is MySet and out[0] == {MARK}
    assert type(out[1]) is set and out[1] == {MARK}
    assert out[2] == {MARK} and out[3] is out[2]  # built once
    assert type(out[4]) is tuple and out[4] == (MARK, 1)
    assert type(out[5]) is frozenset and out[5] == frozenset({MARK, 1})


def test_in_place_redaction_keeps_shared_references_to_calls_and_lists(redactor: Redactor) -> None:
    call = HostCall("f", (SECRET,), {})
    record = RunRecord(calls=[call], stdout=SECRET)
    error = SandboxError(SECRET)
    record.errors.append(error)
    error.record = record
    error.call = call  # type: ignore[attr-defined]
    error.calls = record.calls  # type: ignore[attr-defined]
    error.errors = record.errors  # type: ignore[attr-defined]
    redactor.error(error)
    assert error.call is call and call.args == (MARK,)  # type: ignore[attr-defined]
    assert error.calls is record.calls and error.errors is record.errors  # type: ignore[attr-defined]
    assert call.error is None  # a call that did not fail still has no error

    other = RunRecord(calls=[HostCall("g", (SECRET,), {})])
    other.result = other.calls[0]
    redactor.record(other)
    assert other.result is other.calls[0] and other.calls[0].args == (MARK,)


@pytest.mark.parametrize("secret", [SECRET, "pässwörd-Ω-42"], ids=["ascii", "non-ascii"])
def test_a_secret_in_bytes_a_unicode_error_keeps_outside_its_args_is_found_around_invalid_bytes(
    secret: str,
) -> None:
    redactor = Redactor({"TOKEN": secret})
    exc = UnicodeDecodeError("utf-8", b"x", 0, 1, "bad")
    exc.object = b"\xff" + secret.encode() + b"\xfe"
    out = redactor.exception(exc)
    assert out is not exc
    assert secret.encode() not in getattr(out, "object", b"")
    assert not redactor.contains(repr(vars(out))) and not redactor.contains(str(out))


class NoRepr:
    def __repr__(self) -> str:
        raise ValueError("no repr")


def test_a_native_field_that_cannot_be_shown_does_not_stop_the_check_of_the_next(
    redactor: Redactor,
) -> None:
    exc = SyntaxError("bad")
    exc.filename = NoRepr()  # type: ignore[assignment]  # checked before `text`
    exc.text = f"x = '{SECRET}'"
    out = redactor.exception(exc)
    assert SECRET not in str(getattr(out, "text", "") or "")


def test_a_list_or_dict_holding_itself_is_copied_with_its_cycle(redactor: Redactor) -> None:
    items: list[Any] = [SECRET]
    items.append(items)
    out = redactor.value(items)
    assert type(out) is list and out[0] == MARK and out[1] is out and items[0] == SECRET
    mapping: dict[str, Any] = {"k": SECRET}
    mapping["self"] = mapping
    copied = redactor.value(mapping)
    assert type(copied) is dict and copied["k"] == MARK and copied["self"] is copied
    kept: set[Any] = {SECRET, 1}
    holder: list[Any] = [kept, kept]
    shared = redactor.value(holder)
    assert shared[0] == {MARK, 1} and shared[0] is shared[1]


def _ends(work: Any, seconds: float = 10.0) -> bool:
    """Whether `work()` returns within `seconds` without raising, run in a forked child
    that is killed after that: a walk that never ends (and grows its stack without
    bound) fails the test at once and leaves nothing running behind it."""
    child = multiprocessing.get_context("fork").Process(target=work, daemon=True)
    child.start()
    child.join(seconds)
    if child.is_alive():
        child.kill()
        child.join()
        return False
    return child.exitcode == 0


def test_redacting_an_error_and_its_record_in_place_ends(redactor: Redactor) -> None:
    def cycle() -> tuple[SandboxError, RunRecord]:
        error = SandboxError(f"failed with {SECRET}")
        record = RunRecord(result=SECRET, calls=[HostCall("f", (SECRET,), {}, result=1)])
        record.errors.append(error)
        error.record = record  # error -> record -> its errors -> error
        return error, record

    def redact_error() -> None:
        error, record = cycle()
        redactor.error(error)
        assert error.message == f"failed with {MARK}" and record.result == MARK
        assert record.calls[0].args == (MARK,) and error.record is record and record.errors == [error]

    def redact_record() -> None:
        error, record = cycle()
        redactor.record(record)
        assert error.message == f"failed with {MARK}" and record.result == MARK

    assert _ends(redact_error)
    assert _ends(redact_record)
    # Not a pass by default: the same check fails for work that raises or never ends.
    assert not _ends(lambda: _raise(AssertionError("no")))
    assert not _ends(lambda: time.sleep(60), seconds=0.5)
    other = RunRecord(result=SECRET, calls=[HostCall("g", (), {"k": SECRET}, result=SECRET)])
    redactor.record(other)
    assert other.calls[0].kwargs == {"k": MARK} and other.result == MARK


def _raise(exc: BaseException) -> None:
    raise exc


class WeakSlots:
    __slots__ = ("__weakref__", "token")

    def __init__(self, token: str) -> None:
        self.token = token


class DunderSlot:
    __slots__ = ("__meta__",)

    def __init__(self, meta: str) -> None:
        self.__meta__ = meta


class _Vault:
    __slots__ = ("__key",)

    def __init__(self, key: str) -> None:
        self.__key = key

    def key(self) -> str:
        return self.__key


class _Xenon:  # a name that starts with X once its underscores are stripped
    __slots__ = ("__key",)

    def __init__(self, key: str) -> None:
        self.__key = key

    def key(self) -> str:
        return self.__key


class HalfSet:
    __slots__ = ("first", "second")

    def __init__(self, second: str) -> None:
        self.second = second


def test_every_kind_of_slot_is_found_and_redacted(redactor: Redactor) -> None:
    weak = redactor.value(WeakSlots(SECRET))
    assert type(weak) is WeakSlots and weak.token == MARK
    dunder = redactor.value(DunderSlot(SECRET))
    assert type(dunder) is DunderSlot and dunder.__meta__ == MARK
    vault = redactor.value(_Vault(SECRET))
    assert type(vault) is _Vault and vault.key() == MARK
    xenon = redactor.value(_Xenon(SECRET))
    assert type(xenon) is _Xenon and xenon.key() == MARK
    half = redactor.value(HalfSet(SECRET))  # `first` never set: the next slot is still read
    assert type(half) is HalfSet and half.second == MARK and not hasattr(half, "first")


class ReprShows(Exception):
    """Its own `__repr__` shows the secret; its `__str__` is Exception's."""

    def __repr__(self) -> str:
        return f"ReprShows({SECRET})"


def test_an_exception_whose_own_repr_alone_shows_the_secret_becomes_a_stand_in(redactor: Redactor) -> None:
    out = redactor.exception(ReprShows("plain"))
    assert type(out) is RedactedError and not redactor.contains(repr(out))


class HoldsASecret:
    token = SECRET  # a class attribute: a class shows as `<class '...'>`, never its namespace


def test_clean_container_subclasses_and_classes_are_shared_not_copied(redactor: Redactor) -> None:
    clean_map = collections.OrderedDict(a=1)
    clean_list = MyList([1, 2])
    clean_set = FrozenBag({1})
    value = [SECRET, clean_map, clean_list, clean_set, HoldsASecret]
    out = redactor.value(value)
    assert out[0] == MARK
    assert out[1] is clean_map and out[2] is clean_list and out[3] is clean_set
    assert out[4] is HoldsASecret


def test_a_part_holding_a_secret_is_redacted_under_each_of_its_parents(redactor: Redactor) -> None:
    shared: list[Any] = [SECRET]
    first, second = [shared], (shared,)
    out = redactor.value([first, second, {"k": shared}])
    assert out == [[[MARK]], ([MARK],), {"k": [MARK]}]
    assert out[0][0] is out[1][0] is out[2]["k"]  # copied once, shared as it was
    assert shared == [SECRET]


def test_clean_nested_parts_of_a_value_with_a_secret_are_shared(redactor: Redactor) -> None:
    clean: list[Any] = [[1, 2], {"x": (3,)}]
    value = [SECRET, clean]
    out = redactor.value(value)
    assert out[0] == MARK and out[1] is clean


def test_a_string_given_as_the_whole_value_is_redacted(redactor: Redactor) -> None:
    assert redactor.value(f"a {SECRET} b") == f"a {MARK} b"
    clean = "nothing here"
    assert redactor.value(clean) is clean


class BrittleKey:
    """Hashable until its token is redacted: its copy cannot go into a set."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __hash__(self) -> int:
        if self.token.startswith("[secret"):
            raise TypeError("unhashable once redacted")
        return hash(self.token)


def test_an_exception_that_cannot_be_copied_becomes_a_stand_in_saying_why(redactor: Redactor) -> None:
    nested: Any = SECRET
    for _ in range(5000):
        nested = [nested]
    deep = redactor.exception(ValueError(nested))
    assert type(deep) is RedactedError and deep.args == ("ValueError: [redacted: nested too deeply]",)
    assert deep.original_type == "ValueError"
    brittle = redactor.exception(FatalToolError({BrittleKey(SECRET)}))
    assert type(brittle) is RedactedFatalToolError
    assert str(brittle) == "FatalToolError: [redacted: cannot copy: TypeError]"


def test_a_part_met_twice_does_not_end_the_quick_look_early(redactor: Redactor) -> None:
    twice = [1]
    value = [[SECRET], twice, twice]
    assert redactor.value(value) == [[MARK], [1], [1]]


@pytest.mark.parametrize(
    "secret",
    ["back\\slash-9", "it's-a-key-9", 'say-"hi"-9', "both-'\"-9", "tab\there-9", "ünï-'\\-9", "ünï-'\"-9"],
    ids=[
        "backslash",
        "single-quote",
        "double-quote",
        "both-quotes",
        "tab",
        "non-ascii-mixed",
        "non-ascii-quotes",
    ],
)
def test_a_secret_with_quotes_or_backslashes_is_found_in_every_form_a_text_shows_it(secret: str) -> None:
    redactor = Redactor({"TOKEN": secret})
    data = secret.encode()
    shown = [
        repr(secret),
        ascii(secret),
        repr([secret]),
        repr({"k": secret}),
        repr(data),
        repr([data]),
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
        json.dumps(repr(secret)),
        repr(json.dumps(secret)),
    ]
    for text in shown:
        assert redactor.contains(text), text
        redacted = redactor.text(text)
        assert MARK in redacted and not redactor.contains(redacted), (text, redacted)
    # The whole form is replaced, not a part of it: nothing of it is left beside the mark.
    for text in (repr(secret), ascii(secret), json.dumps(secret), json.dumps(secret, ensure_ascii=False)):
        assert redactor.text(text)[1:-1] == MARK, text
    assert redactor.text(repr(data))[2:-1] == MARK


# -- the forms, exactly ---------------------------------------------------------------------


def test_pydantic_core_writes_every_str_as_json_dumps_without_ascii_escapes() -> None:
    """Why `to_json` adds no form of its own: over every code point but the surrogates it
    writes what `json.dumps(..., ensure_ascii=False)` writes, and a lone surrogate it
    refuses (a ValueError), where `json.dumps` writes a form the redactor already has."""
    every = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i < 0xE000)
    assert pydantic_core.to_json(every).decode() == json.dumps(every, ensure_ascii=False)
    with pytest.raises(ValueError):
        pydantic_core.to_json("a\ud800")


# A secret with a letter, both quotes, a backslash and a non-ASCII letter: each of the
# forms below differs from the others.
ODD = "X'\"\\\u00e9"


def test_the_repr_forms_of_a_secret_are_exactly_those_a_repr_writes() -> None:
    """Either quote style (only that quote escaped), `ascii` or not, and the bytes repr."""
    assert _repr_inners(ODD) == {
        "X\\'\"\\\\\u00e9",  # repr, between '
        "X'\\\"\\\\\u00e9",  # between "
        "X\\'\"\\\\\\xe9",  # ascii, between '
        "X'\\\"\\\\\\xe9",  # ascii, between "
        "X\\'\"\\\\\\xc3\\xa9",  # bytes repr, between '
        "X'\\\"\\\\\\xc3\\xa9",  # bytes repr, between "
    }
    assert repr(ODD)[1:-1] in _repr_inners(ODD)
    assert ascii(ODD)[1:-1] in _repr_inners(ODD)
    assert repr(ODD.encode())[2:-1] in _repr_inners(ODD)


def test_the_json_forms_of_a_secret_are_exactly_those_json_writes() -> None:
    assert _json_inners(ODD) == {"X'\\\"\\\\\u00e9", "X'\\\"\\\\\\u00e9"}
    for text in (json.dumps(ODD), json.dumps(ODD, ensure_ascii=False), pydantic_core.to_json(ODD).decode()):
        assert Redactor({"TOKEN": ODD}).text(text) == f'"{MARK}"', text


_SHOWN: dict[str, Callable[[str], str]] = {
    "as-is": lambda s: s,
    "json": lambda s: json.dumps(s),
    "json-unicode": lambda s: json.dumps(s, ensure_ascii=False),
    "json-unicode-list": lambda s: json.dumps([s], ensure_ascii=False, indent=1),
    "pydantic-json": lambda s: pydantic_core.to_json({"k": s}).decode(),
    "repr": lambda s: repr(s),
    "ascii": lambda s: ascii(s),
    "repr-in-list": lambda s: repr([s]),
    "bytes-repr": lambda s: repr(s.encode("utf-8", "surrogateescape")),
}


@pytest.mark.parametrize("shown", list(_SHOWN))
def test_nothing_of_a_non_ascii_secret_is_left_beside_its_mark(shown: str) -> None:
    """Redacted, the text is what the same encoder writes for the mark itself."""
    show = _SHOWN[shown]
    assert Redactor({"TOKEN": ODD}).text(f"<{show(ODD)}>") == f"<{show(MARK)}>"


# -- secrets that are not valid UTF-8 ---------------------------------------------------------


@pytest.mark.parametrize("shown", [k for k in _SHOWN if k not in ("pydantic-json",)])
def test_a_secret_read_with_surrogate_escapes_is_found_in_every_form(shown: str) -> None:
    """An env var holding invalid UTF-8 reads as a str with surrogate escapes
    (`os.fsdecode`); its bytes repr shows the original bytes."""
    secret = os.fsdecode(b"key-\xff\xfe-9")
    assert secret == "key-\udcff\udcfe-9"
    show = _SHOWN[shown]
    assert Redactor({"TOKEN": secret}).text(f"<{show(secret)}>") == f"<{show(MARK)}>"


def test_a_secret_read_with_surrogate_escapes_is_found_as_its_original_bytes() -> None:
    raw = b"key-\xff\xfe-9"
    secret = os.fsdecode(raw)
    redactor = Redactor({"TOKEN": secret})
    assert redactor.redact_bytes(b"<" + raw + b">") == b"<" + MARK.encode() + b">"
    assert redactor.contains_bytes(b"x" + raw)
    assert not redactor.contains_bytes(secret.encode("utf-8", "surrogatepass"))
    assert redactor.value({"k": raw, "s": secret}) == {"k": MARK.encode(), "s": MARK}


@pytest.mark.parametrize("shown", ["as-is", "json", "json-unicode", "repr", "ascii", "repr-in-list"])
def test_a_lone_surrogate_secret_is_found_in_every_form_a_text_shows_it(shown: str) -> None:
    secret = "key-\ud800-9"
    show = _SHOWN[shown]
    assert Redactor({"TOKEN": secret}).text(f"<{show(secret)}>") == f"<{show(MARK)}>"


def test_a_lone_surrogate_secret_is_found_as_its_surrogatepass_bytes() -> None:
    secret = "key-\ud800-9"
    raw = secret.encode("utf-8", "surrogatepass")
    assert raw == b"key-\xed\xa0\x80-9"
    redactor = Redactor({"TOKEN": secret})
    assert redactor.redact_bytes(b"<" + raw + b">") == b"<" + MARK.encode() + b">"
    assert redactor.contains_bytes(raw)


# -- which name is shown ------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["short-first", "long-first"])
def test_a_secret_shown_as_it_is_is_named_after_itself_not_after_one_it_escapes(order: str) -> None:
    """`a\\\\b` is the value of LONG and also the repr form of SHORT (`a\\b`); text holding
    LONG's value names LONG, whichever name sorts first and whatever the order given."""
    pairs = [("A_SHORT", "a\\b"), ("Z_LONG", "a\\\\b")]
    redactor = Redactor(dict(pairs if order == "short-first" else pairs[::-1]))
    assert redactor.text("v=a\\\\b") == "v=[secret Z_LONG]"
    assert redactor.text("v=a\\b") == "v=[secret A_SHORT]"


def test_redacting_twice_changes_nothing_when_one_name_starts_like_another_mark() -> None:
    """The mark `[secret A]` begins the mark `[secret A]x]`: the longer mark is kept whole,
    so its tail is not searched (and the `x` in it not taken for the secret B)."""
    redactor = Redactor({"A": "alpha-1", "A]x": "alpha-2", "B": "x"})
    once = redactor.text("alpha-2 alpha-1 x")
    assert once == "[secret A]x] [secret A] [secret B]"
    assert redactor.text(once) == once
    assert not redactor.contains(once)
    assert redactor.redact_bytes(once.encode()) == once.encode()
    assert not redactor.contains_bytes(once.encode())
